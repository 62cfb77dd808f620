"""``import_assets --render``: what was imported has a real thumbnail when the command returns;
without ``--render`` it is queued at RECENT priority. The first test runs Chromium."""

from io import StringIO

import pytest
from django.core.management import call_command

from icosa.models import Asset, ThumbnailPriority

from .test_render_thumbnails import assert_real_thumbnail


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_import_with_render_returns_with_thumbnails(superuser, ok_models):
    out = StringIO()
    call_command("import_assets", *map(str, ok_models[:2]), "--render", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "Imported 2 assets." in text and "Rendering 2 thumbnails" in text
    assert "2 thumbnails done, 0 failed" in text, text
    for asset in Asset.objects.all():
        assert_real_thumbnail(asset)


@pytest.mark.django_db
def test_import_without_render_queues_the_assets_recent(ok_models):
    out = StringIO()
    call_command("import_assets", str(ok_models[0]), stdout=out)
    asset = Asset.objects.get()
    assert asset.thumbnail_priority == ThumbnailPriority.RECENT and asset.thumbnail_queued_at
    assert "Queued for thumbnails" in out.getvalue()
