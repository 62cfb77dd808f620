"""The bare page the headless runner loads; it holds no data, only the renderer modules."""
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_deny

from .brush_assets import brush_assets_url
from .importmap import decoder_paths, three_import_map


@xframe_options_deny
def headless_page(request):
    return render(
        request,
        "batch_thumbs/headless.html",
        {
            "import_map": three_import_map(),
            "config": {"decoders": decoder_paths(), "brushAssetsUrl": brush_assets_url()},
        },
    )
