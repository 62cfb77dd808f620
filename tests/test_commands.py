"""import_assets, create_jwt and setup_demo, run through call_command."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from icosa.jwt_auth import decode_token
from icosa.media import asset_folder
from icosa.models import Asset

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_folder_creates_complete_assets_with_files(sample_models):
    """Folders are searched recursively: every sample model, multi-file ones included."""
    out = run("import_assets", *map(str, sample_models.ok_folders))
    assert f"Imported {len(sample_models.ok)} assets." in out
    assets = Asset.objects.order_by("id")
    assert assets.count() == len(sample_models.ok)
    for asset in assets:
        assert asset.state == Asset.State.COMPLETE and asset.is_viewer_compatible
        fmt = asset.formats.get()
        assert fmt.root_resource and default_storage.exists(fmt.root_resource.file.name)


def test_import_with_owner(staff_user, ok_models):
    run("import_assets", str(ok_models[0]), "--owner", "thumbs")
    assert Asset.objects.get().owner == staff_user


def test_import_unknown_owner_and_missing_path_fail_cleanly(ok_models):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("import_assets", str(ok_models[0]), "--owner", "ghost")
    with pytest.raises(CommandError, match="no such file or folder"):
        run("import_assets", "/nonexistent/model.glb")
    assert not Asset.objects.exists()


def test_multi_file_gltf_brings_its_sidecars(tmp_path):

    folder = tmp_path / "ship"
    (folder / "textures").mkdir(parents=True)
    (folder / "ship.bin").write_bytes(b"\0" * 36)
    (folder / "textures" / "hull.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "unrelated.txt").write_text("not referenced")
    (folder / "ship.gltf").write_text(
        json.dumps(
            {
                "asset": {"version": "2.0"},
                "buffers": [{"uri": "ship.bin", "byteLength": 36}],
                "images": [
                    {"uri": "textures/hull.png"},
                    {"uri": "data:image/png;base64,AAAA"},
                    {"uri": "../../etc/passwd"},
                ],
            }
        )
    )
    run("import_assets", str(folder))
    asset = Asset.objects.get()
    names = sorted(r.file.name for r in asset.resources.all())
    folder = f"assets/{asset_folder(asset.pk)}"  # the unguessable folder of new files
    assert names == [f"{folder}/ship.bin", f"{folder}/ship.gltf", f"{folder}/textures/hull.png"]
    assert asset.formats.get().root_resource.file.name.endswith("ship.gltf")


def test_obj_brings_mtl_and_textures(tmp_path):
    (tmp_path / "crate.obj").write_text("mtllib crate.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "crate.mtl").write_text("newmtl wood\nmap_Kd wood.jpg\n")
    (tmp_path / "wood.jpg").write_bytes(b"\xff\xd8\xff")
    run("import_assets", str(tmp_path / "crate.obj"))
    asset = Asset.objects.get()
    assert asset.formats.get().format_type == "OBJ"
    assert sorted(Path(r.file.name).name for r in asset.resources.all()) == ["crate.mtl", "crate.obj", "wood.jpg"]


def test_gltf1_is_recognised_and_drawable_but_a_tilt_source_is_not(tmp_path):
    (tmp_path / "old.gltf").write_text(json.dumps({"asset": {"version": "1.0"}}))
    (tmp_path / "sketch.tilt").write_bytes(b"tilt" + bytes(16))
    run("import_assets", str(tmp_path / "old.gltf"), str(tmp_path / "sketch.tilt"))
    old, sketch = Asset.objects.order_by("id")
    assert old.formats.get().format_type == "GLTF1"
    assert old.is_viewer_compatible is True
    assert sketch.formats.get().format_type == "TILT"
    assert sketch.is_viewer_compatible is False


def test_bad_models_still_import_as_assets(bad_models):
    """Broken files are the renderer's problem: they import and later fail with a reason."""
    run("import_assets", *[str(p) for p in bad_models])
    assert Asset.objects.count() == len(bad_models)


def test_create_jwt_prints_a_valid_token(staff_user):
    token = run("create_jwt", "thumbs", "--minutes", "7").strip()
    claims = decode_token(token)
    assert claims["sub"] == str(staff_user.pk) and claims["exp"] - claims["iat"] == 420


def test_create_jwt_unknown_user():
    with pytest.raises(CommandError, match="No active user"):
        run("create_jwt", "ghost")


def test_setup_demo_is_idempotent(tmp_path):
    first = run("setup_demo", "--models-dir", str(tmp_path / "demo"))
    count = Asset.objects.count()
    assert count >= 8
    assert "password:" in first
    second = run("setup_demo", "--models-dir", str(tmp_path / "demo"))
    assert Asset.objects.count() == count
    assert "Imported 0 demo model(s)" in second
    assert {f.format_type for a in Asset.objects.all() for f in a.formats.all()} >= {"GLB", "OBJ", "STL", "PLY"}
