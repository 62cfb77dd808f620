"""Turn model files on disk into gallery assets, with every sidecar file a loader will ask for.

Formats are recognised by content where the extension may lie (glTF 1 vs 2, splat vs mesh PLY,
a zip under a model's name), using the one format table (``icosa/formats.py``). Files of one
asset stay together: a model's sidecars (buffers, textures, materials) become resources of its
format, a folder holding ``meta.json`` and ``.webp`` files is one SOG splat, and files of one
folder that share a stem (``X.tilt`` + ``X.glb``) become sibling formats of one asset.

Nothing outside the folder given is read: symlinks, and sidecar names that resolve outside it,
are refused before anything is written.
"""

import json
import os
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from django.core.files import File
from django.db import transaction

from . import formats, media
from .models import Asset, Format, Resource, resource_upload_to

SUFFIXES = {suffix for spec in formats.FORMATS for suffix in spec.suffixes if suffix.startswith(".")}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tga", ".tif", ".tiff", ".ktx2", ".dds"}
HEAD_BYTES = 64 * 1024

_MTL_MAP = re.compile(r"^\s*(map_\w+|bump|disp|decal|refl|norm)\s+(.+?)\s*$", re.IGNORECASE)
# MTL map options and how many arguments each takes.
_MTL_OPTIONS = {"-o": 3, "-s": 3, "-t": 3, "-bm": 1, "-blendu": 1, "-blendv": 1, "-boost": 1, "-cc": 1,
                "-clamp": 1, "-imfchan": 1, "-mm": 2, "-texres": 1, "-type": 1}  # fmt: skip


class ImportProblem(Exception):
    pass


@dataclass
class PlannedFormat:
    root: Path
    format_type: str
    sidecars: list = field(default_factory=list)  # [(name relative to the root's folder, Path)]


@dataclass
class PlannedAsset:
    name: str
    formats: list  # PlannedFormat, most preferred first

    @property
    def root(self):
        return self.formats[0].root


# ---------------------------------------------------------------------------------------------
# Recognition


def _head(path, size=HEAD_BYTES):
    with path.open("rb") as handle:
        return handle.read(size)


def _zip_names(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return [name.lower() for name in archive.namelist()]
    except (zipfile.BadZipFile, OSError):
        return None


def _zip_type(path):
    """What a zip holds: a USDZ, 3MF, bundled SOG or zipped AMF; None when none of those."""
    names = _zip_names(path)
    if not names:
        return None
    if "meta.json" in names and any(name.endswith(".webp") for name in names):
        return "SOG"
    if names[0].endswith((".usd", ".usda", ".usdc")):
        return "USDZ"
    if "3d/3dmodel.model" in names or any(name.endswith(".model") for name in names):
        return "3MF"
    if any(name.endswith(".amf") for name in names):
        return "AMF"
    return None


def gltf_is_version_1(document):
    """glTF 1.0: ``asset.version`` starting with "1" (Tilt Brush writes "1.1"), or, without a
    version, object-valued ``buffers`` (2.0 has arrays)."""
    if not isinstance(document, dict):
        return False
    asset = document.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if version is not None:
        return str(version).startswith("1")
    return isinstance(document.get("buffers"), dict)


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError):
        return None


def ply_header(head):
    """The text of a PLY header up to ``end_header``, or None when ``head`` is not a PLY."""
    if not head.startswith(b"ply"):
        return None
    end = head.find(b"end_header")
    return head[: end if end >= 0 else len(head)].decode("ascii", "replace")


def detect(path):
    """The format type of a model file, from its content where that decides, else its suffix.

    Raises ImportProblem for a suffix no format has.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.name.lower() == "meta.json":
        document = _read_json(path)
        if isinstance(document, dict) and "means" in document:
            return "SOG"
        raise ImportProblem(f"{path}: a meta.json that is not a SOG splat")
    if suffix not in SUFFIXES:
        raise ImportProblem(f"{path}: not a model file ({', '.join(sorted(SUFFIXES))})")
    head = _head(path)
    if head[:4] == b"glTF":
        version = struct.unpack("<I", head[4:8])[0] if len(head) >= 8 else 2
        return "GLTF1" if version == 1 else "GLB"
    header = ply_header(head)
    if header is not None:
        return "SPLAT_PLY" if formats.is_splat_ply_header(header) else "PLY"
    if head[:4] == b"VOX ":
        return "VOX"
    if head[:4] == b"NGSP":
        return "SPZ"
    if head[:4] == b"PK\x03\x04":
        return _zip_type(path) or _by_suffix(suffix)
    if head.startswith(b"Kaydara FBX Binary") or (suffix == ".fbx" and b"FBXHeaderExtension" in head):
        return "FBX"
    if b"<COLLADA" in head:
        return "DAE"
    if re.search(rb"<amf[\s>]", head):
        return "AMF"
    if suffix == ".gltf" or head.lstrip()[:1] == b"{" and suffix in {".glb", ".vox"}:
        return "GLTF1" if gltf_is_version_1(_read_json(path)) else "GLTF2"
    return _by_suffix(suffix)


def _by_suffix(suffix):
    if suffix == ".ply":
        return "PLY"  # Not a PLY at all: the mesh loader says why.
    return next(spec.type for spec in formats.FORMATS if suffix in spec.suffixes)


# ---------------------------------------------------------------------------------------------
# Sidecars


def _relative_uris(uris):
    for uri in uris:
        if not isinstance(uri, str) or not uri or uri.startswith(("data:", "/")) or "://" in uri:
            continue
        yield unquote(uri)


def gltf_sidecars(path):
    """Relative buffers, images and (glTF 1.0) shaders a .gltf references."""
    document = _read_json(path)
    if not isinstance(document, dict):
        return []
    uris = []
    for key in ("buffers", "images", "shaders"):
        items = document.get(key) or []
        items = items.values() if isinstance(items, dict) else items
        uris.extend(item.get("uri", "") for item in items if isinstance(item, dict))
    return list(_relative_uris(uris))


def glb_sidecars(path):
    """A .glb may still reference external images; read its JSON chunk to find them."""
    with path.open("rb") as handle:
        header = handle.read(20)
        if len(header) < 20 or header[:4] != b"glTF":
            return []
        chunk_length, chunk_type = struct.unpack("<II", header[12:20])
        if chunk_type != 0x4E4F534A or chunk_length > 64 * 1024 * 1024:
            return []
        try:
            document = json.loads(handle.read(chunk_length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return []
    if not isinstance(document, dict):
        return []
    uris = [
        item.get("uri", "")
        for key in ("buffers", "images")
        for item in document.get(key) or []
        if isinstance(item, dict)
    ]
    return list(_relative_uris(uris))


def _mtl_map_name(arguments):
    """The file name of an MTL map statement, after its options (names may contain spaces)."""
    words = arguments.split()
    while words and words[0].lower() in _MTL_OPTIONS:
        words = words[1 + _MTL_OPTIONS[words[0].lower()] :]
    return " ".join(words)


def obj_sidecars(path):
    """The .mtl libraries an .obj names, and the texture maps those libraries name."""
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("mtllib "):
            continue
        rest = line[7:].strip()
        names = [rest] if (path.parent / rest).is_file() else rest.split()
        for name in names:
            found.append(name)
            mtl = path.parent / name
            if mtl.is_file() and not mtl.is_symlink():
                for mtl_line in mtl.read_text(encoding="utf-8", errors="replace").splitlines():
                    match = _MTL_MAP.match(mtl_line)
                    if match:
                        found.append(_mtl_map_name(match.group(2)))
    return found


def named_images(path):
    """Image files in the model's folder (and below) whose names the model file mentions, in
    any case (FBX, 3DS and COLLADA name textures by absolute paths, 8.3 upper case, URLs)."""
    content = path.read_bytes().lower()
    found = []
    for candidate in sorted(path.parent.rglob("*")):
        if candidate.suffix.lower() in IMAGE_SUFFIXES and candidate.name.lower().encode() in content:
            found.append(candidate.relative_to(path.parent).as_posix())
    return found


_PLY_TEXTURE = re.compile(r"^comment\s+TextureFile\s+(\S.*)$", re.MULTILINE)


def ply_sidecars(path):
    """The textures a PLY header names (``comment TextureFile <name>``, as VCG/MeshLab write)."""
    with path.open("rb") as file:
        head = file.read(65536).split(b"end_header", 1)[0].decode("latin-1")
    return [match.group(1).strip() for match in _PLY_TEXTURE.finditer(head)]


def sog_sidecars(path):
    """The .webp files next to an unbundled SOG's meta.json."""
    return sorted(p.name for p in path.parent.iterdir() if p.suffix.lower() == ".webp")


_SIDECARS = {
    "GLTF2": gltf_sidecars,
    "GLTF1": gltf_sidecars,
    "GLB": glb_sidecars,
    "OBJ": obj_sidecars,
    "PLY": ply_sidecars,
    "FBX": named_images,
    "3DS": named_images,
    "DAE": named_images,
}


def _check_inside(path, folder):
    """Refuse a symlink, or a path that resolves outside ``folder``."""
    if path.is_symlink():
        raise ImportProblem(f"{path}: symbolic links are not imported")
    resolved = path.resolve()
    if resolved != folder and folder not in resolved.parents:
        raise ImportProblem(f"{path}: outside the folder being imported ({folder})")
    return resolved


def plan_format(path, folder):
    """One format: its type and the sidecar files that exist inside ``folder``."""
    path = Path(path)
    _check_inside(path, folder)
    format_type = detect(path)
    if path.name.lower() == "meta.json":
        finder = sog_sidecars
    else:
        finder = _SIDECARS.get(format_type)
    sidecars = []
    for name in dict.fromkeys(finder(path) if finder else []):
        name = name.replace("\\", "/")
        candidate = path.parent / name
        if not candidate.exists() and not candidate.is_symlink():
            continue  # Missing: the renderer draws without it or says which buffer is missing.
        resolved = _check_inside(candidate, folder)
        if resolved.is_file() and resolved != path.resolve():
            sidecars.append((name, resolved))
    return PlannedFormat(path, format_type, sidecars)


# ---------------------------------------------------------------------------------------------
# Planning


def _roots_in(folder):
    """Model files and SOG folders (their meta.json) under ``folder``; symlinks refused."""
    found = []
    for directory, dirnames, filenames in os.walk(folder):
        directory = Path(directory)
        for name in dirnames:
            if (directory / name).is_symlink():
                raise ImportProblem(f"{directory / name}: symbolic links are not imported")
        dirnames.sort()
        names = sorted(filenames)
        for name in names:
            path = directory / name
            if path.is_symlink():
                raise ImportProblem(f"{path}: symbolic links are not imported")
        if "meta.json" in names and any(name.lower().endswith(".webp") for name in names):
            document = _read_json(directory / "meta.json")
            if isinstance(document, dict) and "means" in document:
                found.append(directory / "meta.json")
        found.extend(directory / name for name in names if Path(name).suffix.lower() in SUFFIXES)
    return found


def _asset_name(path):
    stem = path.parent.name if path.name.lower() == "meta.json" else path.stem
    return stem.replace("_", " ").replace("-", " ")


def _group(planned_formats):
    """Formats of one folder with the same stem become one asset, best format first."""
    groups = {}
    for each in planned_formats:
        key = (
            each.root.parent,
            each.root.parent.name if each.root.name.lower() == "meta.json" else each.root.stem.lower(),
        )
        groups.setdefault(key, []).append(each)
    assets = []
    for members in groups.values():
        members.sort(
            key=lambda each: (
                not formats.BY_TYPE[each.format_type].drawable,
                formats.rank(each.format_type),
                each.root.name,
            )
        )
        assets.append(PlannedAsset(_asset_name(members[0].root), members))
    return assets


def plan_imports(paths):
    """What importing ``paths`` (files or folders) would create, checked before anything is
    written. Raises ImportProblem for a missing path, a non-model file, a symlink or a file
    outside the folder given."""
    assets = []
    for raw in paths:
        path = Path(raw)
        if path.is_symlink():
            raise ImportProblem(f"{path}: symbolic links are not imported")
        if path.is_dir():
            folder = path.resolve()
            planned = [plan_format(each, folder) for each in _roots_in(path)]
            # Files a model already takes as sidecars are not assets of their own.
            taken = {file for each in planned for _, file in each.sidecars}
            assets.extend(_group([each for each in planned if each.root.resolve() not in taken]))
        elif path.is_file():
            assets.append(PlannedAsset(_asset_name(path), [plan_format(path, path.parent.resolve())]))
        else:
            raise ImportProblem(f"{path}: no such file or folder")
    return assets


# ---------------------------------------------------------------------------------------------
# Writing


def import_planned(planned, *, owner=None, name=None, state=Asset.State.COMPLETE):
    """Create one asset with every planned format, its root resource and its sidecars."""
    with transaction.atomic():
        asset = Asset.objects.create(name=name or planned.name, owner=owner, state=Asset.State.UPLOADING)
        for index, each in enumerate(planned.formats):
            fmt = Format.objects.create(
                asset=asset, format_type=each.format_type, is_preferred_for_gallery_viewer=index == 0
            )
            folder = f"{index}/" if len(planned.formats) > 1 else ""
            root = _add_resource(asset, fmt, folder + each.root.name, each.root)
            for relative, file_path in each.sidecars:
                _add_resource(asset, fmt, folder + relative, file_path)
            fmt.root_resource = root
            fmt.save(update_fields=["root_resource"])
        asset.state = state
        # Only the state: is_viewer_compatible was set in the database when the format was
        # saved (icosa.services), and this instance still holds the old value.
        asset.save(update_fields=["state", "update_time"])
    return asset


def import_model(path, *, owner=None, name=None, state=Asset.State.COMPLETE):
    """Create one asset for one model file (or a SOG folder's meta.json) and its sidecars."""
    (planned,) = plan_imports([path])
    return import_planned(planned, owner=owner, name=name, state=state)


def _add_resource(asset, fmt, relative, file_path):
    resource = Resource(asset=asset, format=fmt, contenttype=media.served_type(file_path.name)[0])
    storage = Resource._meta.get_field("file").storage
    with file_path.open("rb") as handle:
        resource.file.name = storage.save(resource_upload_to(resource, relative), File(handle))
    resource.save()
    return resource
