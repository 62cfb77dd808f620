"""The configuration both renderer pages embed, built in one place.

The admin generator page and the headless page the runner loads each embed the result of
:func:`page_config` as ``json_script`` (id ``batch-thumbs-config``); one JS module
(``static/batch_thumbs/config.js``) reads it. Render defaults come from the THUMBNAIL_*
settings and nowhere else; the bounds below are the ones the page, the command and the API
clamp to.
"""

from django.conf import settings
from django.urls import reverse

from icosa import formats

from .brush_assets import brush_assets_url
from .importmap import decoder_paths, environment_url
from .turntable import page_settings as turntable_settings

#: Smallest and largest render side, in pixels.
RENDER_SIZE_LIMITS = (64, 4096)
#: JPEG quality of a capture, 0..1.
QUALITY_LIMITS = (0.1, 1.0)
#: Most assets one listing page or claim returns.
MAX_BATCH = 100
#: Assets the generator page claims at a time unless the admin says otherwise.
DEFAULT_BATCH_SIZE = 50


def api_base() -> str:
    """The API root as a path without a trailing slash (``/api/v1``), from the URLconf."""
    return reverse("api:api-root").rstrip("/")


def render_defaults() -> dict:
    width, height = settings.THUMBNAIL_RENDER_SIZE
    return {
        "batchSize": DEFAULT_BATCH_SIZE,
        "viewerCompatibleOnly": True,
        "width": width,
        "height": height,
        "quality": settings.THUMBNAIL_JPEG_QUALITY / 100,
        "background": settings.THUMBNAIL_BACKGROUND,
        "sketchBackground": settings.THUMBNAIL_SKETCH_BACKGROUND,
        "timeoutSeconds": settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS,
    }


def renderer_inputs() -> dict:
    """What the loaders read: decoder folders, the baked environment, the format table, the per-asset byte cap, the
    texture cap (None: derived from the render size), where the Open Brush brush assets are
    (None: brush materials use the fallback), the default up axis per format and the quality
    thresholds that flag a capture for review."""
    return {
        "decoders": decoder_paths(),
        "environmentUrl": environment_url(),
        "formats": formats.page_config(),
        "maxAssetBytes": settings.THUMBNAIL_MAX_ASSET_BYTES,
        "textureCap": settings.THUMBNAIL_TEXTURE_CAP,
        "brushAssetsUrl": brush_assets_url(),
        "upAxis": {fmt: axis for fmt, axis in settings.THUMBNAIL_UP_AXIS.items() if axis in ("Y", "Z")},
        "quality": {
            "darkBrightness": settings.THUMBNAIL_QUALITY_DARK_BRIGHTNESS,
            "minContrast": settings.THUMBNAIL_QUALITY_MIN_CONTRAST,
            "minCoverage": settings.THUMBNAIL_QUALITY_MIN_COVERAGE,
        },
    }


def page_config(**extra) -> dict:
    """The page configuration; ``extra`` adds page-specific keys (token URL, selection...)."""
    return {
        "apiBase": api_base(),
        "defaults": render_defaults(),
        "limits": {
            "size": list(RENDER_SIZE_LIMITS),
            "quality": list(QUALITY_LIMITS),
            "batchSize": [1, MAX_BATCH],
        },
        **renderer_inputs(),
        "turntable": turntable_settings(),
        **extra,
    }


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH",
    "QUALITY_LIMITS",
    "RENDER_SIZE_LIMITS",
    "api_base",
    "page_config",
    "render_defaults",
    "renderer_inputs",
]
