"""Uploaded files: which kinds a resource may be, where they are stored, how they are served.

Strangers upload these files and a superuser's browser opens them, so nothing here is ever
active content on the app's origin: the type comes from this allow-list (never sniffed or
guessed), every response carries ``nosniff`` and ``Content-Security-Policy: sandbox``, and a
file that is neither an image nor a model is an attachment. Files of PRIVATE, UNLISTED and
ARCHIVED assets live at unguessable paths and are served only with a signed link (what the
API and the asset page hand out) or to staff and the owner.
"""

import re
from pathlib import PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404
from django.utils._os import safe_join
from django.utils.crypto import salted_hmac

from . import formats

# suffix -> content type. Models (every suffix of the format table) and the sidecars they name
# (buffers, materials, technique shaders, SOG metadata), then textures. Everything served from
# this list is inline; anything else is application/octet-stream and an attachment.
# SVG, HTML, XML and script types are deliberately absent: they run script when opened.
_NAMED_MODEL_TYPES = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".obj": "model/obj",
    ".mtl": "model/mtl",
    ".stl": "model/stl",
    ".usdz": "model/vnd.usdz+zip",
    ".glsl": "text/plain",
    ".json": "application/json",
}
MODEL_TYPES = {
    **{suffix: "application/octet-stream" for suffix in formats.file_suffixes()},
    ".bin": "application/octet-stream",
    ".drc": "application/octet-stream",
    **_NAMED_MODEL_TYPES,
}
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".ktx2": "image/ktx2",
    ".tga": "application/octet-stream",
    ".dds": "application/octet-stream",
    ".basis": "application/octet-stream",
    ".hdr": "application/octet-stream",
    ".exr": "application/octet-stream",
    ".tif": "application/octet-stream",
    ".tiff": "application/octet-stream",
}
RESOURCE_TYPES = {**MODEL_TYPES, **IMAGE_TYPES}
ATTACHMENT_TYPE = "application/octet-stream"
# No script, no plugins, no forms, no same-origin access, even if a browser renders it.
MEDIA_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
PUBLIC = "PUBLIC"
#: Bytes per read and write of a served file: FileResponse's 4 KiB made a 0.7 MB model 170
#: round trips through Python (9.2 -> 4.0 ms of CPU per fetch, bench/README.md).
SERVE_BLOCK_SIZE = 256 * 1024
_OWNED_PATH = re.compile(r"(?:assets|thumbnails)/([0-9]{1,19})/")
_SIGNER_SALT = "icosa.media"


def suffix(name):
    return PurePosixPath(name.split("?", 1)[0]).suffix.lower()


def served_type(name):
    """(content type, inline?) for a stored name: the allow-list's type, else an attachment."""
    content_type = RESOURCE_TYPES.get(suffix(name))
    return (content_type, True) if content_type else (ATTACHMENT_TYPE, False)


def validate_resource_name(name):
    """A resource file must be a model, a buffer or a texture by its suffix."""
    if suffix(name) not in RESOURCE_TYPES:
        raise ValidationError(
            "%(name)s: a resource must be a model, buffer or texture file (%(allowed)s)",
            code="resource_type",
            params={"name": PurePosixPath(name).name, "allowed": ", ".join(sorted(RESOURCE_TYPES))},
        )


def validate_resource_file(file):
    validate_resource_name(file.name or "")


_INERT_TYPES = re.compile(
    r"(model/[\w.+-]+|image/(?!svg)[\w.+-]+|application/octet-stream|application/json|text/plain)?"
)


def validate_resource_contenttype(value):
    """A recorded content type names a model, an image (not SVG), bytes or plain text."""
    if not _INERT_TYPES.fullmatch((value or "").split(";", 1)[0].strip().lower()):
        raise ValidationError(
            "%(value)s: a resource's content type must be model/*, image/* (not SVG), "
            "application/octet-stream, application/json or text/plain",
            code="resource_contenttype",
            params={"value": value},
        )


def asset_folder(asset_id):
    """``<asset id>/<secret>``: the secret is an HMAC of the id under SECRET_KEY, so paths
    cannot be guessed, and every file of one asset shares a folder (a .gltf still finds its
    .bin and textures by relative name)."""
    secret = salted_hmac("icosa.media.folder", str(asset_id), algorithm="sha256").hexdigest()[:24]
    return f"{asset_id}/{secret}"


def owner_asset_id(name):
    """The asset a stored name belongs to (``assets/<id>/…`` or ``thumbnails/<id>/…``)."""
    match = _OWNED_PATH.match(name)
    return int(match.group(1)) if match else None


def sign_name(name):
    """The ``sig`` query value that opens ``name`` for MEDIA_SIGNED_URL_SECONDS."""
    return signing.TimestampSigner(salt=_SIGNER_SALT).sign(name)[len(name) + 1 :]


def signature_valid(name, sig):
    try:
        signing.TimestampSigner(salt=_SIGNER_SALT).unsign(f"{name}:{sig}", max_age=settings.MEDIA_SIGNED_URL_SECONDS)
    except signing.BadSignature:
        return False
    return True


def file_url(name, *, visibility=PUBLIC, storage=None):
    """A link to a stored file: plain for public assets, signed for the others (a signed S3
    URL, or this app's checked view with ``?sig=``)."""
    storage = storage or default_storage
    if visibility == PUBLIC:
        return storage.url(name)
    signed = getattr(storage, "signed_url", None)
    if signed is not None:
        return signed(name, expire=settings.MEDIA_SIGNED_URL_SECONDS)
    return f"{storage.url(name)}?sig={sign_name(name)}"


def _may_read(request, asset):
    user = getattr(request, "user", None)  # the embedded server has no auth middleware
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if asset.owner_id == user.pk:
        return True
    return user.is_staff and (user.has_perm("icosa.view_asset") or user.has_perm("icosa.change_asset_thumbnail"))


def serve_media(request, path):
    """Local storage in development and tests (SERVE_MEDIA); see the module docstring."""
    if not settings.SERVE_MEDIA:
        raise Http404("Media is not served here")
    return serve_file(request, path)


def serve_file(request, path):
    """One file of local storage, access-checked, with media_headers (also used by the
    headless runner's embedded server)."""
    from .models import Asset

    if not isinstance(default_storage, FileSystemStorage):
        raise Http404("Media is not served here")
    try:
        full = safe_join(settings.MEDIA_ROOT, path)
    except Exception:
        raise Http404("No such file") from None
    asset_id = owner_asset_id(path)
    if asset_id is not None:
        asset = Asset.objects.filter(pk=asset_id).only("visibility", "owner_id").first()
        if asset is None:
            raise Http404("No such file")
        if asset.visibility != PUBLIC and not (
            signature_valid(path, request.GET.get("sig", "")) or _may_read(request, asset)
        ):
            raise Http404("No such file")
    try:
        handle = open(full, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        raise Http404("No such file") from None
    content_type, inline = served_type(path)
    response = FileResponse(handle, content_type=content_type)
    response.block_size = SERVE_BLOCK_SIZE
    for header, value in media_headers(path).items():
        response[header] = value
    if asset_id is not None and asset.visibility != PUBLIC:
        response["Cache-Control"] = "private, no-store"
    return response


def media_headers(name):
    """The response headers every served upload carries."""
    content_type, inline = served_type(name)
    filename = PurePosixPath(name).name
    quoted = quote(filename, safe="")
    return {
        "Content-Type": content_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quoted}",
        "Referrer-Policy": "no-referrer",
    }


def upload_parameters(name):
    """Object parameters for S3/B2 uploads: the same type and disposition as served here
    (object stores cannot send CSP or nosniff; serve that bucket from its own domain)."""
    headers = media_headers(name)
    return {"ContentType": headers["Content-Type"], "ContentDisposition": headers["Content-Disposition"]}
