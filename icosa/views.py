"""The public gallery: a grid of public assets with their thumbnail or a placeholder.

An asset shown without a thumbnail is marked "wanted" (admin_tools.priority: deduplicated,
rate-limited, one UPDATE), so a watching runner renders it next; the page's
``thumbnail-wait.js`` polls :func:`thumbnail_status` and swaps the thumbnail in when it lands.
"""

from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .media import file_url
from .models import Asset

#: Most assets one status request may ask about (a gallery page shows 48).
MAX_STATUS_ASSETS = 48


def _mark_wanted(request, assets):
    from admin_tools import priority

    if priority.is_bot(request):
        return
    missing = [asset.pk for asset in assets if not asset.thumbnail and asset.state == Asset.State.COMPLETE]
    priority.mark_wanted(missing, client=priority.client_key(request))


def gallery(request):
    assets = Asset.objects.filter(visibility=Asset.Visibility.PUBLIC, state=Asset.State.COMPLETE).select_related(
        "owner"
    )
    page = Paginator(assets, 48).get_page(request.GET.get("page"))
    _mark_wanted(request, page.object_list)
    return render(request, "icosa/gallery.html", {"page": page})


def asset_detail(request, url):
    asset = get_object_or_404(
        Asset.objects.select_related("owner").exclude(visibility=Asset.Visibility.PRIVATE), url=url
    )
    _mark_wanted(request, [asset])
    return render(request, "icosa/asset_detail.html", {"asset": asset})


@require_GET
def thumbnail_status(request):
    """``?u=TOKEN,TOKEN``: the thumbnail and preview links of those assets that have one.

    Keyed by the url token (what the pages show), never by id, so it reveals nothing a visitor
    could not already open; private assets are never answered.
    """
    tokens = [t for t in request.GET.get("u", "").split(",") if t][:MAX_STATUS_ASSETS]
    rows = (
        Asset.objects.filter(url__in=tokens, state=Asset.State.COMPLETE)
        .exclude(visibility=Asset.Visibility.PRIVATE)
        .exclude(thumbnail="")
        .values("url", "visibility", "thumbnail", "preview_image")
    )
    ready = {
        row["url"]: {
            "thumbnail_url": file_url(row["thumbnail"], visibility=row["visibility"]),
            "preview_url": file_url(row["preview_image"], visibility=row["visibility"]) if row["preview_image"] else "",
        }
        for row in rows
    }
    response = JsonResponse({"ready": ready})
    response["Cache-Control"] = "no-store"
    return response
