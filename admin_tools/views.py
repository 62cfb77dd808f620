"""The bare page the headless runner loads; it holds no data, only the renderer modules."""

from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_deny

from .importmap import three_import_map
from .pageconfig import page_config


@xframe_options_deny
def headless_page(request):
    return render(
        request,
        "batch_thumbs/headless.html",
        {"import_map": three_import_map(), "config": page_config()},
    )
