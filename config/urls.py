from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from admin_tools.brush_assets import serve_brush_asset

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("batch-thumbs/", include("admin_tools.urls")),
    re_path(r"^brush-assets/(?P<path>.*)$", serve_brush_asset, name="brush_assets"),
    path("", include("icosa.urls")),
]


def serve_media(request, path):
    """Local uploads in the demo and tests (MEDIA_ROOT read per request, not at import)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


if settings.SERVE_MEDIA and settings.MEDIA_URL.startswith("/"):
    urlpatterns += [re_path(r"^%s(?P<path>.*)$" % settings.MEDIA_URL.lstrip("/"), serve_media)]
