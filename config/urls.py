from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from admin_tools.brush_assets import serve_brush_asset
from icosa.media import serve_media

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("batch-thumbs/", include("admin_tools.urls")),
    re_path(r"^brush-assets/(?P<path>.*)$", serve_brush_asset, name="brush_assets"),
    path("", include("icosa.urls")),
]

# Local uploads through the checked view; it answers 404 unless SERVE_MEDIA is on (read per
# request, so tests can turn it on).
if settings.MEDIA_URL.startswith("/"):
    urlpatterns += [re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.+)$", serve_media, name="media")]
