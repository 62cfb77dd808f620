"""``render_thumbnails`` (the headless runner, real Chromium) on the new formats: pixels of
the stored thumbnails, and the fallback to an asset's next format. Lives outside
tests/browser because the command runs its own event loop (Playwright's sync API holds one
there)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from icosa.importing import import_planned, plan_imports
from tests.browser.pixels import assert_shows_a_model, assert_shows_colour, describe, open_field
from tests.browser.test_formats import (
    SHARED_FAIL,
    SHARED_FORMATS,
    SHARED_RENDER,
    needs_shared,
)
from tests.browser.test_splats import LOOKS as SPLAT_LOOKS
from tests.browser.test_splats import object_pixels as splat_pixels
from tests.conftest import import_fixture
from tests.fixtures import meshes
from tests.fixtures.shared import shared_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BACKGROUND = "#e8eaed"


def thumbnail(asset):
    assert asset.thumbnail, f"{asset.name} has no thumbnail"
    return open_field(asset.thumbnail)


def test_render_thumbnails_draws_the_new_formats_and_records_the_fallback(superuser, tmp_path, settings):
    settings.THUMBNAIL_RENDER_SIZE = (640, 400)
    kinds = ("VOX", "3DS", "AMF", "FBX")
    assets = {}
    for kind in kinds:
        path, colour = meshes.write(kind, tmp_path / "models")
        assets[kind] = (import_fixture(path), colour)
    broken = tmp_path / "pair"
    broken.mkdir()
    (broken / "pair.glb").write_text("<!doctype html><html></html>")
    meshes.write_ply_mesh(broken / "pair.ply")
    (pair,) = [import_planned(each) for each in plan_imports([broken])]
    out, err = StringIO(), StringIO()
    try:
        call_command("render_thumbnails", "--runner-id", "formats-runner", "--size", "640x400", stdout=out, stderr=err)
    except CommandError as error:
        pytest.fail(f"render_thumbnails failed ({error}): {out.getvalue()} {err.getvalue()}")
    for kind, (asset, colour) in assets.items():
        asset.refresh_from_db()
        assert_shows_colour(thumbnail(asset), BACKGROUND, colour, label=kind)
        assert ThumbnailVersion.objects.get(asset=asset).render_settings["format_type"] == kind
    pair.refresh_from_db()
    assert_shows_colour(thumbnail(pair), BACKGROUND, meshes.BLUE, label="fallback")
    assert ThumbnailVersion.objects.get(asset=pair).render_settings["format_type"] == "PLY"


@needs_shared
def test_render_thumbnails_draws_every_shared_sample_of_these_formats(superuser):
    assets = {relative: import_fixture(SHARED_FORMATS / relative) for relative in SHARED_RENDER}
    bad = {relative: import_fixture(SHARED_FORMATS / relative) for relative in SHARED_FAIL}
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):  # exit 1: the bad ones failed
        call_command("render_thumbnails", "--runner-id", "formats-runner", "--size", "640x400", stdout=out, stderr=err)
    for relative, asset in assets.items():
        asset.refresh_from_db()
        assert asset.thumbnail, f"{relative}: {out.getvalue()}"
        if relative != "ply/pond.0.ply":  # a sparse scan: little of the centre is covered
            assert_shows_a_model(thumbnail(asset), BACKGROUND, label=relative)
    for relative, asset in bad.items():
        asset.refresh_from_db()
        assert not asset.thumbnail, relative
        reason = ThumbnailFailure.objects.get(asset=asset).reason
        expected = SHARED_FAIL[relative]
        assert reason in (expected if isinstance(expected, tuple) else (expected,)), relative


SHARED_SPLATS_AND_SKETCHES = {
    # file or folder under ../shared/fixtures/formats: True when the file holds an object
    # (R), False for the 4-to-100-splat fixtures (R-min: a stored, non-blank thumbnail).
    "splat/fruit_drops_minimal.ply": True,
    "splat/guitar.compressed.ply": True,
    "splat/biker.spz": True,
    "splat/luma-seal.splat": True,
    "splat/wave_0001.sog": True,
    "splat/playbot-lod6-sog": True,
    "splat/pc_short.ply": False,
    "splat/minimal-v2.spz": False,
    "splat/minimal.ksplat": False,
    "gltf1/tilt-all-brushes/all_brushes.gltf": True,
    "gltf1/BoxTextured/BoxTextured.gltf": True,
    "tilt-gltf2/all_brushes.glb": True,
    "tilt-gltf2/snowman/snowman.gltf": True,
}


@needs_shared
def test_render_thumbnails_draws_the_shared_splats_and_brush_sketches(superuser, settings):
    """The command path (not only the page) for Spark splats and Tilt/Open Brush files, with
    the brush assets served by this app."""
    brushes = shared_fixtures("brushes")
    settings.BRUSH_ASSETS_DIR = str(brushes)
    settings.BRUSH_ASSETS_URL = ""
    assets = {relative: import_fixture(SHARED_FORMATS / relative) for relative in SHARED_SPLATS_AND_SKETCHES}
    out, err = StringIO(), StringIO()
    try:
        call_command("render_thumbnails", "--runner-id", "sketch-runner", "--size", "640x400", stdout=out, stderr=err)
    except CommandError as error:
        pytest.fail(f"render_thumbnails failed ({error}): {out.getvalue()} {err.getvalue()}")
    for relative, asset in assets.items():
        asset.refresh_from_db()
        assert asset.thumbnail, f"{relative}: {out.getvalue()} {err.getvalue()}"
        if not SHARED_SPLATS_AND_SKETCHES[relative]:
            continue
        if relative.startswith("splat/"):
            # The page test's measure: thin subjects (guitar, biker) fill the height only.
            stats = splat_pixels(thumbnail(asset))
            assert stats["coverage"] > 0.04 and stats["colours"] >= 6, (relative, stats)
            name = relative.split("/", 1)[1]
            if name in SPLAT_LOOKS:
                description, looks_right = SPLAT_LOOKS[name]
                assert looks_right(stats), f"{relative} should show {description}: {stats}"
        else:  # brush sketches are drawn on THUMBNAIL_SKETCH_BACKGROUND
            drawn_on = ThumbnailVersion.objects.get(asset=asset).render_settings["background"]
            info = describe(thumbnail(asset), drawn_on)
            # Strokes are thin (the snowman is a few light-brush lines): visible, not filled.
            assert info["spread"] > 8 and info["centre_coverage"] > 0.05, (relative, info)
    for relative in ("gltf1/tilt-all-brushes/all_brushes.gltf", "tilt-gltf2/all_brushes.glb"):
        assert ThumbnailVersion.objects.get(asset=assets[relative]).render_settings.get("brushes") == "assets", relative
