"""The import map that lets ES modules say ``import * as THREE from "three"`` (and import Spark)."""
import json

from django.conf import settings
from django.templatetags.static import static

from icosa import formats

from .brush_assets import brush_assets_url


def three_import_map():
    return json.dumps(
        {
            "imports": {
                "three": static("vendor/three/build/three.module.js"),
                "three/addons/": static("vendor/three/examples/jsm/"),
                "@sparkjsdev/spark": static("vendor/spark/spark.module.js"),
            }
        }
    ).replace("</", "<\\/")


def loader_config():
    """What the page's loaders read from its config: decoders, the format table, the byte cap,
    where the Open Brush brush assets are (None: brush materials use the fallback), the default
    up axis per format and the quality thresholds that flag a capture for review."""
    return {
        "decoders": decoder_paths(),
        "brushAssetsUrl": brush_assets_url(),
        "formats": formats.page_config(),
        "maxAssetBytes": settings.THUMBNAIL_MAX_ASSET_BYTES,
        "upAxis": {fmt: axis for fmt, axis in settings.THUMBNAIL_UP_AXIS.items() if axis in ("Y", "Z")},
        "quality": {
            "darkBrightness": settings.THUMBNAIL_QUALITY_DARK_BRIGHTNESS,
            "minContrast": settings.THUMBNAIL_QUALITY_MIN_CONTRAST,
            "minCoverage": settings.THUMBNAIL_QUALITY_MIN_COVERAGE,
        },
    }


def decoder_paths():
    return {
        "draco": static("vendor/three/examples/jsm/libs/draco/gltf/"),
        "basis": static("vendor/three/examples/jsm/libs/basis/"),
    }
