"""glTF 1.0, Tilt Brush / Open Brush brushes and Blocks materials, rendered by the real
headless page and checked on the stored thumbnails' pixels.

The generated fixtures (tests/fixtures/gltf1.py) always run; the shared sample layer
(../shared/fixtures/formats and ../shared/fixtures/brushes) runs when it is present.
"""

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from tests.fixtures import gltf1 as fixtures
from tests.fixtures.shared import shared_fixtures

from .pixels import assert_shows_a_model, model_pixels, open_field

pytestmark = pytest.mark.browser
BACKGROUND = "#e8eaed"
MODULE = "/static/batch_thumbs/headless.js"
FORMATS = shared_fixtures("formats")
BRUSHES = shared_fixtures("brushes")
needs_shared = pytest.mark.skipif(
    FORMATS is None or BRUSHES is None or not (FORMATS / "gltf1").is_dir(), reason="../shared/fixtures not present"
)


class BrushPage:
    """A fresh headless page (it reads brushAssetsUrl from the page config at setup) that logs
    every request and refuses any to the dead Tilt Brush host."""

    def __init__(self, page, live_server, token):
        self.page = page
        self.requests = []
        self.dead_host = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.route("**/*tiltbrush.com/**", lambda route: (self.dead_host.append(route.request.url), route.abort()))
        page.goto(live_server.url + reverse("batch_thumbs:headless"))
        self.config = json.loads(page.locator("#batch-thumbs-config").text_content())
        self.token = token
        self.call(
            "setup", {"token": token, "runnerId": "gltf1-tests", "width": 640, "height": 400, "timeoutSeconds": 30}
        )

    def call(self, name, *args):
        return self.page.evaluate(
            "async ([module, name, args]) => (await import(module))[name](...args)", [MODULE, name, list(args)]
        )

    def claim(self):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        response = client.post(
            reverse("api:claim_thumbnail_jobs"),
            json.dumps({"runner_id": "gltf1-tests", "count": 100, "viewer_compatible_only": False}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return {asset["id"]: asset for asset in json.loads(response.content)["assets"]}

    def render(self, asset):
        """processOne, and the stored version with its thumbnail's pixels."""
        started = time.perf_counter()
        result = self.call("processOne", self.claim()[str(asset.pk)])
        result["wall_ms"] = round((time.perf_counter() - started) * 1000)
        return result


@pytest.fixture
def brush_page(page, live_server, staff_token, render_settings):
    def open_page(brushes=None):
        render_settings.BRUSH_ASSETS_URL = ""
        render_settings.BRUSH_ASSETS_DIR = str(brushes) if brushes else ""
        return BrushPage(page, live_server, staff_token)

    return open_page


def stored(asset):
    version = ThumbnailVersion.objects.get(asset=asset)
    asset.refresh_from_db()
    return version, open_field(asset.thumbnail)


def drawn_on(version):
    """The background the page drew on: brush sketches get THUMBNAIL_SKETCH_BACKGROUND."""
    return version.render_settings["background"]


def mean_colour(image, background=BACKGROUND):
    pixels = model_pixels(image, background)
    assert pixels, "no model pixels"
    return tuple(sum(channel) / len(pixels) for channel in zip(*pixels, strict=False))


def saturation(colour):
    return max(colour) - min(colour)


def coloured_share(image, background=BACKGROUND):
    """Share of the model's pixels that are clearly coloured."""
    pixels = model_pixels(image, background)
    return sum(1 for p in pixels if saturation(p) > 40) / max(1, len(pixels))


# -- generated fixtures ---------------------------------------------------------------------


def test_khr_materials_common_and_trs_nodes_render_the_material_colour(brush_page, import_models, tmp_path):
    (asset,) = import_models(fixtures.write_common_gltf1(tmp_path / "common.gltf"))
    assert asset.formats.get().format_type == "GLTF1"
    result = brush_page().render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    assert_shows_a_model(image, drawn_on(version), label="common")
    r, g, b = mean_colour(image, drawn_on(version))
    assert r > g + 40 and r > b + 40, (r, g, b)
    assert version.render_settings["format_type"] == "GLTF1"


def test_a_technique_with_local_glsl_runs_its_shaders(brush_page, import_models, tmp_path):
    (asset,) = import_models(fixtures.write_technique_gltf1(tmp_path / "technique"))
    result = brush_page().render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    _, image = stored(asset)
    r, g, b = mean_colour(image)
    assert g > r + 40 and g > b + 40, (r, g, b)


def test_a_gltf1_typed_gltf2_is_routed_to_the_gltf1_loader(brush_page, import_models, tmp_path):
    (asset,) = import_models(fixtures.write_common_gltf1(tmp_path / "mislabelled.gltf"))
    asset.formats.update(format_type="GLTF2")
    result = brush_page().render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))


@pytest.mark.parametrize("writer", [fixtures.write_tilt_gltf1, fixtures.write_tilt_gltf2], ids=["gltf1", "gltf2"])
def test_tilt_brush_strokes_use_the_brush_assets(brush_page, import_models, tmp_path, writer):
    brushes = fixtures.write_brush_folder(tmp_path / "brushes")
    target = tmp_path / "sketch" if writer is fixtures.write_tilt_gltf1 else tmp_path / "sketch.gltf"
    (asset,) = import_models(writer(target))
    page = brush_page(brushes)
    assert page.config["brushAssetsUrl"] == "/brush-assets/"
    result = page.render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    r, g, b = mean_colour(image, drawn_on(version))
    assert b > r + 60, f"the brush shader swaps red and blue: {(r, g, b)}"
    assert version.render_settings["brushes"] == "assets"
    assert not page.dead_host, page.dead_host
    assert any("/brush-assets/Marker-" in url and url.endswith("-vertex.glsl") for url in page.requests)


def test_particle_brushes_are_drawn_around_their_own_centres(brush_page, import_models, tmp_path):
    """Tilt Brush's GLB keeps a particle's centre in _TB_UNITY_NORMAL: without it the shader
    rebuilds every quad around the origin, metres wide (the white glow over all_brushes.glb)."""
    brushes = fixtures.write_brush_folder(tmp_path / "brushes")
    (asset,) = import_models(fixtures.write_tilt_particles_gltf2(tmp_path / "dots.gltf"))
    result = brush_page(brushes).render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    assert version.render_settings["brushes"] == "assets"
    pixels = model_pixels(image, drawn_on(version))
    green = [p for p in pixels if p[1] > 120 and p[1] > p[0] + 60 and p[1] > p[2] + 60]
    assert len(green) > 0.05 * 64 * 40, f"the 25 green dots are in the frame ({len(green)} px)"
    assert len(pixels) < 0.6 * 64 * 40, f"dots, not quads flooding the frame ({len(pixels)} px)"


@pytest.mark.parametrize("writer", [fixtures.write_tilt_gltf1, fixtures.write_tilt_gltf2], ids=["gltf1", "gltf2"])
def test_without_brush_assets_strokes_fall_back_to_vertex_colours(brush_page, import_models, tmp_path, writer):
    target = tmp_path / "sketch" if writer is fixtures.write_tilt_gltf1 else tmp_path / "sketch.gltf"
    (asset,) = import_models(writer(target))
    page = brush_page()
    assert page.config["brushAssetsUrl"] is None
    result = page.render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    r, g, b = mean_colour(image, drawn_on(version))
    assert r > b + 60 and r > g + 60, f"the red vertex colour is drawn: {(r, g, b)}"
    assert version.render_settings["brushes"] == "fallback"
    assert not page.dead_host, page.dead_host


def test_a_buffer_the_asset_does_not_have_fails_with_missing_resource(brush_page, import_models, tmp_path):
    path = fixtures.write_tilt_gltf1(tmp_path / "sketch")
    (tmp_path / "sketch" / "sketch.bin").unlink()
    (asset,) = import_models(path)
    result = brush_page().render(asset)
    assert (result["status"], result["reason"]) == ("failed", "missing_resource"), result.get("detail")
    assert "sketch.bin" in result["detail"]
    assert not ThumbnailVersion.objects.filter(asset=asset).exists()
    assert ThumbnailFailure.objects.get(asset=asset).reason == "missing_resource"


# -- shared sample files --------------------------------------------------------------------


def _timed(label, result):
    print(f"\n{label}: {result['ms']} ms ({result.get('timings')})")


@needs_shared
@pytest.mark.parametrize("with_assets", [True, False], ids=["brush-assets", "fallback"])
def test_tilt_all_brushes_gltf1_shows_coloured_strokes(brush_page, import_models, with_assets):
    (asset,) = import_models(FORMATS / "gltf1" / "tilt-all-brushes" / "all_brushes.gltf")
    page = brush_page(BRUSHES if with_assets else None)
    result = page.render(asset)
    _timed(f"all_brushes.gltf ({'assets' if with_assets else 'fallback'})", result)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    info = assert_shows_a_model(image, drawn_on(version), label="all_brushes")
    colour = mean_colour(image, drawn_on(version))
    assert saturation(colour) > 25, f"strokes are coloured, not grey: {colour} {info}"
    assert info["model_luma"] > 40, f"not black: {info}"
    assert version.render_settings["brushes"] == ("assets" if with_assets else "fallback")
    assert not page.dead_host, page.dead_host[:3]


@needs_shared
def test_box_textured_shows_the_cesium_texture(brush_page, import_models):
    (asset,) = import_models(FORMATS / "gltf1" / "BoxTextured" / "BoxTextured.gltf")
    result = brush_page().render(asset)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    _, image = stored(asset)
    assert_shows_a_model(image, BACKGROUND, label="BoxTextured")
    pixels = model_pixels(image, BACKGROUND)
    greenish = [p for p in pixels if p[1] > p[0] + 30 and p[1] > p[2]]
    assert len(greenish) > len(pixels) * 0.05, "the Cesium logo's green is on the cube"


@needs_shared
@pytest.mark.parametrize("name", ["all_brushes.glb", "snowman/snowman.gltf"])
@pytest.mark.parametrize("with_assets", [True, False], ids=["brush-assets", "fallback"])
def test_open_brush_gltf2_renders(brush_page, import_models, name, with_assets):
    (asset,) = import_models(FORMATS / "tilt-gltf2" / name)
    page = brush_page(BRUSHES if with_assets else None)
    result = page.render(asset)
    _timed(f"{name} ({'assets' if with_assets else 'fallback'})", result)
    assert result["status"] == "done", (result.get("reason"), result.get("detail"))
    version, image = stored(asset)
    if name.endswith(".glb"):
        assert_shows_a_model(image, drawn_on(version), label=name)
    assert model_pixels(image, drawn_on(version)), "something is drawn"
    assert version.render_settings["brushes"] == ("assets" if with_assets else "fallback")
    if name.endswith(".glb"):
        assert coloured_share(image, drawn_on(version)) > 0.05, "coloured strokes, not grey or white geometry"
    assert not page.dead_host, page.dead_host[:3]
    assert not [url for url in page.requests if "Brush_Light" in url], "the unshipped texture is never requested"


@needs_shared
@pytest.mark.parametrize("name", ["openbrush-missing-bin.gltf", "blocks-campsite-missing-bin.gltf"])
def test_missing_bin_fails_with_missing_resource_and_stores_nothing(brush_page, import_models, name):
    (asset,) = import_models(FORMATS / "bad" / name)
    result = brush_page(BRUSHES).render(asset)
    assert (result["status"], result["reason"]) == ("failed", "missing_resource"), result.get("detail")
    assert not ThumbnailVersion.objects.filter(asset=asset).exists()
    assert ThumbnailFailure.objects.get(asset=asset).reason == "missing_resource"
