"""``render_thumbnails`` (the headless runner, real Chromium) on the new formats: pixels of
the stored thumbnails, and the fallback to an asset's next format. Lives outside
tests/browser because the command runs its own event loop (Playwright's sync API holds one
there)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from icosa.importing import import_planned, plan_imports
from tests.browser.pixels import assert_shows_a_model, assert_shows_colour, open_field
from tests.browser.test_formats import (
    SHARED_FAIL,
    SHARED_FORMATS,
    SHARED_RENDER,
    needs_shared,
)
from tests.conftest import import_fixture
from tests.fixtures import meshes

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
