"""Storage and database faults during an upload leave asset and storage as they were."""

import json
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError

from admin_tools import services
from admin_tools.models import ThumbnailVersion
from icosa.models import Asset

from .conftest import b64, make_image
from .test_storage_s3 import (
    bucket_keys,
    create_bucket,
    endpoint_of,
    start_moto,
    use_b2_storage,
)

pytestmark = pytest.mark.django_db

UNAVAILABLE = "Thumbnail storage is unavailable; try again later"


class FailingStorage(FileSystemStorage):
    """A filesystem storage that raises OSError from its ``fail_on``-th save on."""

    error_class = OSError

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.saves = 0
        self.fail_on = None

    def fail_after(self, successful):
        self.fail_on = self.saves + successful + 1

    def _save(self, name, content):
        self.saves += 1
        if self.fail_on is not None and self.saves >= self.fail_on:
            raise self.error_class(28, "No space left on device")
        return super()._save(name, content)


def upload_url(asset_id):
    return f"/api/v1/admin/assets/{asset_id}/thumbnail"


def post_thumbnail(client, asset_id, content, auth):
    return client.post(
        upload_url(asset_id),
        json.dumps({"thumbnail_base64": b64(content), "runner_id": "r"}),
        content_type="application/json",
        **auth,
    )


def files_on_disk(root):
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def snapshot(asset):
    """Everything about an asset's thumbnail that a failed upload must not change."""
    asset = Asset.objects.get(pk=asset.pk)
    return {
        "thumbnail": asset.thumbnail.name,
        "preview_image": asset.preview_image.name,
        "contenttype": asset.thumbnail_contenttype,
        "size": (asset.thumbnail_width, asset.thumbnail_height, asset.thumbnail_bytes),
        "generated": (asset.thumbnail_generated_at, asset.thumbnail_generated_by_id),
        "update_time": asset.update_time,
        "versions": list(
            ThumbnailVersion.objects.filter(asset=asset)
            .order_by("pk")
            .values_list("pk", "is_current", "thumbnail", "preview_image")
        ),
    }


@pytest.fixture
def failing_storage(settings, media_root):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{__name__}.FailingStorage",
            "OPTIONS": {"location": str(media_root)},
        },
    }
    _ = default_storage.saves  # build the storage now, so tests can steer it
    return default_storage


@pytest.fixture
def with_thumbnail(client, auth, failing_storage):
    """An asset with a good thumbnail (the thing a failure must not lose)."""
    asset = Asset.objects.create(name="Has a thumbnail", state=Asset.State.COMPLETE)
    response = post_thumbnail(client, asset.pk, make_image(shape="blue"), auth)
    assert response.status_code == 200, response.content
    asset.refresh_from_db()
    assert asset.thumbnail.name
    return asset


@pytest.mark.parametrize("successful_writes", [0, 1], ids=["first-write", "second-write"])
def test_storage_write_failure_is_503_and_changes_nothing(
    client, auth, with_thumbnail, failing_storage, media_root, successful_writes
):
    """A full disk on either derivative: 503, old thumbnail kept, no half left."""
    before = snapshot(with_thumbnail)
    files_before = files_on_disk(media_root)
    saves_before = failing_storage.saves
    failing_storage.fail_after(successful_writes)

    response = post_thumbnail(client, with_thumbnail.pk, make_image(shape="red"), auth)

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE}
    assert failing_storage.saves == saves_before + successful_writes + 1
    assert snapshot(with_thumbnail) == before
    assert files_on_disk(media_root) == files_before
    assert (media_root / before["thumbnail"]).is_file()


def test_storage_failure_on_an_asset_without_thumbnail_leaves_it_missing(client, auth, failing_storage, media_root):
    asset = Asset.objects.create(name="No thumbnail yet", state=Asset.State.COMPLETE)
    failing_storage.fail_after(1)

    response = post_thumbnail(client, asset.pk, make_image(), auth)

    assert response.status_code == 503
    asset.refresh_from_db()
    assert asset.thumbnail.name == "" and asset.preview_image.name == ""
    assert not ThumbnailVersion.objects.filter(asset=asset).exists()
    assert files_on_disk(media_root) == []


def test_database_error_after_files_were_written_removes_them(with_thumbnail, staff_user, media_root, monkeypatch):
    """The version row cannot be saved: both new files are deleted, asset kept."""
    before = snapshot(with_thumbnail)
    files_before = files_on_disk(media_root)
    seen_at_failure = []

    def broken_save(self, *args, **kwargs):
        seen_at_failure.extend(files_on_disk(media_root))
        raise DatabaseError("could not write to the database")

    monkeypatch.setattr(ThumbnailVersion, "save", broken_save)

    with pytest.raises(DatabaseError, match="could not write"):
        services.store_thumbnail(
            asset_id=with_thumbnail.pk,
            thumbnail_base64=b64(make_image(shape="green")),
            user=staff_user,
        )

    assert len(seen_at_failure) == len(files_before) + 2  # they really were written
    assert files_on_disk(media_root) == files_before
    monkeypatch.undo()
    assert snapshot(with_thumbnail) == before


def test_database_error_through_the_api_is_a_json_server_error_and_leaves_no_files(
    client, auth, with_thumbnail, media_root, monkeypatch
):
    """Full stack: 503 with a detail (the runner retries), and no half-made thumbnail."""
    before = snapshot(with_thumbnail)
    files_before = files_on_disk(media_root)

    def broken_save(self, *args, **kwargs):
        raise DatabaseError("could not write to the database")

    monkeypatch.setattr(ThumbnailVersion, "save", broken_save)

    response = post_thumbnail(client, with_thumbnail.pk, make_image(shape="green"), auth)

    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable; nothing was changed, try again later"}
    assert files_on_disk(media_root) == files_before
    monkeypatch.undo()
    assert snapshot(with_thumbnail) == before


def test_database_error_while_switching_current_rolls_back_the_version(
    with_thumbnail, staff_user, media_root, monkeypatch
):
    """Version saved, then the asset update failed: row rolled back, files gone."""
    before = snapshot(with_thumbnail)
    files_before = files_on_disk(media_root)

    def broken_save(self, *args, **kwargs):
        raise IntegrityError("asset update failed")

    monkeypatch.setattr(Asset, "save", broken_save)

    with pytest.raises(IntegrityError):
        services.store_thumbnail(
            asset_id=with_thumbnail.pk,
            thumbnail_base64=b64(make_image(shape="green")),
            user=staff_user,
        )

    monkeypatch.undo()
    assert snapshot(with_thumbnail) == before
    assert files_on_disk(media_root) == files_before


BAD_REGENERATIONS = [
    pytest.param(make_image(uniform=True), "Image is blank", id="uniform"),
    pytest.param(make_image((320, 200)), "at least 512x320 is required", id="too-small"),
    pytest.param(make_image()[:3000], "could not be decoded", id="truncated-jpeg"),
    pytest.param(b"\xff\xd8\xff\xe0" + bytes(500), "could not be decoded", id="undecodable"),
]


@pytest.mark.parametrize("content,message", BAD_REGENERATIONS)
def test_regeneration_failing_the_quality_gate_keeps_the_current_thumbnail(
    client, auth, with_thumbnail, failing_storage, media_root, content, message
):
    """A bad render during a forced batch is refused before anything is written."""
    before = snapshot(with_thumbnail)
    files_before = files_on_disk(media_root)
    saves_before = failing_storage.saves

    response = post_thumbnail(client, with_thumbnail.pk, content, auth)

    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert failing_storage.saves == saves_before
    assert snapshot(with_thumbnail) == before
    assert files_on_disk(media_root) == files_before


# The S3 server stopped mid-run -------------------------------------------------------


class StoppableS3:
    """A moto S3 server of this test's own, which the test can stop and start again."""

    def __init__(self):
        self.server = start_moto()
        self.endpoint_url = endpoint_of(self.server)
        self.port = self.server.get_host_and_port()[1]
        self.bucket = create_bucket(self.endpoint_url)
        self.running = True

    def stop(self):
        if self.running:
            self.server.stop()
            self.running = False

    def start(self):
        if not self.running:
            self.server = start_moto(self.port)
            self.running = True

    def keys(self):
        return bucket_keys(self.endpoint_url, self.bucket)


@pytest.fixture
def s3(settings):
    server = StoppableS3()
    use_b2_storage(settings, endpoint_url=server.endpoint_url, bucket=server.bucket)
    yield server
    server.stop()


@pytest.fixture
def s3_with_thumbnail(client, auth, s3):
    asset = Asset.objects.create(name="On S3", state=Asset.State.COMPLETE)
    response = post_thumbnail(client, asset.pk, make_image(shape="blue"), auth)
    assert response.status_code == 200, response.content
    assert len(s3.keys()) == 2
    return asset


def test_s3_down_before_the_upload_is_503_and_the_retry_succeeds(client, auth, s3, s3_with_thumbnail):
    before = snapshot(s3_with_thumbnail)
    keys_before = s3.keys()
    s3.stop()

    response = post_thumbnail(client, s3_with_thumbnail.pk, make_image(shape="red"), auth)

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE}
    assert snapshot(s3_with_thumbnail) == before
    s3.start()
    assert s3.keys() == keys_before

    retry = post_thumbnail(client, s3_with_thumbnail.pk, make_image(shape="red"), auth)

    assert retry.status_code == 200, retry.content
    s3_with_thumbnail.refresh_from_db()
    assert s3_with_thumbnail.thumbnail.name != before["thumbnail"]
    assert len(s3.keys()) == 4  # the earlier version's objects are kept


def test_s3_stopping_between_the_two_writes_leaves_an_orphan_the_cleaner_removes(client, auth, s3, s3_with_thumbnail):
    """The server dies after the first object: 503, asset unchanged; the object that
    could not be deleted while storage was down is found and removed afterwards."""
    before = snapshot(s3_with_thumbnail)
    keys_before = s3.keys()
    client_events = default_storage.connection.meta.client.meta.events

    def stop_after_first_put(**kwargs):
        client_events.unregister("after-call.s3.PutObject", stop_after_first_put)
        s3.stop()

    client_events.register("after-call.s3.PutObject", stop_after_first_put)

    response = post_thumbnail(client, s3_with_thumbnail.pk, make_image(shape="red"), auth)

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE}
    assert not s3.running
    assert snapshot(s3_with_thumbnail) == before

    s3.start()
    orphans = sorted(set(s3.keys()) - set(keys_before))
    assert len(orphans) == 1 and "-thumb-512x320" in orphans[0]

    out = StringIO()
    call_command(
        "clean_orphan_thumbnails",
        min_age=0,
        interactive=False,
        stdout=out,
        stderr=StringIO(),
    )

    assert "Deleted 1 orphan file" in out.getvalue()
    assert s3.keys() == keys_before
    assert snapshot(s3_with_thumbnail) == before


def test_clean_orphans_on_s3_respects_min_age(s3, s3_with_thumbnail):
    """A just-written unreferenced object may be an upload in flight: left alone."""
    stray = default_storage.save(f"thumbnails/{s3_with_thumbnail.pk}/stray.jpg", ContentFile(b"x"))
    out = StringIO()

    call_command("clean_orphan_thumbnails", interactive=False, stdout=out)

    assert "0 orphaned, 1 unreferenced but newer than 60 minutes" in out.getvalue()
    assert stray in s3.keys()
