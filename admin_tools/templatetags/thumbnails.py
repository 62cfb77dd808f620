"""``<picture>`` markup for the public pages: every stored size of a thumbnail, WebP first.

{% load thumbnails %}
{% thumbnail_sources page as sources %}        {# one query for the page #}
{% thumbnail_picture asset sources %}          {# per card; falls back to the JPEG #}
"""

from django import template

from admin_tools import selectors
from icosa.models import Asset

register = template.Library()

#: How wide a gallery card is drawn (gallery.css: columns of at least 256px).
CARD_SIZES = "(max-width: 600px) 100vw, (max-width: 1200px) 50vw, 384px"


@register.simple_tag
def thumbnail_sources(assets, kind="thumbnail"):
    """``{asset id: {"webp": srcset, "jpeg": srcset}}`` for the current versions of ``assets``
    (a page of assets, or one asset)."""
    assets = [assets] if isinstance(assets, Asset) else list(assets)
    return selectors.picture_sources(assets, kind=kind)


@register.inclusion_tag("thumbnails/picture.html")
def thumbnail_picture(asset, sources, kind="thumbnail", css_class=""):
    preview = kind == "preview"
    return {
        "asset": asset,
        "sources": sources.get(asset.pk, {}),
        "src": asset.preview_url if preview else asset.thumbnail.url,
        "width": None if preview else asset.thumbnail_width or 512,
        "height": None if preview else asset.thumbnail_height or 320,
        "sizes": "100vw" if preview else CARD_SIZES,
        "css_class": css_class,
        "lazy": not preview,
        "turntable": "" if preview else sources.get(asset.pk, {}).get("turntable", ""),
    }
