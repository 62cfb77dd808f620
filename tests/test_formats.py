"""The format table and import recognition, without a browser."""

import io
import json
import os
import struct
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from admin_tools.selectors import _formats_by_asset
from icosa import formats
from icosa.importing import ImportProblem, detect, plan_imports
from icosa.models import Asset, Format
from tests.fixtures import meshes


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The table


def test_the_table_is_the_contract_order_and_the_model_choices():
    assert [spec.type for spec in formats.FORMATS] == [
        "GLB", "GLTF2", "GLTF1", "OBJ", "SPZ", "SPLAT", "KSPLAT", "SOG", "SPLAT_PLY", "PLY", "STL", "USDZ",
        "VOX", "FBX", "DAE", "3DS", "3MF", "AMF", "TILT", "BLOCKS",
    ]  # fmt: skip
    assert [value for value, _ in Format.FormatType.choices] == [spec.type for spec in formats.FORMATS]
    assert Format.FormatType.TDS == "3DS" and Format.FormatType.THREE_MF == "3MF"
    assert formats.DRAWABLE_TYPES == {spec.type for spec in formats.FORMATS} - {"TILT", "BLOCKS"}
    assert formats.rank("glb") == 0 and formats.rank("UNKNOWN") == len(formats.FORMATS)


def test_page_config_carries_the_table_so_the_page_keeps_no_list(staff_user, client, settings):
    settings.THUMBNAIL_MAX_ASSET_BYTES = 12345
    settings.THUMBNAIL_TEXTURE_CAP = 512
    client.force_login(staff_user)
    for url in (reverse("admin:icosa_asset_batch_thumbnails"), reverse("batch_thumbs:headless")):
        response = client.get(url)
        assert response.status_code == 200
        config = response.context["config"]
        assert config["formats"] == formats.page_config()
        assert config["maxAssetBytes"] == 12345
        assert config["textureCap"] == 512
        assert [each["type"] for each in config["formats"]["types"]][:2] == ["GLB", "GLTF2"]
        assert {"type": "TILT", "label": "Tilt Brush", "drawable": False} in config["formats"]["types"]


@pytest.mark.parametrize(
    ("header", "splat"),
    [
        ("ply\nelement vertex 1\nproperty float x\nproperty float f_dc_0\n", True),
        ("ply\nelement vertex 1\nproperty float scale_0\nproperty float rot_0\n", True),
        ("ply\nelement chunk 1\nproperty float min_x\nelement vertex 1\nproperty uint packed_position\n", True),
        ("ply\nelement vertex 1\nproperty float x\nproperty uchar red\nelement face 1\n", False),
        ("ply\ncomment opacity is nice\nelement vertex 1\nproperty float x\n", False),
    ],
)
def test_splat_ply_headers(header, splat):
    assert formats.is_splat_ply_header(header) is splat


def test_viewer_compatibility_follows_the_table(db):
    asset = Asset.objects.create(name="a")
    Format.objects.create(asset=asset, format_type="TILT")
    assert Asset.objects.get(pk=asset.pk).is_viewer_compatible is False
    Format.objects.create(asset=asset, format_type="VOX")
    assert Asset.objects.get(pk=asset.pk).is_viewer_compatible is True


def test_listing_orders_formats_by_the_table(db, tmp_path):
    folder = tmp_path / "thing"
    folder.mkdir()
    (folder / "thing.tilt").write_bytes(b"tilt")
    meshes.write_stl(folder / "thing.stl")
    meshes.write_obj(folder)  # cube.obj: another stem, another asset
    (folder / "thing.glb").write_bytes(b"glTF" + struct.pack("<II", 2, 12))
    run("import_assets", str(folder))
    thing = Asset.objects.get(name="thing")
    entries = _formats_by_asset([thing.pk])[thing.pk]
    assert [each["format_type"] for each in entries] == ["GLB", "STL", "TILT"]
    assert [each["is_preferred"] for each in entries] == [True, False, False]


# ---------------------------------------------------------------------------------------------
# Recognition by content


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_content_decides_where_the_extension_lies(tmp_path):
    gltf1 = tmp_path / "tilt.gltf"
    gltf1.write_text(json.dumps({"asset": {"version": "1.1", "generator": "Tilt Brush 23.3"}, "buffers": {}}))
    unversioned = tmp_path / "old.gltf"
    unversioned.write_text(json.dumps({"buffers": {"b": {"uri": "old.bin"}}}))
    gltf2 = tmp_path / "new.gltf"
    gltf2.write_text(json.dumps({"asset": {"version": "2.0"}, "buffers": []}))
    assert (detect(gltf1), detect(unversioned), detect(gltf2)) == ("GLTF1", "GLTF1", "GLTF2")

    splat = meshes.write_splat_ply_header(tmp_path / "splat.ply")
    mesh = meshes.write_ply_mesh(tmp_path / "mesh.ply")
    points = meshes.write_ply_points(tmp_path / "points.ply", per_side=3)
    assert (detect(splat), detect(mesh), detect(points)) == ("SPLAT_PLY", "PLY", "PLY")

    assert detect(meshes.write_vox(tmp_path / "real.vox")) == "VOX"
    usdz_in_vox = _zip(tmp_path / "usdz.vox", {"scene.usda": "#usda 1.0\n"})
    sog_in_vox = _zip(tmp_path / "sog.vox", {"meta.json": "{}", "means_l.webp": b"RIFF"})
    assert (detect(usdz_in_vox), detect(sog_in_vox)) == ("USDZ", "SOG")
    assert detect(meshes.write_3mf(tmp_path / "x.3mf")) == "3MF"
    assert detect(meshes.write_usdz(tmp_path / "x.usdz")) == "USDZ"
    glb_named_stl = tmp_path / "model.stl"
    glb_named_stl.write_bytes(b"glTF" + struct.pack("<II", 2, 12))
    assert detect(glb_named_stl) == "GLB"
    assert detect(meshes.write_fbx(tmp_path / "x.fbx")) == "FBX"
    assert detect(meshes.write_dae(tmp_path / "x.dae")) == "DAE"
    assert detect(meshes.write_amf(tmp_path / "x.amf")) == "AMF"
    assert detect(meshes.write_3ds(tmp_path / "x.3ds")) == "3DS"
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ImportProblem, match="not a model file"):
        detect(tmp_path / "readme.txt")


def test_sidecars_stay_with_their_model(tmp_path):
    obj = meshes.write_obj(tmp_path / "obj")
    (tmp_path / "fbx").mkdir()
    (tmp_path / "fbx" / "Skin.JPG").write_bytes(b"\xff\xd8")
    (tmp_path / "fbx" / "unused.png").write_bytes(b"\x89PNG")
    fbx = tmp_path / "fbx" / "model.fbx"
    fbx.write_bytes(b"Kaydara FBX Binary  \x00" + b"D:\\work\\textures\\skin.jpg\x00")
    tds = tmp_path / "tds"
    tds.mkdir()
    (tds / "test.png").write_bytes(b"\x89PNG")
    (tds / "box.3ds").write_bytes(struct.pack("<HI", 0x4D4D, 16) + b"TEST.PNG\x00")
    sog = tmp_path / "sog"
    sog.mkdir()
    (sog / "meta.json").write_text(json.dumps({"version": 2, "means": {"files": ["means_l.webp"]}}))
    (sog / "means_l.webp").write_bytes(b"RIFF")
    (sog / "sh0.webp").write_bytes(b"RIFF")

    planned = {asset.name: asset.formats for asset in plan_imports([tmp_path])}
    assert set(planned) == {"cube", "model", "sog", "box"}
    (cube,) = planned["cube"]
    assert (cube.format_type, [name for name, _ in cube.sidecars]) == ("OBJ", ["cube.mtl", "cube skin.png"])
    assert [name for name, _ in planned["model"][0].sidecars] == ["Skin.JPG"]
    (sog_format,) = planned["sog"]
    assert (sog_format.format_type, sog_format.root.name) == ("SOG", "meta.json")
    assert [name for name, _ in sog_format.sidecars] == ["means_l.webp", "sh0.webp"]
    (tds_format,) = planned["box"]
    assert [name for name, _ in tds_format.sidecars] == ["test.png"]
    assert obj.exists()


def test_a_ply_takes_the_texture_its_header_names(tmp_path):
    """``comment TextureFile`` (VCG, MeshLab): the texture travels with the PLY; an absent one
    is left to the renderer (drawn untextured, noted), and is not an asset of its own."""
    (tmp_path / "scan").mkdir()
    meshes.write_ply_face_texcoords(tmp_path / "scan" / "scan.ply", colour=meshes.GREEN, texture="scan skin.png")
    meshes.write_ply_face_texcoords(tmp_path / "bare.ply", colour=None, texture="absent.png")
    planned = {asset.name: asset.formats for asset in plan_imports([tmp_path])}
    assert set(planned) == {"scan", "bare"}
    assert [name for name, _ in planned["scan"][0].sidecars] == ["scan skin.png"]
    assert planned["bare"][0].sidecars == []


def test_one_folder_one_stem_is_one_asset_with_sibling_formats(db, tmp_path):
    folder = tmp_path / "sketch"
    folder.mkdir()
    (folder / "all_brushes.tilt").write_bytes(b"tilt")
    (folder / "all_brushes.glb").write_bytes(b"glTF" + struct.pack("<II", 2, 12))
    (folder / "all_brushes.gltf").write_text(
        json.dumps({"asset": {"version": "1.1"}, "buffers": {"b": {"uri": "all_brushes.bin"}}})
    )
    (folder / "all_brushes.bin").write_bytes(bytes(8))
    (folder / "other.stl").write_bytes(bytes(84))
    out = run("import_assets", str(folder))
    assert "Imported 2 assets." in out
    sketch = Asset.objects.get(name="all brushes")
    assert [(f.format_type, f.is_preferred_for_gallery_viewer) for f in sketch.formats.order_by("id")] == [
        ("GLB", True),
        ("GLTF1", False),
        ("TILT", False),
    ]
    gltf1 = sketch.formats.get(format_type="GLTF1")
    assert sorted(r.filename for r in gltf1.resources.all()) == ["all_brushes.bin", "all_brushes.gltf"]
    assert sketch.is_viewer_compatible


# ---------------------------------------------------------------------------------------------
# Files and imports: nothing outside the folder given


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlinks_are_refused_and_nothing_is_imported(db, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    folder = tmp_path / "models"
    folder.mkdir()
    meshes.write_stl(folder / "fine.stl")
    (folder / "link.stl").symlink_to(secret)
    with pytest.raises(CommandError, match="symbolic links are not imported"):
        run("import_assets", str(folder))
    with pytest.raises(CommandError, match="symbolic links are not imported"):
        run("import_assets", str(folder / "link.stl"))
    assert not Asset.objects.exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_sidecars_that_escape_the_folder_are_refused(db, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret")
    folder = tmp_path / "models"
    folder.mkdir()
    escape = folder / "escape.gltf"
    escape.write_text(json.dumps({"asset": {"version": "2.0"}, "images": [{"uri": "../secret.png"}]}))
    with pytest.raises(CommandError, match="outside the folder being imported"):
        run("import_assets", str(folder))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "tex.png").symlink_to(tmp_path / "secret.png")
    (linked / "model.gltf").write_text(json.dumps({"asset": {"version": "2.0"}, "images": [{"uri": "tex.png"}]}))
    with pytest.raises(CommandError, match="symbolic links are not imported"):
        run("import_assets", str(linked / "model.gltf"))
    assert not Asset.objects.exists()


def test_missing_sidecars_are_left_to_the_renderer(db, tmp_path):
    path = tmp_path / "lonely.gltf"
    path.write_text(json.dumps({"asset": {"version": "2.0"}, "buffers": [{"uri": "gone.bin", "byteLength": 4}]}))
    run("import_assets", str(path))
    assert [r.filename for r in Asset.objects.get().resources.all()] == ["lonely.gltf"]
