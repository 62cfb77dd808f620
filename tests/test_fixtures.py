"""The generated sample models are what their names promise, and the shared layer is optional."""

import json
import struct

import pytest

from tests.fixtures.models import FAILURES, LOOKS
from tests.fixtures.shared import ENV_VAR, shared_fixtures


def glb_json(path):
    """The JSON chunk of a GLB."""
    data = path.read_bytes()
    assert data[:4] == b"glTF", path
    (length,) = struct.unpack("<I", data[12:16])
    return json.loads(data[20 : 20 + length])


@pytest.mark.parametrize(
    ("stem", "extension"),
    [
        ("draco-box", "KHR_draco_mesh_compression"),
        ("meshopt-sphere", "EXT_meshopt_compression"),
        ("ktx2-box", "KHR_texture_basisu"),
    ],
)
def test_compressed_variants_need_their_decoder(sample_models, stem, extension):
    """A variant that silently came out plain would leave its decoder path untested."""
    (path,) = sample_models.named(stem)
    document = glb_json(path)
    assert extension in document["extensionsRequired"]
    if extension == "KHR_texture_basisu":
        assert [image["mimeType"] for image in document["images"]] == ["image/ktx2"]


def test_sidecar_models_keep_their_files_beside_them(sample_models):
    ship, crate = sample_models.named("ship", "crate")
    assert {p.relative_to(ship.parent).as_posix() for p in ship.parent.rglob("*") if p.is_file()} == {
        "ship.gltf",
        "ship.bin",
        "textures/hull.png",
    }
    assert "mtllib crate.mtl" in crate.read_text()
    assert "map_Kd" in (crate.parent / "crate.mtl").read_text()
    embedded = sample_models.named("embedded")[0].read_text()
    assert json.loads(embedded)["buffers"][0]["uri"].startswith("data:")


def test_every_sample_model_says_what_it_must_give(sample_models):
    assert {p.stem for p in sample_models.ok} <= set(LOOKS)
    assert {p.stem for p in sample_models.bad} <= set(FAILURES)
    suffixes = {p.suffix for p in sample_models.ok}
    assert {".glb", ".gltf", ".obj", ".stl", ".ply", ".fbx"} <= suffixes


def test_shared_fixtures_follow_the_environment(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert shared_fixtures() == tmp_path
    assert shared_fixtures("models") == tmp_path / "models"
    assert shared_fixtures("brushes") is None

    monkeypatch.setenv(ENV_VAR, "")
    assert shared_fixtures() is None

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        shared_fixtures()
