"""Run policy against the real database (SQLite, and PostgreSQL with DATABASE_URL)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from admin_tools import runs
from admin_tools.models import ThumbnailClaim, ThumbnailRun, ThumbnailRunAsset
from admin_tools.services import record_failure, store_thumbnail
from icosa.models import Asset, Format

from .conftest import b64, make_image

pytestmark = pytest.mark.django_db


def make_assets(n, **fields):
    assets = []
    for i in range(n):
        asset = Asset.objects.create(name=f"r{i}", state=Asset.State.COMPLETE, **fields)
        Format.objects.create(asset=asset, format_type="GLB")
        assets.append(asset)
    return assets


def expire(*assets):
    ThumbnailClaim.objects.filter(asset__in=assets).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_a_run_is_never_offered_an_asset_twice(staff_user):
    """Failed, skipped (released) or expired: whatever happened, the same run moves on."""
    failed, skipped, expired, fresh = make_assets(4)
    first = runs.claim(user=staff_user, runner_id="run-1/1", run_id="run-1", count=3)
    assert first.asset_ids == [failed.pk, skipped.pk, expired.pk]
    assert first.remaining == 1
    record_failure(asset_id=failed.pk, reason="load_error", user=staff_user, runner_id="run-1/1")
    runs.release_claims(runner_id="run-1/1", user=staff_user, asset_ids=[skipped.pk])
    expire(expired)

    again = runs.claim(user=staff_user, runner_id="run-1/1", run_id="run-1", count=10)
    assert again.asset_ids == [fresh.pk]
    assert again.remaining == 0
    # Another run gets what this one gave up on (the failure is below THUMBNAIL_MAX_FAILURES).
    other = runs.claim(user=staff_user, runner_id="run-2/1", run_id="run-2", count=10)
    assert other.asset_ids == [failed.pk, skipped.pk, expired.pk]


def test_workers_of_one_run_share_its_memory(staff_user):
    a, b = make_assets(2)
    assert runs.claim_assets(user=staff_user, runner_id="w/1", run_id="w", count=1) == [a.pk]
    runs.release_claims(runner_id="w/1", user=staff_user)
    assert runs.claim_assets(user=staff_user, runner_id="w/2", run_id="w", count=5) == [b.pk]


def test_without_a_run_id_a_claim_keeps_no_memory(staff_user):
    (asset,) = make_assets(1)
    assert runs.claim_assets(user=staff_user, runner_id="plain", count=1) == [asset.pk]
    runs.release_claims(runner_id="plain", user=staff_user)
    assert runs.claim_assets(user=staff_user, runner_id="plain", count=1) == [asset.pk]
    assert not ThumbnailRun.objects.exists()


def test_a_forced_run_regenerates_only_what_existed_when_it_started(staff_user):
    (old,) = make_assets(1, thumbnail="thumbnails/old.jpg", thumbnail_generated_at=timezone.now() - timedelta(days=1))
    run = runs.start_run("forced", user=staff_user)
    (newer,) = make_assets(
        1, thumbnail="thumbnails/new.jpg", thumbnail_generated_at=run.started_at + timedelta(seconds=1)
    )
    claimed = runs.claim(user=staff_user, runner_id="forced", run_id="forced", count=10, force=True)
    assert claimed.asset_ids == [old.pk]
    assert newer.pk not in claimed.asset_ids


def test_an_earlier_generated_before_narrows_the_forced_bound(staff_user):
    older, recent = make_assets(2, thumbnail="thumbnails/x.jpg")
    Asset.objects.filter(pk=older.pk).update(thumbnail_generated_at=timezone.now() - timedelta(days=10))
    Asset.objects.filter(pk=recent.pk).update(thumbnail_generated_at=timezone.now() - timedelta(days=1))
    cutoff = (timezone.now() - timedelta(days=5)).date().isoformat()
    claimed = runs.claim_assets(
        user=staff_user, runner_id="r", run_id="r", count=10, force=True, generated_before=cutoff
    )
    assert claimed == [older.pk]


def test_a_live_runner_keeps_its_queued_leases(staff_user, settings):
    """Every upload, failure report or claim renews the runner's other leases; a silent
    runner's run out one lease after its last request."""
    settings.THUMBNAIL_CLAIM_SECONDS = 60
    first, second, third = make_assets(3)
    runs.claim_assets(user=staff_user, runner_id="busy", count=3)
    ThumbnailClaim.objects.update(expires_at=timezone.now() + timedelta(seconds=5))

    store_thumbnail(asset_id=first.pk, thumbnail_base64=b64(make_image()), user=staff_user, runner_id="busy")
    leases = ThumbnailClaim.objects.filter(runner_id="busy")
    assert sorted(leases.values_list("asset_id", flat=True)) == [second.pk, third.pk]
    assert min(leases.values_list("expires_at", flat=True)) > timezone.now() + timedelta(seconds=50)

    ThumbnailClaim.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    record_failure(asset_id=second.pk, reason="timeout", user=staff_user, runner_id="busy")
    assert ThumbnailClaim.objects.get().expires_at > timezone.now() + timedelta(seconds=50)


def test_an_expired_lease_is_not_renewed(staff_user):
    a, b = make_assets(2)
    runs.claim_assets(user=staff_user, runner_id="late", count=2)
    expire(b)
    store_thumbnail(asset_id=a.pk, thumbnail_base64=b64(make_image()), user=staff_user, runner_id="late")
    assert ThumbnailClaim.objects.get(asset=b).expires_at < timezone.now()


def test_upload_and_failure_end_their_lease(staff_user):
    done, failed = make_assets(2)
    runs.claim_assets(user=staff_user, runner_id="r", count=2)
    store_thumbnail(asset_id=done.pk, thumbnail_base64=b64(make_image()), user=staff_user, runner_id="r")
    record_failure(asset_id=failed.pk, reason="load_error", user=staff_user, runner_id="r")
    assert not ThumbnailClaim.objects.exists()


def test_release_without_ids_ends_every_lease_of_the_runner_only(staff_user):
    make_assets(5)
    runs.claim_assets(user=staff_user, runner_id="mine", count=3)
    runs.claim_assets(user=staff_user, runner_id="theirs", count=2)
    assert runs.release_claims(runner_id="mine", user=staff_user) == 3
    assert set(ThumbnailClaim.objects.values_list("runner_id", flat=True)) == {"theirs"}


def test_old_runs_are_forgotten_when_a_new_one_starts(staff_user):
    (asset,) = make_assets(1)
    runs.claim_assets(user=staff_user, runner_id="ancient", run_id="ancient", count=1)
    ThumbnailRun.objects.filter(pk="ancient").update(started_at=timezone.now() - runs.RUN_RETENTION - timedelta(days=1))
    runs.start_run("today")
    assert list(ThumbnailRun.objects.values_list("pk", flat=True)) == ["today"]
    assert not ThumbnailRunAsset.objects.exists()
