"""Every mesh format through the real page, checked on the stored thumbnail's pixels; format
fallback; and the fetch policy (a model never chooses what the renderer requests).

Generated fixtures (tests/fixtures/meshes.py) always run; the shared sample files
(../shared/fixtures/formats) add a layer when present.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.urls import reverse

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from icosa.models import Asset
from tests.fixtures import meshes
from tests.fixtures.shared import shared_fixtures

from .pixels import assert_shows_a_model, assert_shows_colour, open_field
from .test_headless import Headless

pytestmark = pytest.mark.browser
BACKGROUND = "#e8eaed"

SHARED_FORMATS = shared_fixtures("formats")
needs_shared = pytest.mark.skipif(SHARED_FORMATS is None, reason="../shared/fixtures/formats is absent")


@pytest.fixture(scope="module")
def headless_page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("batch_thumbs:headless"))
    yield page
    context.close()


@pytest.fixture
def headless(headless_page, staff_token):
    yield Headless(headless_page, staff_token)
    headless_page.unroute_all(behavior="ignoreErrors")


@pytest.fixture
def claim(staff_token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {staff_token}")

    def _claim():
        response = client.post(
            reverse("api:claim_thumbnail_jobs"),
            json.dumps({"runner_id": "browser-tests", "count": 100, "viewer_compatible_only": False}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return {asset["id"]: asset for asset in json.loads(response.content)["assets"]}

    return _claim


def render(headless, claim, asset):
    result = headless.call("processOne", claim()[str(asset.pk)])
    asset.refresh_from_db()
    return result


def thumbnail(asset):
    assert asset.thumbnail, f"{asset.name} has no thumbnail"
    return open_field(asset.thumbnail)


# ---------------------------------------------------------------------------------------------
# Generated fixtures, headless path


@pytest.mark.parametrize("kind", list(meshes.WRITERS))
def test_each_generated_format_renders_in_its_own_colour(kind, headless, import_models, claim, tmp_path):
    path, colour = meshes.write(kind, tmp_path / "models")
    (asset,) = import_models(path)
    result = render(headless, claim, asset)
    assert result["status"] == "done", result
    print(f"\n{kind}: {result['ms']} ms (load {result['timings'].get('load')} ms)")
    coverage = 0.05 if kind == "PLY points" else 0.15
    assert_shows_colour(thumbnail(asset), BACKGROUND, colour, label=kind, min_coverage=coverage)
    version = ThumbnailVersion.objects.get(asset=asset)
    assert version.render_settings["format_type"] == asset.formats.get().format_type


def test_a_ply_with_per_face_texcoords_is_drawn_as_a_solid_mesh(headless, import_models, claim, tmp_path):
    """PLYLoader de-indexes a mesh whose faces carry texcoords: it is still a mesh, not dots."""
    (asset,) = import_models(meshes.write_ply_face_texcoords(tmp_path / "solid scan.ply"))
    assert render(headless, claim, asset)["status"] == "done"
    info = assert_shows_colour(thumbnail(asset), BACKGROUND, meshes.MAGENTA, label="face texcoords", min_share=0.8)
    assert info["centre_coverage"] > 0.9, f"a sphere fills the centre, points would not ({info})"


def test_a_ply_texture_file_is_drawn_and_a_missing_one_noted(headless, import_models, claim, tmp_path):
    """``comment TextureFile`` names the PLY's texture: drawn when the asset has it, else noted."""
    folder = tmp_path / "textured"
    folder.mkdir()
    meshes.write_ply_face_texcoords(folder / "textured scan.ply", colour=meshes.GREEN, texture="scan skin.png")
    missing = meshes.write_ply_face_texcoords(tmp_path / "bare.ply", colour=None, texture="bare skin.png")
    textured, bare = import_models(folder, missing)
    jobs = claim()
    for asset in (textured, bare):
        assert headless.call("processOne", jobs[str(asset.pk)])["status"] == "done"
        asset.refresh_from_db()
    assert_shows_colour(thumbnail(textured), BACKGROUND, meshes.GREEN, label="textured PLY", min_share=0.8)
    assert "missing_textures" not in ThumbnailVersion.objects.get(asset=textured).render_settings
    assert_shows_a_model(thumbnail(bare), BACKGROUND, label="untextured PLY")
    assert ThumbnailVersion.objects.get(asset=bare).render_settings["missing_textures"] == ["bare skin.png"]


def test_a_splat_ply_is_never_drawn_as_a_mesh(headless, import_models, claim, tmp_path):
    """Without a splat loader registered the asset fails as a splat PLY, not as dots."""
    (asset,) = import_models(meshes.write_splat_ply_header(tmp_path / "cloud.ply"))
    assert asset.formats.get().format_type == "SPLAT_PLY"
    asset.formats.update(format_type="PLY")  # A gallery that recorded it as a mesh PLY.
    result = render(headless, claim, asset)
    if result["status"] == "done":  # The splat loader is registered: it drew it as a splat.
        assert ThumbnailVersion.objects.get(asset=asset).render_settings["format_type"] == "PLY"
    else:
        assert (result["reason"], result["detail"]) == ("unsupported_format", "Unsupported format: splat PLY")


def test_a_format_that_fails_to_load_falls_back_to_the_next_one(headless, import_models, claim, tmp_path):
    folder = tmp_path / "pair"
    folder.mkdir()
    (folder / "thing.glb").write_text("<!doctype html><html><body>Not found</body></html>")
    meshes.write_stl(folder / "thing.stl")
    (folder / "thing.tilt").write_bytes(b"tilt" + bytes(32))
    (asset,) = import_models(folder)
    assert [f.format_type for f in asset.formats.order_by("id")] == ["GLB", "STL", "TILT"]
    result = render(headless, claim, asset)
    assert result["status"] == "done", result
    assert result["formatType"] == "STL"
    assert ThumbnailVersion.objects.get(asset=asset).render_settings["format_type"] == "STL"
    assert_shows_colour(thumbnail(asset), BACKGROUND, meshes.GREEN, label="fallback")


def test_only_source_formats_fail_as_unsupported(headless, import_models, claim, tmp_path):
    folder = tmp_path / "sketch"
    folder.mkdir()
    (folder / "sketch.tilt").write_bytes(b"tilt" + bytes(32))
    (folder / "sketch.blocks").write_bytes(bytes(32))
    (asset,) = import_models(folder)
    result = render(headless, claim, asset)
    assert (result["reason"], result["detail"]) == ("unsupported_format", "Unsupported format: TILT, BLOCKS")
    assert not asset.thumbnail


def test_the_per_asset_byte_cap_stops_the_download(headless, import_models, claim, tmp_path, settings, staff_token):
    (asset,) = import_models(meshes.write_ply_points(tmp_path / "big.ply"))
    base = {"token": staff_token, "runnerId": "browser-tests", "width": 640, "height": 400}
    headless.call("setup", {**base, "maxAssetBytes": 4096})
    try:
        result = render(headless, claim, asset)
    finally:
        headless.call("setup", {**base, "maxAssetBytes": settings.THUMBNAIL_MAX_ASSET_BYTES})
    assert (result["status"], result["reason"]) == ("failed", "invalid_file"), result
    assert "larger than the limit of 4096 bytes" in result["detail"]
    assert not asset.thumbnail


# ---------------------------------------------------------------------------------------------
# Fetch policy: a listener on another port must never hear from the page


@pytest.fixture
def listener():
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(bytes(4096))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _gltf_triangle(buffer_uri, image_uri=None):
    """A glTF 2.0 triangle whose buffer (and optionally texture) lives at the given URIs."""
    import base64
    import struct

    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    document = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.1, 0.3, 0.9, 1]}}],
        "buffers": [
            {
                "byteLength": len(positions),
                "uri": buffer_uri or "data:application/octet-stream;base64," + base64.b64encode(positions).decode(),
            }
        ],
        "bufferViews": [{"buffer": 0, "byteLength": len(positions)}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]}
        ],
    }
    if image_uri:
        document["images"] = [{"uri": image_uri}]
        document["textures"] = [{"source": 0}]
        document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    return json.dumps(document)


def test_a_buffer_uri_outside_the_asset_is_never_requested(headless, import_models, claim, tmp_path, listener):
    origin, seen = listener
    path = tmp_path / "sneaky.gltf"
    path.write_text(_gltf_triangle(f"{origin}/latest/meta-data/secret.bin"))
    (asset,) = import_models(path)
    result = render(headless, claim, asset)
    assert (result["status"], result["reason"]) == ("failed", "missing_resource"), result
    assert f"{origin}/latest/meta-data/secret.bin" in result["detail"]
    assert seen == [], "the page must not send a request the model chose"
    assert not asset.thumbnail
    assert ThumbnailFailure.objects.get(asset=asset).reason == "missing_resource"


def test_an_image_uri_outside_the_asset_is_drawn_without_and_noted(headless, import_models, claim, tmp_path, listener):
    origin, seen = listener
    path = tmp_path / "texture.gltf"
    path.write_text(_gltf_triangle(None, f"{origin}/admin/logo.png"))
    (asset,) = import_models(path)
    result = render(headless, claim, asset)
    assert result["status"] == "done", result
    assert seen == []
    settings = ThumbnailVersion.objects.get(asset=asset).render_settings
    assert settings["missing_textures"] == ["logo.png"]
    assert_shows_colour(thumbnail(asset), BACKGROUND, (25, 80, 230), label="untextured", min_coverage=0.05)


def test_relative_escapes_and_sibling_assets_are_refused(headless, import_models, claim, tmp_path, listener):
    """``../`` out of the asset's folder reaches other assets' files on the same server."""
    other_path, _ = meshes.write("STL", tmp_path / "other")
    (other,) = import_models(other_path)
    path = tmp_path / "escape.gltf"
    path.write_text(_gltf_triangle(f"../{other.pk}/stl.stl"))
    (asset,) = import_models(path)
    requested = []
    headless.page.on("request", lambda request: requested.append(request.url))
    result = render(headless, claim, asset)
    assert result["reason"] == "missing_resource", result
    assert not any(url.endswith("stl.stl") for url in requested)


# ---------------------------------------------------------------------------------------------
# The admin page path, a representative set


def test_admin_page_renders_the_new_formats(generator, import_models, tmp_path):
    planned = {kind: meshes.write(kind, tmp_path / "models") for kind in ("VOX", "3MF", "DAE", "USDZ")}
    assets = {kind: import_models(path)[0] for kind, (path, _) in planned.items()}
    generator.open()
    generator.configure(batch_size=10)
    generator.start()
    assert generator.wait_until_over() == "finished"
    for kind, asset in assets.items():
        asset.refresh_from_db()
        assert_shows_colour(thumbnail(asset), BACKGROUND, planned[kind][1], label=kind)
        assert ThumbnailVersion.objects.get(asset=asset).render_settings["format_type"] == kind


# ---------------------------------------------------------------------------------------------
# Shared sample files: every R file of these formats renders in its colours; bad/ fails cleanly

# path (relative to the formats folder) -> what the thumbnail must show
SHARED_RENDER = {
    "obj/fuze/fuze.obj": "colour",
    "ply/dolphins_colored.ply": "model",
    "ply/fuze.ply": "model",  # White vertex colours; its texture is not shipped.
    "ply/pond.0.ply": "model",
    "stl/sphereWithHole.stl": "model",
    "stl/colored.stl": "colour",
    "vox/teapot.vox": "colour",
    "usdz/CesiumMan.usdz": "colour",
    "fbx/spider/spider.fbx": "model",
    "fbx/cubes_with_names.fbx": "model",
    "dae/blue_cube.dae": "colour",
    "3ds/cube_with_diffuse_texture/cube_with_diffuse_texture.3DS": "colour",
    "3ds/fels.3ds": "model",
    "3mf/cube_gears.3mf": "model",  # No materials in the file, despite its description.
    "amf/test_with_mat.amf": "colour",
}
SHARED_FAIL = {
    "bad/openbrush-missing-bin.gltf": "missing_resource",
    "bad/blocks-campsite-missing-bin.gltf": "missing_resource",
    "bad/ply-empty-header.ply": "empty_scene",
    "bad/stl-zero-triangles.stl": "empty_scene",
    "bad/3mf-index-out-of-bounds.3mf": "invalid_file",
}


def _saturated_share(image):
    """Share of the model's pixels that are clearly coloured (not grey, not black)."""
    import colorsys

    from .pixels import model_pixels

    pixels = model_pixels(image, BACKGROUND)
    coloured = [p for p in pixels if colorsys.rgb_to_hsv(*(c / 255 for c in p))[1] > 0.25]
    return len(coloured) / max(1, len(pixels))


@needs_shared
@pytest.mark.parametrize("relative", list(SHARED_RENDER))
def test_shared_sample_renders(relative, headless, import_models, claim):
    (asset,) = import_models(SHARED_FORMATS / relative)
    result = render(headless, claim, asset)
    assert result["status"] == "done", result
    print(f"\n{relative}: {result['ms']} ms (load {result['timings'].get('load')} ms)")
    image = thumbnail(asset)
    info = assert_shows_a_model(image, BACKGROUND, label=relative) if relative != "ply/pond.0.ply" else None
    if SHARED_RENDER[relative] == "colour":
        assert _saturated_share(image) > 0.3, f"{relative} shows no colour: {info}"
    else:
        assert info is None or info["model_luma"] > 20, f"{relative} is black: {info}"


@needs_shared
@pytest.mark.parametrize("relative", list(SHARED_FAIL))
def test_shared_bad_sample_fails_with_its_reason(relative, headless, import_models, claim):
    (asset,) = import_models(SHARED_FORMATS / relative)
    result = render(headless, claim, asset)
    expected = SHARED_FAIL[relative]
    assert result["status"] == "failed", result
    assert result["reason"] in (expected if isinstance(expected, tuple) else (expected,)), result
    if expected == "missing_resource":
        assert ".bin" in result["detail"], result
    assert not asset.thumbnail
    assert not ThumbnailVersion.objects.filter(asset=asset).exists()
    assert Asset.objects.get(pk=asset.pk).thumbnail == ""
