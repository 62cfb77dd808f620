"""The bare page the headless runner loads; it holds no data, only the renderer modules."""
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_deny

from .importmap import loader_config, three_import_map


@xframe_options_deny
def headless_page(request):
    return render(
        request,
        "batch_thumbs/headless.html",
        {"import_map": three_import_map(), "config": loader_config()},
    )
