"""Turntable previews (issue 13): frames in, one animated WebP derivative out; bad input
changes nothing."""

import io
import json
from urllib.parse import unquote

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.test import TestCase
from django.urls import reverse
from PIL import Image, ImageDraw, ImageSequence

from admin_tools import services
from admin_tools.models import ThumbnailDerivative, ThumbnailVersion
from admin_tools.pageconfig import page_config
from admin_tools.runner import RunOptions
from admin_tools.turntable import MAX_FRAMES
from icosa.models import Asset, Format

from .conftest import b64, import_fixture, make_image
from .fixtures.turntable import lopsided_model

pytestmark = pytest.mark.django_db


def make_asset():
    asset = Asset.objects.create(name="Model", state=Asset.State.COMPLETE)
    Format.objects.create(asset=asset, format_type="GLB", is_preferred_for_gallery_viewer=True)
    return asset


def frame(index, count=8, size=(512, 320), fmt="JPEG"):
    """A bar at a different place in each frame, like a model turning."""
    width, height = size
    image = Image.new("RGB", size, "white")
    x = width * (0.1 + 0.7 * index / count)
    ImageDraw.Draw(image).rectangle((x, height * 0.2, x + width * 0.15, height * 0.8), fill=(200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return b64(buffer.getvalue(), mime=f"image/{fmt.lower()}")


def frames(count=8, **kwargs):
    return [frame(i, count, **kwargs) for i in range(count)]


def upload_still(client, auth, asset, runner_id="r1"):
    body = {"thumbnail_base64": b64(make_image()), "runner_id": runner_id}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("api:upload_thumbnail", args=[asset.pk]), json.dumps(body), content_type="application/json", **auth
        )
    assert response.status_code == 200, response.content
    return response.json()


def post_turntable(client, auth, asset, version_id, turntable_frames, runner_id="r1"):
    body = {"version_id": str(version_id), "runner_id": runner_id, "turntable_frames": turntable_frames}
    return client.post(
        reverse("api:upload_turntable", args=[asset.pk]), json.dumps(body), content_type="application/json", **auth
    )


def stored_files(media_root):
    return sorted(str(path.relative_to(media_root)) for path in media_root.rglob("*") if path.is_file())


def listing(client, auth, asset):
    return client.get(reverse("api:asset_thumbnails", args=[asset.pk]), **auth).json()["derivatives"]


def opened(url):
    return Image.open(io.BytesIO(default_storage.open(unquote(url[len(django_settings.MEDIA_URL) :])).read()))


@pytest.fixture
def still(client, auth):
    asset = make_asset()
    return asset, upload_still(client, auth, asset)


def test_frames_become_one_animated_webp_of_the_turntable_size(client, auth, still):
    asset, stored = still
    response = post_turntable(client, auth, asset, stored["version_id"], frames(8))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["kind"], answer["format"], answer["width"], answer["height"]) == ("turntable", "WEBP", 512, 320)
    assert answer["frames"] == 8 and answer["frame_ms"] == django_settings.THUMBNAIL_TURNTABLE_FRAME_MS

    image = opened(answer["url"])
    assert image.format == "WEBP" and image.is_animated and image.n_frames == 8
    pictures, durations = [], []
    for picture in ImageSequence.Iterator(image):
        pictures.append(picture.convert("RGB"))
        durations.append(picture.info["duration"])
    assert durations == [answer["frame_ms"]] * 8
    assert all(picture.size == (512, 320) for picture in pictures)
    # The bar moves: its left edge is further right in each frame, in order.
    edges = [next(x for x in range(512) if p.getpixel((x, 160))[0] - p.getpixel((x, 160))[1] > 100) for p in pictures]
    assert edges == sorted(edges) and len(set(edges)) == 8

    listed = [item for item in listing(client, auth, asset) if item["kind"] == "turntable"]
    assert listed == [{key: answer[key] for key in ("kind", "format", "width", "height", "bytes", "has_alpha", "url")}]
    assert listed[0]["bytes"] == len(
        default_storage.open(unquote(answer["url"][len(django_settings.MEDIA_URL) :])).read()
    )


def test_larger_frames_are_brought_to_the_documented_size(client, auth, still, settings):
    asset, stored = still
    settings.THUMBNAIL_TURNTABLE_SIZE = (256, 160)
    response = post_turntable(client, auth, asset, stored["version_id"], frames(4, size=(640, 400), fmt="PNG"))
    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (256, 160)
    assert opened(response.json()["url"]).size == (256, 160)


def bad_frames():
    good = frames(4)
    blank = io.BytesIO()
    Image.new("RGB", (512, 320), "white").save(blank, format="JPEG")
    gif = io.BytesIO()
    Image.new("RGB", (512, 320), "red").save(gif, format="GIF")
    return {
        "blank": (good[:2] + [b64(blank.getvalue())] + good[3:], 422, "turntable_frames[2]: the frame is blank"),
        "not an image": (good[:1] + [b64(b"hello " * 40, mime="text/plain")], 415, "turntable_frames[1]"),
        "gif": ([*good, b64(gif.getvalue(), mime="image/gif")], 415, "Unsupported image type: image/gif"),
        "bad base64": ([*good, "data:image/jpeg;base64,@@@@"], 422, "not valid base64"),
        "empty frame": ([*good, ""], 422, "turntable_frames[4]: thumbnail_base64 is empty"),
        "mixed sizes": ([*good, frame(1, size=(640, 400))], 422, "all frames must have the same size"),
        "too small": (frames(3, size=(320, 200)), 422, "at least 512x320 is required"),
        "one frame": (good[:1], 422, "1 frames; 2 to 72 are accepted"),
        "too many": ([good[0]] * (MAX_FRAMES + 1), 422, f"{MAX_FRAMES + 1} frames; 2 to {MAX_FRAMES} are accepted"),
    }


@pytest.mark.parametrize("case", list(bad_frames()))
def test_bad_frames_are_refused_and_nothing_changes(client, auth, still, media_root, case):
    asset, stored = still
    turntable_frames, status, detail = bad_frames()[case]
    before_files = stored_files(media_root)
    before_listing = listing(client, auth, asset)

    response = post_turntable(client, auth, asset, stored["version_id"], turntable_frames)
    assert response.status_code == status, response.content
    assert detail in response.json()["detail"]
    assert stored_files(media_root) == before_files
    assert listing(client, auth, asset) == before_listing
    asset.refresh_from_db()
    assert asset.thumbnail.url == stored["thumbnail_url"]


def test_frames_over_the_upload_cap_together_are_refused(client, auth, still, settings, media_root):
    asset, stored = still
    turntable_frames = frames(8)
    settings.THUMBNAIL_MAX_UPLOAD_BYTES = sum(len(f) for f in turntable_frames) // 2
    before = stored_files(media_root)
    response = post_turntable(client, auth, asset, stored["version_id"], turntable_frames)
    assert response.status_code == 413, response.content
    assert "bytes together" in response.json()["detail"]
    assert stored_files(media_root) == before


def test_only_the_runner_that_stored_the_still_adds_its_turntable_once(client, auth, still):
    asset, stored = still
    other = post_turntable(client, auth, asset, stored["version_id"], frames(4), runner_id="someone-else")
    assert other.status_code == 409 and "another runner" in other.json()["detail"]
    assert post_turntable(client, auth, asset, stored["version_id"], frames(4)).status_code == 200
    again = post_turntable(client, auth, asset, stored["version_id"], frames(4))
    assert again.status_code == 409 and "already has a turntable" in again.json()["detail"]
    assert ThumbnailDerivative.objects.filter(kind="turntable").count() == 1


def test_unknown_versions_and_assets_are_404(client, auth, still):
    asset, stored = still
    elsewhere = make_asset()
    for target, version_id in ((elsewhere, stored["version_id"]), (asset, "999999"), (asset, "not-an-id")):
        response = post_turntable(client, auth, target, version_id, frames(2))
        assert response.status_code == 404, response.content
        assert "not found" in response.json()["detail"]
    missing = post_turntable(client, auth, type("A", (), {"pk": 2**62})(), stored["version_id"], frames(2))
    assert missing.status_code == 404


def test_turntable_needs_a_staff_token(client, still):
    asset, stored = still
    response = post_turntable(client, {}, asset, stored["version_id"], frames(2))
    assert response.status_code == 401 and "detail" in response.json()


def test_a_failed_database_write_removes_the_file(client, auth, still, media_root, monkeypatch):
    asset, stored = still
    before = stored_files(media_root)

    def broken(*args, **kwargs):
        raise DatabaseError("database went away")

    monkeypatch.setattr(ThumbnailDerivative.objects, "bulk_create", broken)
    response = post_turntable(client, auth, asset, stored["version_id"], frames(4))
    assert response.status_code == 503 and "detail" in response.json()
    assert stored_files(media_root) == before


def test_a_revert_keeps_the_turntable_of_its_version(client, auth, still, staff_user):
    asset, stored = still
    assert post_turntable(client, auth, asset, stored["version_id"], frames(4)).status_code == 200
    upload_still(client, auth, asset)  # a newer version, without a turntable
    assert not [item for item in listing(client, auth, asset) if item["kind"] == "turntable"]
    services.revert_thumbnail(version=ThumbnailVersion.objects.get(pk=stored["version_id"]), user=staff_user)
    assert [item["kind"] for item in listing(client, auth, asset)].count("turntable") == 1


def test_off_by_default(client, auth, still):
    asset, _stored = still
    config = page_config()["turntable"]
    assert config["frames"] == 0 and config["limits"] == [2, MAX_FRAMES]
    assert (config["width"], config["height"]) == tuple(django_settings.THUMBNAIL_TURNTABLE_SIZE)
    assert not ThumbnailDerivative.objects.filter(kind="turntable").exists()
    assert all(item["kind"] != "turntable" for item in listing(client, auth, asset))


def test_the_generator_page_offers_the_setting_off(client, staff_user, settings):
    client.force_login(staff_user)
    page = client.get(reverse("admin:icosa_asset_batch_thumbnails")).content.decode()
    assert 'id="bt-turntable" name="turntable" min="0" max="72" step="1" value="0"' in page
    settings.THUMBNAIL_TURNTABLE_FRAMES = 24
    page = client.get(reverse("admin:icosa_asset_batch_thumbnails")).content.decode()
    assert 'id="bt-turntable" name="turntable" min="0" max="72" step="1" value="24"' in page


def test_run_options_pass_a_requested_turntable_to_the_page():
    base = {
        "server": "http://x",
        "token": "t",
        "runner_name": "r",
        "api_base": "/api",
        "page_url": "/",
        "module_url": "/m",
    }
    assert "turntable" not in RunOptions(**base).page_config()  # the gallery's default applies
    assert RunOptions(**base, turntable=8).page_config()["turntable"] == 8
    assert RunOptions(**base, turntable=0).page_config()["turntable"] == 0


@pytest.mark.parametrize("count", ["1", "-3", str(MAX_FRAMES + 1)])
def test_render_thumbnails_refuses_a_turntable_out_of_bounds(count):
    with pytest.raises(CommandError, match="--turntable must be 0"):
        call_command("render_thumbnails", "--turntable", count, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_render_thumbnails_turntable_option_stores_one(superuser, tmp_path):
    """--turntable N reaches the headless page through the runner's page config (real Chromium)."""
    asset = import_fixture(lopsided_model(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    call_command("render_thumbnails", "--asset-ids", str(asset.pk), "--turntable", "4", stdout=out, stderr=err)
    row = ThumbnailDerivative.objects.get(version__asset=asset, version__is_current=True, kind="turntable")
    with row.file.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        assert image.n_frames == 4 and image.size == (512, 320), out.getvalue() + err.getvalue()


def test_the_gallery_card_carries_its_turntable_for_hover(client, auth, still):
    asset, stored = still
    page = client.get(reverse("icosa:gallery")).content.decode()
    assert "data-turntable" not in page
    url = post_turntable(client, auth, asset, stored["version_id"], frames(4)).json()["url"]
    page = client.get(reverse("icosa:gallery")).content.decode()
    assert f'data-turntable="{url}"' in page and "icosa/turntable-hover.js" in page
    assert page.index('<source type="image/webp"') < page.index("data-turntable") < page.index("</picture>")
