"""The S3 storage path (Backblaze B2 in production) against moto's server on 127.0.0.1.

The storage options are the ones ``config/settings.py`` builds from the B2 environment
variables, aimed at the local server, so a change to that block is tested here too.
"""

import io
import json
import runpy
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import default_storage, storages
from moto.server import ThreadedMotoServer
from PIL import Image
from storages.backends.s3 import S3Storage

from admin_tools.models import ThumbnailVersion
from icosa.models import Asset

from .conftest import b64, make_image

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "config" / "settings.py"
REGION = "us-west-004"
KEY_ID = "test-key-id"
APP_KEY = "test-application-key"


def upload_url(asset_id):
    return f"/api/v1/admin/assets/{asset_id}/thumbnail"


def post_thumbnail(client, asset_id, content, auth):
    return client.post(
        upload_url(asset_id),
        json.dumps({"thumbnail_base64": b64(content), "runner_id": "r"}),
        content_type="application/json",
        **auth,
    )


def start_moto(port=0):
    """A moto S3 server on 127.0.0.1; port 0 picks a free one."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def endpoint_of(server):
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def s3_client(endpoint_url):
    """A plain boto3 client for looking at the bucket (not the one under test)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=APP_KEY,
        region_name=REGION,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def create_bucket(endpoint_url):
    bucket = f"thumbs-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint_url).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return bucket


def bucket_keys(endpoint_url, bucket):
    pages = s3_client(endpoint_url).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def b2_default_storage(*, endpoint_url, bucket):
    """``STORAGES["default"]`` exactly as config/settings.py builds it for B2."""
    env = {
        "B2_BUCKET_NAME": bucket,
        "B2_KEY_ID": KEY_ID,
        "B2_APPLICATION_KEY": APP_KEY,
        "B2_ENDPOINT_URL": endpoint_url,
        "B2_REGION": REGION,
        "DJANGO_SECRET_KEY": "s3-test-secret",
        "JWT_SECRET_KEY": "s3-test-jwt-secret-of-at-least-32-bytes",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in ("B2_CUSTOM_DOMAIN", "B2_QUERYSTRING_AUTH"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        namespace = runpy.run_path(str(SETTINGS_FILE))
    return namespace["STORAGES"]["default"]


def use_b2_storage(settings, *, endpoint_url, bucket):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": b2_default_storage(endpoint_url=endpoint_url, bucket=bucket),
    }


class HeaderRecorder:
    """Records the headers of every request a boto3 client puts on the wire."""

    def __init__(self):
        self.requests = []

    def __call__(self, request, event_name, **kwargs):
        operation = event_name.rsplit(".", 1)[-1]
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else value
            for name, value in request.headers.items()
        }
        self.requests.append((operation, headers))

    def attach(self, client):
        client.meta.events.register("before-send.s3", self)
        return self

    def headers_of(self, operation):
        return [headers for op, headers in self.requests if op == operation]


def checksum_headers(headers):
    return sorted(
        name for name in headers if name.startswith("x-amz-checksum-") or name == "x-amz-sdk-checksum-algorithm"
    )


@pytest.fixture(scope="session")
def s3_endpoint():
    server = start_moto()
    yield endpoint_of(server)
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    return create_bucket(s3_endpoint)


@pytest.fixture
def s3_storage(settings, s3_endpoint, s3_bucket):
    """The default storage is django-storages' S3 backend on the local server."""
    use_b2_storage(settings, endpoint_url=s3_endpoint, bucket=s3_bucket)
    return default_storage


@pytest.fixture
def wire(s3_storage):
    """Headers of the requests the storage under test sends (the client's thread)."""
    return HeaderRecorder().attach(s3_storage.connection.meta.client)


def read_jpeg(endpoint_url, bucket, key):
    obj = s3_client(endpoint_url).get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    image = Image.open(io.BytesIO(body))
    image.load()
    return obj, body, image


def test_settings_block_selects_s3_storage_on_the_endpoint(s3_storage, s3_endpoint, s3_bucket):
    """The options under test are S3Storage with B2's checksum settings."""
    storage = storages["default"]
    assert isinstance(storage, S3Storage)
    assert storage.endpoint_url == s3_endpoint
    assert storage.bucket_name == s3_bucket
    assert storage.file_overwrite is False
    config = storage.connection.meta.client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"


@pytest.mark.django_db
def test_upload_writes_both_jpegs_to_the_bucket(client, auth, big_ids, s3_storage, s3_endpoint, s3_bucket, wire):
    """An API upload lands as two image/jpeg objects the asset points at."""
    asset = Asset.objects.create(name="On S3", state=Asset.State.COMPLETE)
    assert asset.pk > 2**53

    response = post_thumbnail(client, asset.pk, make_image((1600, 1000)), auth)

    assert response.status_code == 200, response.content
    body = response.json()
    asset.refresh_from_db()
    assert bucket_keys(s3_endpoint, s3_bucket) == sorted([asset.thumbnail.name, asset.preview_image.name])
    assert asset.thumbnail.name.startswith(f"thumbnails/{asset.pk}/")
    assert asset.preview_image.name.startswith(f"thumbnails/{asset.pk}/")

    thumb_obj, thumb_bytes, thumb = read_jpeg(s3_endpoint, s3_bucket, asset.thumbnail.name)
    preview_obj, _, preview = read_jpeg(s3_endpoint, s3_bucket, asset.preview_image.name)
    assert thumb_obj["ContentType"] == "image/jpeg"
    assert preview_obj["ContentType"] == "image/jpeg"
    assert (thumb.format, thumb.size) == ("JPEG", (512, 320))
    assert preview.format == "JPEG"
    assert preview.width <= 1280 and preview.height <= 800
    assert preview.size == (1280, 800)  # 1600x1000 scaled down to fit, aspect kept

    assert len(thumb_bytes) == body["bytes"] == asset.thumbnail_bytes
    assert (body["width"], body["height"]) == (512, 320)
    version = ThumbnailVersion.objects.get(asset=asset)
    assert version.is_current
    assert (version.thumbnail.name, version.preview_image.name) == (
        asset.thumbnail.name,
        asset.preview_image.name,
    )

    # Unsigned path-style URLs on the S3 endpoint, naming the objects just checked.
    assert body["thumbnail_url"] == f"{s3_endpoint}/{s3_bucket}/{asset.thumbnail.name}"
    assert body["preview_image_url"] == f"{s3_endpoint}/{s3_bucket}/{asset.preview_image.name}"


@pytest.mark.django_db
def test_put_object_carries_no_checksum_headers(client, auth, s3_storage, wire):
    """B2 rejects boto3's default CRC headers, so PutObject must go out without them."""
    asset = Asset.objects.create(name="Headers", state=Asset.State.COMPLETE)

    response = post_thumbnail(client, asset.pk, make_image(), auth)

    assert response.status_code == 200, response.content
    puts = wire.headers_of("PutObject")
    assert len(puts) == 2
    for headers in puts:
        assert checksum_headers(headers) == []
        assert headers["content-type"] == "image/jpeg"
    assert all(checksum_headers(headers) == [] for _, headers in wire.requests)


def test_header_check_sees_boto3_default_checksums(s3_endpoint, s3_bucket):
    """Control: with boto3's defaults the recorder does see the headers B2 rejects."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=APP_KEY,
        region_name=REGION,
    )
    wire = HeaderRecorder().attach(client)

    client.put_object(Bucket=s3_bucket, Key="control.jpg", Body=b"\xff\xd8\xff")

    (headers,) = wire.headers_of("PutObject")
    assert "x-amz-sdk-checksum-algorithm" in checksum_headers(headers)


@pytest.mark.django_db
def test_same_image_twice_keeps_both_objects(client, auth, s3_storage, s3_endpoint, s3_bucket):
    """file_overwrite is off: an identical re-upload gets new keys; old objects stay."""
    asset = Asset.objects.create(name="Twice", state=Asset.State.COMPLETE)
    image = make_image()

    first = post_thumbnail(client, asset.pk, image, auth)
    second = post_thumbnail(client, asset.pk, image, auth)

    assert first.status_code == second.status_code == 200
    versions = list(ThumbnailVersion.objects.filter(asset=asset).order_by("id"))
    assert len(versions) == 2
    names = {v.thumbnail.name for v in versions} | {v.preview_image.name for v in versions}
    assert len(names) == 4
    assert bucket_keys(s3_endpoint, s3_bucket) == sorted(names)
    asset.refresh_from_db()
    assert asset.thumbnail.name == versions[1].thumbnail.name
