"""Turn model files on disk into gallery assets, with every sidecar file a loader will ask for."""
import json
import mimetypes
import re
import struct
from pathlib import Path
from urllib.parse import unquote

from django.core.files import File
from django.db import transaction

from .models import Asset, Format, Resource

FORMAT_BY_SUFFIX = {
    ".glb": "GLB",
    ".gltf": "GLTF2",
    ".obj": "OBJ",
    ".fbx": "FBX",
    ".stl": "STL",
    ".ply": "PLY",
    ".tilt": "TILT",
    ".usdz": "USDZ",
    ".vox": "VOX",
}
_MTL_MAP = re.compile(r"^\s*(map_\w+|bump|disp|decal|refl|norm)\s+(.+)$", re.I)


class ImportProblem(Exception):
    pass


def model_files(paths):
    """Model files named directly, or found (recursively) inside folders, sorted."""
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMAT_BY_SUFFIX)
            )
        elif path.is_file():
            if path.suffix.lower() not in FORMAT_BY_SUFFIX:
                raise ImportProblem(f"{path}: not a model file ({', '.join(sorted(FORMAT_BY_SUFFIX))})")
            found.append(path)
        else:
            raise ImportProblem(f"{path}: no such file or folder")
    return found


def _relative_uris(uris):
    for uri in uris:
        if not uri or uri.startswith("data:") or "://" in uri or uri.startswith("/"):
            continue
        yield unquote(uri)


def gltf_sidecars(path):
    """Relative buffers and images a .gltf references (data URIs are embedded, not files)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "GLTF2", []
    version = str(document.get("asset", {}).get("version", "2.0")) if isinstance(document, dict) else "2.0"
    format_type = "GLTF1" if version.startswith("1") else "GLTF2"
    uris = []
    if isinstance(document, dict):
        for key in ("buffers", "images", "shaders"):
            items = document.get(key) or []
            items = items.values() if isinstance(items, dict) else items
            uris.extend(item.get("uri", "") for item in items if isinstance(item, dict))
    return format_type, list(_relative_uris(uris))


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
    uris = [item.get("uri", "") for key in ("buffers", "images") for item in document.get(key) or [] if isinstance(item, dict)]
    return list(_relative_uris(uris))


def obj_sidecars(path):
    """The .mtl libraries an .obj names, and the texture maps those libraries name."""
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("mtllib "):
            for name in line[7:].split():
                found.append(name)
                mtl = path.parent / name
                if mtl.is_file():
                    for mtl_line in mtl.read_text(encoding="utf-8", errors="replace").splitlines():
                        match = _MTL_MAP.match(mtl_line)
                        if match:
                            found.append(match.group(2).split()[-1])
    return found


def sidecars_for(path, format_type):
    if format_type == "GLTF2":
        format_type, names = gltf_sidecars(path)
    elif format_type == "GLB":
        names = glb_sidecars(path)
    elif format_type == "OBJ":
        names = obj_sidecars(path)
    else:
        names = []
    files = []
    root = path.parent.resolve()
    for name in dict.fromkeys(names):
        candidate = (path.parent / name).resolve()
        if root not in candidate.parents or not candidate.is_file():
            continue
        files.append((name.replace("\\", "/"), candidate))
    return format_type, files


def import_model(path, *, owner=None, name=None, state=Asset.State.COMPLETE):
    """Create one asset for ``path``: its format, its root resource and every sidecar."""
    path = Path(path)
    format_type = FORMAT_BY_SUFFIX[path.suffix.lower()]
    format_type, sidecars = sidecars_for(path, format_type)
    with transaction.atomic():
        asset = Asset.objects.create(
            name=name or path.stem.replace("_", " ").replace("-", " "),
            owner=owner,
            state=Asset.State.UPLOADING,
        )
        fmt = Format.objects.create(asset=asset, format_type=format_type, is_preferred_for_gallery_viewer=True)
        root = _add_resource(asset, fmt, path.name, path)
        for relative, file_path in sidecars:
            _add_resource(asset, fmt, relative, file_path)
        fmt.root_resource = root
        fmt.save(update_fields=["root_resource"])
        asset.state = state
        # Only the state: is_viewer_compatible was set in the database when the format was
        # saved (icosa.services), and this instance still holds the old value.
        asset.save(update_fields=["state", "update_time"])
    return asset


def _add_resource(asset, fmt, relative, file_path):
    resource = Resource(asset=asset, format=fmt, contenttype=mimetypes.guess_type(file_path.name)[0] or "application/octet-stream")
    storage = Resource._meta.get_field("file").storage
    with file_path.open("rb") as handle:
        resource.file.name = storage.save(f"assets/{asset.pk}/{relative}", File(handle))
    resource.save()
    return resource
