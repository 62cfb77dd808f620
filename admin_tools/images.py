"""Turn uploaded image bytes into checked, re-encoded thumbnail derivatives (Pillow only)."""
import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass

import magic
from django.conf import settings
from PIL import Image, ImageOps, ImageStat

ALLOWED_MIME_TYPES = {"image/jpeg", "image/png"}
MAX_SIDE = 8192
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,", re.I)
_WHITESPACE = re.compile(rb"\s+")
_STRICT_BASE64 = re.compile(rb"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


class ImageRejected(Exception):
    """An upload that must not become a thumbnail (blank, undecodable, too small...)."""


class ImageTooLarge(ImageRejected):
    """Too many bytes or pixels (a decompression bomb among them)."""


class ImageTypeUnsupported(ImageRejected):
    """Not a JPEG or a PNG."""


@dataclass(frozen=True)
class Derivative:
    content: bytes
    width: int
    height: int

    @property
    def size(self):
        return len(self.content)


@dataclass(frozen=True)
class Derivatives:
    thumbnail: Derivative
    preview: Derivative
    content_hash: str
    source_mime: str


def decode_base64_image(data):
    """Strict base64 (or a data: URL) to bytes, refusing oversize input before decoding."""
    if not isinstance(data, str) or not data.strip():
        raise ImageRejected("thumbnail_base64 is empty")
    text = data.strip()
    match = _DATA_URL.match(text)
    if match:
        text = text[match.end():]
    elif text[:5].lower() == "data:":
        raise ImageRejected("Malformed data URL: expected 'data:image/jpeg;base64,...'")
    max_bytes = settings.THUMBNAIL_MAX_UPLOAD_BYTES
    if len(text) * 3 // 4 > max_bytes + 3:
        raise ImageTooLarge(
            f"Image too large: over {max_bytes} bytes after decoding"
        )
    raw = _WHITESPACE.sub(b"", text.encode("ascii", errors="replace"))
    if not _STRICT_BASE64.match(raw):
        raise ImageRejected(
            "thumbnail_base64 is not valid base64: only A-Z, a-z, 0-9, +, / and correct '=' padding"
        )
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(f"thumbnail_base64 is not valid base64: {exc}") from None
    if not decoded:
        raise ImageRejected("thumbnail_base64 decodes to no bytes")
    if len(decoded) > max_bytes:
        raise ImageTooLarge(f"Image too large: {len(decoded)} bytes (limit {max_bytes})")
    return decoded


def sniff_mime(content):
    """What the bytes are (python-magic), whatever the client claims."""
    return magic.from_buffer(content[:65536], mime=True)


def open_checked(content):
    """Open with Pillow, refusing wrong types, bombs and oversize dimensions."""
    mime = sniff_mime(content)
    if mime not in ALLOWED_MIME_TYPES:
        raise ImageTypeUnsupported(
            f"Unsupported image type: {mime} (expected image/jpeg or image/png)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content), formats=["JPEG", "PNG"])
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE or width * height > settings.THUMBNAIL_MAX_PIXELS:
                raise ImageTooLarge(
                    f"Image dimensions {width}x{height} exceed the limit "
                    f"({MAX_SIDE}px per side, {settings.THUMBNAIL_MAX_PIXELS} pixels)"
                )
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("Image refused: decompression bomb") from None
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise ImageRejected(f"Image could not be decoded: {exc}") from None
    return mime, image


def is_uniform(image, *, tolerance=2.0):
    """True when the image is one flat colour (what a failed WebGL capture looks like)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    small = rgb.resize((64, 40), Image.Resampling.BILINEAR)
    return max(ImageStat.Stat(small).stddev) < tolerance


def _flatten(image):
    """Upright RGB pixels. Works on the decoded image itself: it is ours, and each full-size
    copy costs a few ms of allocation under load."""
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode_jpeg(image, *, progressive=True):
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        quality=settings.THUMBNAIL_JPEG_QUALITY,
        optimize=True,
        progressive=progressive,
    )
    return buffer.getvalue()


def make_derivatives(content):
    """Validate an upload and build the thumbnail and preview JPEGs (re-encoded from pixels)."""
    mime, image = open_checked(content)
    image = _flatten(image)
    if is_uniform(image):
        raise ImageRejected("Image is blank (a single uniform colour); not saved as a thumbnail")
    thumb_w, thumb_h = settings.THUMBNAIL_SIZE
    if image.width < thumb_w or image.height < thumb_h:
        raise ImageRejected(
            f"Image is {image.width}x{image.height}; at least {thumb_w}x{thumb_h} is required"
        )
    max_w, max_h = settings.PREVIEW_IMAGE_MAX_SIZE
    preview = image
    if image.width > max_w or image.height > max_h:
        preview = image.copy()
        preview.thumbnail((max_w, max_h), Image.Resampling.LANCZOS)
    thumbnail = ImageOps.fit(image, (thumb_w, thumb_h), Image.Resampling.LANCZOS)
    # Baseline for the 512x320 thumbnail: the same pixels, smaller than progressive at
    # this size and quicker to encode (bench/README.md, upload before/after).
    thumb_bytes = _encode_jpeg(thumbnail, progressive=False)
    preview_bytes = _encode_jpeg(preview)
    digest = hashlib.sha256(preview_bytes).hexdigest()
    return Derivatives(
        thumbnail=Derivative(thumb_bytes, *thumbnail.size),
        preview=Derivative(preview_bytes, *preview.size),
        content_hash=digest,
        source_mime=mime,
    )
