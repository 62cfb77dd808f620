"""The B2 environment variables switch the default storage to S3 on B2's endpoint.

Settings are read once at import, so each case starts a fresh interpreter with its own
environment and prints what Django resolved.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
ENDPOINT = "https://s3.us-west-004.backblazeb2.com"

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.core.files.storage import storages

config = settings.STORAGES["default"]
storage = storages["default"]
out = {
    "backend": config["BACKEND"],
    "class": f"{type(storage).__module__}.{type(storage).__name__}",
    "options": sorted(config.get("OPTIONS", {})),
    "url": storage.url("thumbnails/9007199254740993/abc-thumb-512x320.jpg"),
}
if hasattr(storage, "bucket_name"):
    client = storage.connection.meta.client  # built locally; no request is sent
    out.update(
        bucket=storage.bucket_name,
        endpoint=client.meta.endpoint_url,
        region=client.meta.region_name,
        request_checksum=client.meta.config.request_checksum_calculation,
        response_checksum=client.meta.config.response_checksum_validation,
        file_overwrite=storage.file_overwrite,
        querystring_auth=storage.querystring_auth,
        default_acl=storage.default_acl,
    )
else:
    out["location"] = str(storage.location)
print(json.dumps(out))
"""


def resolve_storage(**env):
    """Run the probe in a child process with the B2 variables given and no others."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("B2_")}
    child_env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="settings-test-secret",
        JWT_SECRET_KEY="settings-test-jwt-secret-of-32-bytes-or-more",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


B2_ENV = {
    "B2_BUCKET_NAME": "gallery-thumbs",
    "B2_KEY_ID": "0041234567890ab0000000001",
    "B2_APPLICATION_KEY": "K004notarealapplicationkey",
    "B2_ENDPOINT_URL": ENDPOINT,
    "B2_REGION": "us-west-004",
}


def test_b2_variables_select_s3_storage_with_b2_checksum_settings():
    resolved = resolve_storage(**B2_ENV)

    # S3Storage with per-file ContentType/ContentDisposition (icosa.storage)
    assert resolved["backend"] == "icosa.storage.GalleryS3Storage"
    assert resolved["class"] == "icosa.storage.GalleryS3Storage"
    assert resolved["bucket"] == "gallery-thumbs"
    assert resolved["endpoint"] == ENDPOINT
    assert resolved["region"] == "us-west-004"
    assert resolved["request_checksum"] == "when_required"
    assert resolved["response_checksum"] == "when_required"
    assert resolved["file_overwrite"] is False
    assert resolved["querystring_auth"] is False
    assert resolved["default_acl"] is None
    assert resolved["url"] == (f"{ENDPOINT}/gallery-thumbs/thumbnails/9007199254740993/abc-thumb-512x320.jpg")


def test_b2_custom_domain_serves_thumbnail_urls():
    """With a CDN domain in front of the bucket, URLs use it and are unsigned."""
    resolved = resolve_storage(**B2_ENV, B2_CUSTOM_DOMAIN="cdn.example.com")

    assert resolved["endpoint"] == ENDPOINT
    assert resolved["url"] == ("https://cdn.example.com/thumbnails/9007199254740993/abc-thumb-512x320.jpg")


def test_without_b2_variables_files_stay_on_the_local_filesystem(tmp_path):
    resolved = resolve_storage(MEDIA_ROOT=str(tmp_path / "media"))

    assert resolved["backend"] == "django.core.files.storage.FileSystemStorage"
    assert resolved["options"] == []
    assert resolved["location"] == str(tmp_path / "media")
    assert resolved["url"] == "/media/thumbnails/9007199254740993/abc-thumb-512x320.jpg"
