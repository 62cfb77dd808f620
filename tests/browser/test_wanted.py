"""Done-when of issue 14: a visitor views an asset without a thumbnail while a runner watches,
and the thumbnail appears on the open page by itself; the viewed asset jumps the backlog."""

import time

import pytest
from django.utils import timezone
from PIL import Image, ImageStat

from admin_tools.models import ThumbnailRunner, ThumbnailVersion
from icosa.models import Asset, ThumbnailPriority
from tests.conftest import import_fixture
from tests.test_render_thumbnails import kill_tree, start_runner, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewed_asset_gets_its_thumbnail_while_the_page_is_open(live_server, page, staff_user, ok_models):
    viewed = import_fixture(ok_models[0])
    # Nothing else queued yet, so the runner starts and then waits (watching).
    Asset.objects.filter(pk=viewed.pk).update(state=Asset.State.UPLOADING)
    runner = start_runner(
        live_server.url,
        staff_user.generate_jwt_token(),
        "--watch",
        "--poll-seconds",
        "1",
        "--batch-size",
        "1",
        "--runner-id",
        "watcher",
    )
    try:
        wait_for(
            lambda: (
                ThumbnailRunner.objects.filter(pk="watcher", stopped_at__isnull=True).exists()
                or runner.poll() is not None
            ),
            timeout=120,
            what="the runner's first heartbeat",
        )
        assert runner.poll() is None, runner.stdout.read()
        # A backlog older than the viewed asset, and the viewed asset itself, back to work.
        backlog = [import_fixture(path) for path in ok_models[1:3]]
        Asset.objects.filter(pk__in=[a.pk for a in backlog]).update(
            thumbnail_priority=ThumbnailPriority.BACKLOG, thumbnail_queued_at=None
        )
        Asset.objects.filter(pk=viewed.pk).update(
            state=Asset.State.COMPLETE, thumbnail_priority=ThumbnailPriority.BACKLOG, thumbnail_queued_at=None
        )
        started = time.monotonic()
        page.goto(f"{live_server.url}/view/{viewed.url}/")
        assert page.locator("[data-thumbnail-wait]").count() == 1
        page.wait_for_selector("img[data-thumbnail-arrived]", timeout=60_000)
        seconds = time.monotonic() - started
        shown_at = timezone.now()
        first = ThumbnailVersion.objects.order_by("created_at", "id").first()
        assert first.asset_id == viewed.pk, "the viewed asset was not rendered first"
        src = page.locator("img[data-thumbnail-arrived]").get_attribute("src")
        viewed.refresh_from_db()
        assert viewed.preview_image.name.rsplit("/", 1)[-1] in src
        with viewed.thumbnail.open("rb") as handle:
            image = Image.open(handle).convert("RGB")
            assert max(ImageStat.Stat(image).stddev) > 10, "the stored thumbnail is uniform"
        lag = (shown_at - first.created_at).total_seconds()
        print(f"thumbnail on the page {seconds:.1f} s after the view, {lag:.1f} s after it was stored")
        assert lag < 5, "the page did not swap the thumbnail in within 5 s of its upload"
    finally:
        if runner.poll() is None:
            kill_tree(runner)
