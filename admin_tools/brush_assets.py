"""Open Brush brush assets: where the page finds them, and serving a local copy.

A gallery hosts the brush folder (``<Name>-<guid>/<Name>-<guid>-v10.0-vertex.glsl``, textures,
``includes/``) either elsewhere (``BRUSH_ASSETS_URL``) or as a local folder this app serves
itself (``BRUSH_ASSETS_DIR``). Only shader sources and images are served, with a fixed content
type and ``nosniff``; no listing, nothing outside the folder.
"""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import reverse
from django.views.decorators.http import require_safe

CONTENT_TYPES = {".glsl": "text/plain; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg"}


def brush_assets_url():
    """The page config's ``brushAssetsUrl``: absolute or root-relative, trailing slash, or None."""
    if settings.BRUSH_ASSETS_URL:
        return settings.BRUSH_ASSETS_URL.rstrip("/") + "/"
    if settings.BRUSH_ASSETS_DIR:
        return reverse("brush_assets", kwargs={"path": ""})
    return None


def brush_assets_root():
    """The local brush folder, or None. A folder holding ``brushes/`` is served from there."""
    if not settings.BRUSH_ASSETS_DIR:
        return None
    root = Path(settings.BRUSH_ASSETS_DIR).resolve()
    nested = root / "brushes"
    return nested if (nested / "includes").is_dir() else root


@require_safe
def serve_brush_asset(request, path):
    root = brush_assets_root()
    content_type = CONTENT_TYPES.get(Path(path).suffix.lower())
    if root is None or content_type is None or "\x00" in path:
        raise Http404("No such brush asset")
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("No such brush asset")
    response = FileResponse(target.open("rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=86400"
    return response
