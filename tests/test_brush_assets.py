"""Brush assets: the page config key and the local folder this app serves."""

import pytest
from django.urls import reverse

from admin_tools.brush_assets import brush_assets_url
from tests.fixtures.gltf1 import MARKER, write_brush_folder


@pytest.fixture
def brushes(tmp_path, settings):
    root = write_brush_folder(tmp_path / "brushes")
    (tmp_path / "secret.txt").write_text("not a brush")
    (root / "notes.html").write_text("<script>alert(1)</script>")
    settings.BRUSH_ASSETS_URL = ""
    settings.BRUSH_ASSETS_DIR = str(root)
    return root


def test_the_page_gets_the_url_the_dir_or_none(settings):
    settings.BRUSH_ASSETS_URL, settings.BRUSH_ASSETS_DIR = "", ""
    assert brush_assets_url() is None
    settings.BRUSH_ASSETS_DIR = "/srv/brushes"
    assert brush_assets_url() == "/brush-assets/"
    settings.BRUSH_ASSETS_URL = "https://cdn.example.com/icosa-sketch-assets/brushes"
    assert brush_assets_url() == "https://cdn.example.com/icosa-sketch-assets/brushes/"


def test_a_shader_is_served_as_plain_text_with_nosniff(client, brushes):
    name, guid = MARKER
    url = reverse("brush_assets", kwargs={"path": f"{name}-{guid}/{name}-{guid}-v10.0-vertex.glsl"})
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"a_position" in b"".join(response.streaming_content)
    png = client.get(url.replace("vertex.glsl", "MainTex.png"))
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")


@pytest.mark.parametrize(
    "path",
    ["", "includes/", "../secret.txt", "..%2Fsecret.txt", "notes.html", "includes/../../secret.txt", "missing.glsl"],
)
def test_no_listing_no_traversal_no_other_types(client, brushes, path):
    assert client.get("/brush-assets/" + path).status_code == 404


def test_nothing_is_served_without_a_folder(client, settings):
    settings.BRUSH_ASSETS_DIR = ""
    assert client.get("/brush-assets/includes/FogShaderIncludes.glsl").status_code == 404
