"""The public gallery: a grid of public assets with their thumbnail or a placeholder."""
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from .models import Asset


def gallery(request):
    assets = Asset.objects.filter(
        visibility=Asset.Visibility.PUBLIC, state=Asset.State.COMPLETE
    ).select_related("owner")
    page = Paginator(assets, 48).get_page(request.GET.get("page"))
    return render(request, "icosa/gallery.html", {"page": page})


def asset_detail(request, url):
    asset = get_object_or_404(
        Asset.objects.select_related("owner").exclude(visibility=Asset.Visibility.PRIVATE), url=url
    )
    return render(request, "icosa/asset_detail.html", {"asset": asset})
