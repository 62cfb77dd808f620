"""Service rules against the real database: storing, failures, claims under concurrency."""

import threading
from collections import Counter

import pytest
from django.db import connections

from admin_tools.images import ImageRejected
from admin_tools.models import ThumbnailClaim, ThumbnailVersion
from admin_tools.runs import claim_assets, release_claims
from admin_tools.selectors import missing_thumbnails, thumbnail_progress
from admin_tools.services import record_failure, store_thumbnail
from icosa.models import Asset, Format

from .conftest import b64, make_image


def make_assets(n, fmt="GLB"):
    assets = []
    for i in range(n):
        asset = Asset.objects.create(name=f"a{i}", state=Asset.State.COMPLETE)
        Format.objects.create(asset=asset, format_type=fmt)
        assets.append(asset)
    return assets


@pytest.mark.django_db
def test_store_thumbnail_records_who_and_how(staff_user):
    (asset,) = make_assets(1)
    stored, version = store_thumbnail(
        asset_id=asset.pk,
        thumbnail_base64=b64(make_image()),
        user=staff_user,
        runner_id="runner-1",
        renderer="ANGLE (SwiftShader)",
        render_settings={"width": 1280, "height": 800, "quality": 0.85},
    )
    assert version.is_current and version.created_by == staff_user
    assert version.runner_id == "runner-1" and version.renderer == "ANGLE (SwiftShader)"
    assert version.render_settings["quality"] == 0.85
    assert stored.thumbnail.name == version.thumbnail.name
    assert len(version.content_hash) == 64 and version.content_hash[:16] in version.thumbnail.name


@pytest.mark.django_db
def test_store_thumbnail_rejects_before_writing(staff_user):
    (asset,) = make_assets(1)
    with pytest.raises(ImageRejected) as excinfo:
        store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(uniform=True)), user=staff_user)
    assert type(excinfo.value) is ImageRejected and "blank" in str(excinfo.value)
    assert not ThumbnailVersion.objects.exists()


@pytest.mark.django_db
def test_selectors_filter_by_owner_format_and_dates(staff_user):
    a, b = make_assets(2)
    c = make_assets(1, fmt="OBJ")[0]
    Asset.objects.filter(pk=a.pk).update(owner=staff_user)
    assert list(missing_thumbnails(owner="thumbs")) == [a]
    assert list(missing_thumbnails(format_type="obj")) == [c]
    assert list(missing_thumbnails(created_after="2999-01-01")) == []
    assert len(missing_thumbnails(created_before="2999-01-01")) == 3


@pytest.mark.django_db
def test_failures_accumulate_and_release_claim(staff_user):
    (asset,) = make_assets(1)
    claim_assets(user=staff_user, runner_id="r", count=1)
    record_failure(asset_id=asset.pk, reason="timeout", detail="60 s", user=staff_user, runner_id="r")
    failure = record_failure(asset_id=asset.pk, reason="load_error", detail="404", user=staff_user, runner_id="r")
    assert failure.attempts == 2 and failure.reason == "load_error"
    assert not ThumbnailClaim.objects.exists()
    assert thumbnail_progress()["failed"] == 0
    record_failure(asset_id=asset.pk, reason="load_error", user=staff_user)
    assert thumbnail_progress()["failed"] == 1


@pytest.mark.django_db
def test_release_only_touches_the_runners_own_claims(staff_user, superuser):
    a, b = make_assets(2)
    claim_assets(user=staff_user, runner_id="one", count=1)
    claim_assets(user=staff_user, runner_id="two", count=1)
    assert release_claims(runner_id="one", asset_ids=[a.pk, b.pk], user=superuser) == 0
    assert release_claims(runner_id="one", asset_ids=[a.pk, b.pk], user=staff_user) == 1
    assert list(ThumbnailClaim.objects.values_list("runner_id", flat=True)) == ["two"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_overlap(staff_user):
    """Eight threads claim at once; every asset goes to exactly one of them."""
    assets = make_assets(40)
    results = {}
    errors = []
    barrier = threading.Barrier(8)

    def worker(n):
        try:
            barrier.wait()
            got = []
            while True:
                ids = claim_assets(user=staff_user, runner_id=f"t{n}", count=3)
                if not ids:
                    break
                got.extend(ids)
            results[n] = got
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = Counter(pk for got in results.values() for pk in got)
    assert sorted(counts) == sorted(a.pk for a in assets)
    assert set(counts.values()) == {1}
    assert ThumbnailClaim.objects.count() == 40


@pytest.mark.parametrize(
    "name",
    [
        "assets/1/scene.gltf",
        "assets/1/a b#c?.bin",
        "assets/1/textures/holzmaserung-ß.png",
        "/lead/slash.obj",
        "x:y/z.mtl",
    ],
)
def test_listing_file_urls_match_the_storage(name):
    """The listing's fast path for local files gives exactly what storage.url() gives."""
    from django.core.files.storage import FileSystemStorage, default_storage

    from admin_tools.selectors import _file_url_function

    for storage in (default_storage, FileSystemStorage(base_url="https://cdn.example.com/m")):
        assert _file_url_function(storage)(name) == storage.url(name)
