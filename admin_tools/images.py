"""Turn uploaded image bytes into checked, re-encoded thumbnail derivatives (Pillow only).

Two steps: ``make_derivatives`` checks an upload and builds what the upload's answer needs
(the card thumbnail and the preview, JPEG); ``extra_derivatives`` builds the other sizes and
formats galleries use (card widths as JPEG and WebP, the preview as WebP, transparent ones
for a PNG with alpha) from the same decoded pixels, after the upload has been answered.
"""

import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field

import magic
from django.conf import settings
from PIL import Image, ImageOps, ImageStat

ALLOWED_MIME_TYPES = {"image/jpeg", "image/png"}
MAX_SIDE = 8192
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,", re.I)
_BASE64_WHITESPACE = b" \t\n\r\v\f"
# Card crops are a box reduce by an integer factor, then a filter (Pillow's reducing_gap):
# 2.5x cheaper than a fair LANCZOS for 1280x800 -> 512x320 at 49 dB PSNR against it.
_REDUCING_GAP = 1.25
# After a box reduce the filter matters little (the reduce sets the sharpness): the upload's
# card uses BICUBIC there, 25 % cheaper than LANCZOS at 53 dB PSNR against it. A resize
# without a reduce first (1280 -> 1024) keeps LANCZOS: HAMMING lost 7 dB on sharp edges.
# Measured by bench/upload_quality.py (bench/README.md, Upload).
_REDUCED_RESAMPLE = Image.Resampling.BICUBIC
_BLANK_CHECK_SIZE = (64, 40)
#: libwebp effort (0..6) of every WebP made here and for turntables: 2 takes a third of the
#: default's (4) encode time for 1280x800, for 3 % more bytes (bench/README.md).
WEBP_METHOD = 2


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
    # Decoded pixels kept for extra_derivatives: upright RGB, its preview-sized copy, the card
    # crop the thumbnail was encoded from, and the RGBA original when the upload had real
    # transparency (else None).
    pixels: Image.Image | None = field(default=None, repr=False, compare=False)
    preview_pixels: Image.Image | None = field(default=None, repr=False, compare=False)
    thumbnail_pixels: Image.Image | None = field(default=None, repr=False, compare=False)
    alpha_pixels: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ExtraDerivative:
    """One more size/format of a version: ``kind`` is "thumbnail" (card crop) or "preview"."""

    kind: str
    format: str
    content: bytes
    width: int
    height: int
    has_alpha: bool = False

    @property
    def size(self):
        return len(self.content)

    @property
    def suffix(self):
        return {"JPEG": "jpg", "WEBP": "webp", "PNG": "png"}[self.format]


def refuse_oversize(size):
    """ImageTooLarge when an upload of ``size`` bytes is over THUMBNAIL_MAX_UPLOAD_BYTES."""
    max_bytes = settings.THUMBNAIL_MAX_UPLOAD_BYTES
    if size > max_bytes:
        raise ImageTooLarge(f"Image too large: {size} bytes (limit {max_bytes})")


def check_raw_upload(content):
    """The raw-body upload's bytes: not empty, not over the limit (the rest is
    ``make_derivatives``'s, as for a base64 upload)."""
    if not content:
        raise ImageRejected("The request body is empty: send the JPEG or PNG bytes")
    refuse_oversize(len(content))
    return content


def decode_base64_image(data):
    """Strict base64 (or a data: URL) to bytes, refusing oversize input before decoding."""
    if not isinstance(data, str) or not data.strip():
        raise ImageRejected("thumbnail_base64 is empty")
    text = data.strip()
    match = _DATA_URL.match(text)
    if match:
        text = text[match.end() :]
    elif text[:5].lower() == "data:":
        raise ImageRejected("Malformed data URL: expected 'data:image/jpeg;base64,...'")
    max_bytes = settings.THUMBNAIL_MAX_UPLOAD_BYTES
    if len(text) * 3 // 4 > max_bytes + 3:
        raise ImageTooLarge(f"Image too large: over {max_bytes} bytes after decoding")
    raw = text.encode("ascii", errors="replace").translate(None, _BASE64_WHITESPACE)
    try:
        # strict_mode refuses other characters and data after padding; whole quanta only.
        if len(raw) % 4 or raw.endswith(b"==="):
            raise binascii.Error("incomplete quantum")
        decoded = binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ImageRejected(
            "thumbnail_base64 is not valid base64: only A-Z, a-z, 0-9, +, / and correct '=' padding"
        ) from None
    if not decoded:
        raise ImageRejected("thumbnail_base64 decodes to no bytes")
    refuse_oversize(len(decoded))
    return decoded


def sniff_mime(content):
    """What the bytes are (python-magic), whatever the client claims."""
    return magic.from_buffer(content[:65536], mime=True)


def open_checked(content):
    """Open with Pillow, refusing wrong types, bombs and oversize dimensions."""
    mime = sniff_mime(content)
    if mime not in ALLOWED_MIME_TYPES:
        raise ImageTypeUnsupported(f"Unsupported image type: {mime} (expected image/jpeg or image/png)")
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
    factor = max(1, min(rgb.width // _BLANK_CHECK_SIZE[0], rgb.height // _BLANK_CHECK_SIZE[1]))
    return max(ImageStat.Stat(rgb.reduce(factor)).stddev) < tolerance


def _fill_scale(image, size):
    return min(image.width / size[0], image.height / size[1])


def _box_reduced(image, size):
    """``image`` box-reduced by the integer factor a resize to ``size`` with _REDUCING_GAP
    starts with. Done once in make_derivatives, it feeds both the card resize and the blank
    check (one pass over the full-size pixels instead of two)."""
    factor = int(_fill_scale(image, size) / _REDUCING_GAP)
    return image.reduce(factor) if factor > 1 else image


def _fill(image, size, resample=Image.Resampling.LANCZOS):
    """Crop to the aspect of ``size`` around the centre and scale to it (like ImageOps.fit)."""
    width, height = size
    scale = _fill_scale(image, size)
    crop_w, crop_h = width * scale, height * scale
    left, top = (image.width - crop_w) / 2, (image.height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return image.resize(size, resample, box=box, reducing_gap=_REDUCING_GAP)


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


def _alpha_source(image):
    """The upright RGBA original when the upload has pixels that are not fully opaque."""
    if image.mode not in ("RGBA", "LA") and not (image.mode == "P" and "transparency" in image.info):
        return None
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    low, _high = rgba.getchannel("A").getextrema()
    return rgba if low < 255 else None


def _encode_jpeg(image, *, optimize=True):
    """Baseline JPEG: progressive saved ~1 % of bytes at these sizes and doubled the encode
    time. ``optimize`` (Huffman tables fitted to the image, lossless) costs a second pass:
    worth it for the card sizes; the upload's preview skips it (bench/README.md, Upload)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=settings.THUMBNAIL_JPEG_QUALITY, optimize=optimize)
    return buffer.getvalue()


def _encode(image, image_format):
    buffer = io.BytesIO()
    if image_format == "WEBP":
        image.save(buffer, format="WEBP", quality=settings.THUMBNAIL_WEBP_QUALITY, method=WEBP_METHOD)
    elif image_format == "PNG":
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    else:
        return _encode_jpeg(image)
    return buffer.getvalue()


def card_sizes(source_size):
    """The card crop sizes (THUMBNAIL_SIZE's aspect) at THUMBNAIL_DERIVATIVE_WIDTHS that a
    source of ``source_size`` can fill without upscaling, narrowest first."""
    thumb_w, thumb_h = settings.THUMBNAIL_SIZE
    crop_w = min(source_size[0], source_size[1] * thumb_w / thumb_h)
    widths = sorted(set(settings.THUMBNAIL_DERIVATIVE_WIDTHS) | {thumb_w})
    return [(w, max(1, round(w * thumb_h / thumb_w))) for w in widths if 0 < w <= crop_w]


def extra_derivatives(derivatives: Derivatives) -> list:
    """Every derivative beyond the two the upload stored: each card width as JPEG and WebP
    (the THUMBNAIL_SIZE JPEG is the stored thumbnail), the preview as WebP and, for a
    transparent upload when THUMBNAIL_KEEP_ALPHA, WebP with alpha and a preview PNG.

    Each opaque card crop is resized once for both of its formats, and the THUMBNAIL_SIZE
    one is the stored thumbnail's own pixels: the resizes were half of this job's time."""
    pixels = derivatives.pixels
    alpha = derivatives.alpha_pixels if settings.THUMBNAIL_KEEP_ALPHA else None
    thumb_size = (derivatives.thumbnail.width, derivatives.thumbnail.height)
    extras = []
    for size in card_sizes(pixels.size):
        crop = derivatives.thumbnail_pixels if size == thumb_size else _fill(pixels, size)
        if size != thumb_size:
            extras.append(ExtraDerivative("thumbnail", "JPEG", _encode(crop, "JPEG"), *size))
        webp = _fill(alpha, size) if alpha is not None else crop
        extras.append(ExtraDerivative("thumbnail", "WEBP", _encode(webp, "WEBP"), *size, has_alpha=alpha is not None))
    preview = derivatives.preview_pixels
    if alpha is not None:
        preview = (
            alpha
            if alpha.size == preview.size
            else alpha.resize(preview.size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
        )
        extras.append(ExtraDerivative("preview", "PNG", _encode(preview, "PNG"), *preview.size, has_alpha=True))
    extras.append(
        ExtraDerivative("preview", "WEBP", _encode(preview, "WEBP"), *preview.size, has_alpha=alpha is not None)
    )
    return extras


def make_derivatives(content):
    """Validate an upload and build the thumbnail and preview JPEGs (re-encoded from pixels)."""
    mime, image = open_checked(content)
    flat = _flatten(image)
    # _flatten turned the original upright in place; only a new (flattened) image had alpha.
    alpha = _alpha_source(image) if flat is not image else None
    image = flat
    thumb_w, thumb_h = settings.THUMBNAIL_SIZE
    reduced = _box_reduced(image, (thumb_w, thumb_h))
    if is_uniform(reduced):
        raise ImageRejected("Image is blank (a single uniform colour); not saved as a thumbnail")
    if image.width < thumb_w or image.height < thumb_h:
        raise ImageRejected(f"Image is {image.width}x{image.height}; at least {thumb_w}x{thumb_h} is required")
    max_w, max_h = settings.PREVIEW_IMAGE_MAX_SIZE
    preview = image
    if image.width > max_w or image.height > max_h:
        preview = image.copy()
        preview.thumbnail((max_w, max_h), Image.Resampling.LANCZOS)
    resample = _REDUCED_RESAMPLE if reduced is not image else Image.Resampling.LANCZOS
    thumbnail = _fill(reduced, (thumb_w, thumb_h), resample)
    thumb_bytes = _encode_jpeg(thumbnail)
    # The answer path's largest cost: half of its encode time without the Huffman pass, for
    # 16 % more bytes (the background job adds a WebP preview a quarter of its size).
    preview_bytes = _encode_jpeg(preview, optimize=False)
    digest = hashlib.sha256(preview_bytes).hexdigest()
    return Derivatives(
        thumbnail=Derivative(thumb_bytes, *thumbnail.size),
        preview=Derivative(preview_bytes, *preview.size),
        content_hash=digest,
        source_mime=mime,
        pixels=image,
        preview_pixels=preview,
        thumbnail_pixels=thumbnail,
        alpha_pixels=alpha,
    )
