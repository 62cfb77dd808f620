"""Claim order (wanted, recently completed, backlog) and "wanted" marks: SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from admin_tools import priority, runs
from admin_tools.selectors import missing_thumbnails
from icosa.models import Asset, Format, ThumbnailPriority

pytestmark = pytest.mark.django_db


def make(name, *, state=Asset.State.COMPLETE, backlog=False, **fields):
    asset = Asset.objects.create(name=name, state=state, **fields)
    Format.objects.create(asset=asset, format_type="GLB")
    if backlog:
        # What the migration leaves every asset that existed before priorities.
        Asset.objects.filter(pk=asset.pk).update(thumbnail_priority=ThumbnailPriority.BACKLOG, thumbnail_queued_at=None)
    Asset.objects.filter(pk=asset.pk).update(is_viewer_compatible=True)
    return Asset.objects.get(pk=asset.pk)


def claim_all(user, runner="order"):
    return runs.claim(user=user, runner_id=runner, count=100).asset_ids


def test_an_asset_that_becomes_complete_is_queued_recent():
    asset = Asset.objects.create(name="upload", state=Asset.State.UPLOADING)
    assert asset.thumbnail_priority == ThumbnailPriority.BACKLOG
    asset = Asset.objects.get(pk=asset.pk)
    asset.state = Asset.State.COMPLETE
    asset.save(update_fields=["state"])
    stored = Asset.objects.get(pk=asset.pk)
    assert stored.thumbnail_priority == ThumbnailPriority.RECENT
    assert stored.thumbnail_queued_at is not None
    # Saving it again (COMPLETE already) does not move it.
    queued = stored.thumbnail_queued_at
    stored.name = "renamed"
    stored.save()
    assert Asset.objects.get(pk=asset.pk).thumbnail_queued_at == queued


def test_the_claim_hands_out_wanted_then_recent_then_backlog_oldest_first(staff_user):
    old_1, old_2, old_3 = (make(f"old{i}", backlog=True) for i in range(3))
    new_1 = make("new1")
    new_2 = make("new2")
    Asset.objects.filter(pk=new_2.pk).update(thumbnail_queued_at=new_1.thumbnail_queued_at - timedelta(seconds=5))
    priority.render_now([old_3.pk])
    priority.render_now([new_1.pk])
    assert claim_all(staff_user) == [old_3.pk, new_1.pk, new_2.pk, old_1.pk, old_2.pk]


def test_the_api_answers_in_claim_order(staff_user, auth, client):
    backlog = make("b", backlog=True)
    wanted = make("w", backlog=True)
    priority.render_now([wanted.pk])
    response = client.post(
        reverse("api:claim_thumbnail_jobs"),
        {"runner_id": "api-order", "count": 5},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200, response.content
    assert [a["id"] for a in response.json()["assets"]] == [str(wanted.pk), str(backlog.pk)]


def test_priority_order_holds_with_a_format_filter_and_a_run(staff_user):
    a, b = make("a", backlog=True), make("b", backlog=True)
    priority.render_now([b.pk])
    claimed = runs.claim(user=staff_user, runner_id="f", run_id="run-f", count=5, format_type="glb")
    assert claimed.asset_ids == [b.pk, a.pk]


def test_render_now_leaves_assets_with_a_thumbnail_and_incomplete_ones_alone():
    done = make("done", thumbnail="thumbnails/x.jpg")
    bare = make("bare", state=Asset.State.UPLOADING)
    missing = make("missing", backlog=True)
    assert priority.render_now([done.pk, bare.pk, missing.pk]) == 1
    assert Asset.objects.get(pk=missing.pk).thumbnail_priority == ThumbnailPriority.WANTED
    assert Asset.objects.get(pk=done.pk).thumbnail_priority != ThumbnailPriority.WANTED


def test_a_wanted_asset_keeps_its_place_when_viewed_again(settings):
    settings.THUMBNAIL_WANTED_DEDUP_SECONDS = 0  # every view reaches the database
    first, second = make("first", backlog=True), make("second", backlog=True)
    assert priority.mark_wanted([first.pk], client="a") == 1
    assert priority.mark_wanted([second.pk], client="a") == 1
    queued = Asset.objects.get(pk=first.pk).thumbnail_queued_at
    assert priority.mark_wanted([first.pk], client="b") == 0
    assert Asset.objects.get(pk=first.pk).thumbnail_queued_at == queued


def test_wanted_marks_are_deduplicated_per_asset(django_assert_num_queries):
    asset = make("viewed", backlog=True)
    assert priority.mark_wanted([asset.pk], client="one") == 1
    Asset.objects.filter(pk=asset.pk).update(thumbnail_priority=ThumbnailPriority.BACKLOG)
    # Within the window a reload (or another visitor) costs no query and changes nothing.
    with django_assert_num_queries(0):
        assert priority.mark_wanted([asset.pk], client="two") == 0
    assert Asset.objects.get(pk=asset.pk).thumbnail_priority == ThumbnailPriority.BACKLOG


def test_wanted_marks_are_rate_limited_per_client(settings):
    settings.THUMBNAIL_WANTED_PER_CLIENT_PER_MINUTE = 3
    assets = [make(f"a{i}", backlog=True) for i in range(5)]
    assert priority.mark_wanted([a.pk for a in assets], client="bot-ish") == 3
    wanted = set(Asset.objects.filter(thumbnail_priority=ThumbnailPriority.WANTED).values_list("pk", flat=True))
    assert wanted == {a.pk for a in assets[:3]}
    # The client's minute is used up; the two left over are not remembered as marked, so
    # another client's view still counts.
    assert priority.mark_wanted([assets[3].pk], client="bot-ish") == 0
    assert priority.mark_wanted([assets[3].pk, assets[4].pk], client="person") == 2


def test_the_claim_reads_the_priority_index():
    """The locking query is served by asset_thumb_queue_idx (order and filter), not a sort."""
    make("x", backlog=True)
    rows = runs._lockable(missing_thumbnails(exclude_claimed=True))[:10]
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "asset_thumb_queue_idx" in plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "asset_thumb_queue_idx" in plan


def test_viewing_the_gallery_marks_missing_assets_wanted_once(client):
    shown = make("shown", backlog=True)
    done = make("done", thumbnail="thumbnails/d.jpg", backlog=True)
    hidden = make("private", visibility=Asset.Visibility.PRIVATE, backlog=True)
    html = client.get("/").content.decode()
    assert f'data-thumbnail-wait="{shown.url}"' in html
    assert "thumbnail-wait.js" in html and "<script>" not in html
    priorities = dict(Asset.objects.values_list("pk", "thumbnail_priority"))
    assert priorities[shown.pk] == ThumbnailPriority.WANTED
    assert priorities[done.pk] == priorities[hidden.pk] == ThumbnailPriority.BACKLOG
    # A reload writes nothing: the dedup window holds.
    Asset.objects.filter(pk=shown.pk).update(thumbnail_priority=ThumbnailPriority.BACKLOG)
    client.get("/")
    assert Asset.objects.get(pk=shown.pk).thumbnail_priority == ThumbnailPriority.BACKLOG


def test_bots_mark_nothing(client):
    asset = make("crawled", backlog=True)
    client.get(asset.get_absolute_url(), HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)")
    assert Asset.objects.get(pk=asset.pk).thumbnail_priority == ThumbnailPriority.BACKLOG
    client.get(asset.get_absolute_url(), HTTP_USER_AGENT="Mozilla/5.0 Firefox/140")
    assert Asset.objects.get(pk=asset.pk).thumbnail_priority == ThumbnailPriority.WANTED


def test_the_status_endpoint_answers_ready_assets_and_never_private_ones(client):
    waiting = make("waiting")
    public = make("public", thumbnail="thumbnails/p.jpg", preview_image="thumbnails/p-big.jpg")
    unlisted = make("unlisted", thumbnail="thumbnails/u.jpg", visibility=Asset.Visibility.UNLISTED)
    private = make("private", thumbnail="thumbnails/s.jpg", visibility=Asset.Visibility.PRIVATE)
    tokens = ",".join(a.url for a in (waiting, public, unlisted, private)) + ",nonexistent"
    response = client.get(reverse("icosa:thumbnail_status"), {"u": tokens})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    ready = response.json()["ready"]
    assert set(ready) == {public.url, unlisted.url}
    assert ready[public.url]["thumbnail_url"].endswith("thumbnails/p.jpg")
    assert ready[public.url]["preview_url"].endswith("thumbnails/p-big.jpg")
    assert "?sig=" in ready[unlisted.url]["thumbnail_url"]  # signed like the asset page's links
    assert client.post(reverse("icosa:thumbnail_status")).status_code == 405


def test_render_now_admin_action(client, staff_user, staff_without_permission):
    assets = [make(f"n{i}", backlog=True) for i in range(2)]
    body = {"action": "render_now", "_selected_action": [a.pk for a in assets]}
    client.force_login(staff_without_permission)
    client.post("/admin/icosa/asset/", body)
    assert not Asset.objects.filter(thumbnail_priority=ThumbnailPriority.WANTED).exists()
    client.force_login(staff_user)
    response = client.post("/admin/icosa/asset/", body, follow=True)
    assert "Queued 2 assets" in response.content.decode()
    assert Asset.objects.filter(thumbnail_priority=ThumbnailPriority.WANTED).count() == 2
