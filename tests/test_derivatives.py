"""Quality records and the extra sizes/formats of a thumbnail (issue 13, server side)."""

import io
import json
import math
import threading
from urllib.parse import unquote

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.test import TestCase
from PIL import Image

from admin_tools import services
from admin_tools.models import ThumbnailDerivative, ThumbnailVersion
from admin_tools.selectors import referenced_files
from icosa.models import Asset, Format

from .conftest import b64, make_image
from .fixtures.derivs import transparent_png

pytestmark = pytest.mark.django_db

FLAGGED = {
    "coverage": 0.41,
    "margin": 0.06,
    "luminance": 0.02,
    "contrast": 0.03,
    "flags": ["dark_subject", "low_contrast"],
}
CLEAN = {"coverage": 0.52, "margin": 0.06, "luminance": 0.48, "contrast": 0.3, "flags": []}


def upload_url(asset_id):
    return f"/api/v1/admin/assets/{asset_id}/thumbnail"


def listing_url(asset_id):
    return f"/api/v1/admin/assets/{asset_id}/thumbnails"


def make_asset(name="Model"):
    asset = Asset.objects.create(name=name, state=Asset.State.COMPLETE)
    Format.objects.create(asset=asset, format_type="GLB", is_preferred_for_gallery_viewer=True)
    return asset


def derivatives(client, auth, asset):
    return client.get(listing_url(asset.pk), **auth).json()["derivatives"]


def upload(client, auth, asset, content=None, *, quality=None, mime="image/jpeg"):
    """Post an upload and run what its commit schedules (the test's transaction never commits)."""
    body = {"thumbnail_base64": b64(content or make_image(), mime=mime), "runner_id": "r1"}
    if quality is not None:
        body["render_settings"] = {"width": 1280, "quality": quality}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(upload_url(asset.pk), json.dumps(body), content_type="application/json", **auth)


def stored_name(url):
    return unquote(url[len(django_settings.MEDIA_URL) :])


def opened(item):
    """The stored file of a listed derivative, decoded; it must match what the listing says."""
    name = stored_name(item["url"])
    content = default_storage.open(name).read()
    assert len(content) == item["bytes"], name
    image = Image.open(io.BytesIO(content))
    assert image.size == (item["width"], item["height"]) and image.format == item["format"], name
    return image


def sizes(listing):
    return sorted((d["kind"], d["format"], d["width"], d["height"]) for d in listing)


EXPECTED = sorted(
    [("thumbnail", fmt, w, h) for w, h in ((256, 160), (512, 320), (1024, 640)) for fmt in ("JPEG", "WEBP")]
    + [("preview", "JPEG", 1280, 800), ("preview", "WEBP", 1280, 800)]
)


# -- quality record -------------------------------------------------------------------------


def test_quality_record_is_stored_and_flags_the_asset(client, auth):
    asset = make_asset()
    response = upload(client, auth, asset, quality=FLAGGED)
    assert response.status_code == 200, response.content
    quality = response.json()["quality"]
    assert quality["flags"] == ["dark_subject", "low_contrast"] and quality["needs_review"] is True
    version = ThumbnailVersion.objects.get(is_current=True)
    assert (version.coverage, version.luminance, version.contrast) == (0.41, 0.02, 0.03)
    asset.refresh_from_db()
    assert asset.thumbnail_needs_review is True
    # A clean retake clears the mark; reverting to the flagged version brings it back.
    assert upload(client, auth, asset, make_image(shape="green"), quality=CLEAN).status_code == 200
    asset.refresh_from_db()
    assert asset.thumbnail_needs_review is False
    services.revert_thumbnail(version=version, user=None)
    asset.refresh_from_db()
    assert asset.thumbnail_needs_review is True
    assert ThumbnailVersion.objects.get(is_current=True).quality_flags == ["dark_subject", "low_contrast"]


@pytest.mark.parametrize(
    "quality, message",
    [
        ({**CLEAN, "flags": ["blurry"]}, "'blurry' is not a quality flag"),
        ({**CLEAN, "luminance": 1.5}, "quality.luminance: 1.5 is not between 0 and 1"),
        ({**CLEAN, "contrast": "high"}, "quality.contrast: expected a number"),
        ({**CLEAN, "flags": "dark_subject"}, "quality.flags: expected a list of strings"),
        ({**CLEAN, "sharpness": 0.2}, "quality: unknown keys sharpness"),
        ("dark", "quality: expected an object"),
    ],
)
def test_malformed_quality_record_is_422_and_stores_nothing(client, auth, quality, message):
    asset = make_asset()
    response = upload(client, auth, asset, quality=quality)
    assert response.status_code == 422
    assert message in json.dumps(response.json())
    assert not ThumbnailVersion.objects.exists() and not default_storage.exists("thumbnails")


def test_a_bare_number_is_the_old_jpeg_quality_not_a_record(client, auth):
    asset = make_asset()
    assert upload(client, auth, asset, quality=0.85).status_code == 200
    version = ThumbnailVersion.objects.get()
    assert version.needs_review is False and version.quality_flags == [] and version.coverage is None


def test_admin_filters_assets_whose_thumbnail_needs_review_and_shows_the_record(client, auth, superuser):
    flagged, clean = make_asset("Dark car"), make_asset("Bright cube")
    upload(client, auth, flagged, quality=FLAGGED)
    upload(client, auth, clean, make_image(shape="green"), quality=CLEAN)
    client.force_login(superuser)  # the version history inline needs the version model's view right
    page = client.get("/admin/icosa/asset/?thumbnail_needs_review__exact=1").content.decode()
    assert "Dark car" in page and "Bright cube" not in page
    assert "thumbnail needs review" in client.get("/admin/icosa/asset/").content.decode()
    change = client.get(f"/admin/icosa/asset/{flagged.pk}/change/").content.decode()
    assert "dark_subject, low_contrast" in change and "luminance 0.02" in change


# -- derivatives ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_upload_lists_every_size_and_format_and_each_file_exists(client, auth):
    """Made before the answer (THUMBNAIL_DERIVATIVES_ASYNC off): the answer lists them all."""
    asset = make_asset()
    response = upload(client, auth, asset)
    assert response.status_code == 200, response.content
    listing = response.json()["derivatives"]
    assert sizes(listing) == EXPECTED
    for item in listing:
        image = opened(item)
        assert image.mode == "RGB" and item["has_alpha"] is False
    first = listing[0]
    assert first["url"] == response.json()["thumbnail_url"] and first["format"] == "JPEG"
    assert client.get(listing_url(asset.pk), **auth).json()["derivatives"] == listing


def test_read_endpoint_without_thumbnail_and_for_unknown_assets(client, auth):
    asset = make_asset()
    body = client.get(listing_url(asset.pk), **auth).json()
    assert body == {"asset_id": str(asset.pk), "version_id": None, "quality": None, "derivatives": []}
    assert client.get(listing_url(asset.pk + 1000), **auth).status_code == 404
    assert client.get(listing_url("12x"), **auth).status_code == 404
    assert client.get(listing_url(asset.pk)).status_code == 401


def test_widths_come_from_settings_and_never_upscale(client, auth, settings):
    settings.THUMBNAIL_DERIVATIVE_WIDTHS = (128, 2048)
    asset = make_asset()
    upload(client, auth, asset)
    listing = derivatives(client, auth, asset)
    widths = {d["width"] for d in listing if d["kind"] == "thumbnail"}
    assert widths == {128, 512}  # 2048 is wider than the 1280x800 capture; 512 is THUMBNAIL_SIZE
    for item in listing:
        opened(item)


def test_transparent_png_keeps_alpha_in_webp_and_png_and_flattens_jpeg(client, auth):
    asset = make_asset()
    response = upload(client, auth, asset, transparent_png(), mime="image/png")
    assert response.status_code == 200, response.content
    listing = derivatives(client, auth, asset)
    by_key = {(d["kind"], d["format"], d["width"]): d for d in listing}
    png = opened(by_key[("preview", "PNG", 1280)])
    assert png.mode == "RGBA" and png.getpixel((5, 5))[3] == 0 and png.getpixel((640, 400))[3] == 255
    webp = opened(by_key[("thumbnail", "WEBP", 256)]).convert("RGBA")
    assert webp.getpixel((3, 3))[3] == 0 and webp.getpixel((128, 80))[3] == 255
    jpeg = opened(by_key[("thumbnail", "JPEG", 1024)])
    assert jpeg.mode == "RGB" and min(jpeg.getpixel((4, 4))) > 240  # flattened on white
    assert all(d["has_alpha"] == (d["format"] != "JPEG") for d in listing)


@pytest.mark.django_db(transaction=True)
def test_background_derivatives_are_listed_once_their_files_exist(client, auth, settings):
    """THUMBNAIL_DERIVATIVES_ASYNC: the answer lists only stored files; the rest follow."""
    settings.THUMBNAIL_DERIVATIVES_ASYNC = True
    asset = make_asset()
    hold = threading.Event()
    services._background().submit(hold.wait, 30)  # keep the worker busy until we look
    try:
        response = upload(client, auth, asset)
        listing = response.json()["derivatives"]
        assert sizes(listing) == [("preview", "JPEG", 1280, 800), ("thumbnail", "JPEG", 512, 320)]
        for item in listing:
            opened(item)
    finally:
        hold.set()
    services._background().submit(lambda: None).result(timeout=60)
    listing = client.get(listing_url(asset.pk), **auth).json()["derivatives"]
    assert sizes(listing) == EXPECTED
    for item in listing:
        opened(item)


def test_a_full_derivatives_backlog_makes_the_next_upload_wait(monkeypatch, settings):
    """Each waiting job holds its upload's pixels: past MAX_PENDING_DERIVATIVES, scheduling
    (an upload's answer, after its commit) waits for a place instead of queueing more."""
    settings.THUMBNAIL_DERIVATIVES_ASYNC = True
    release, done = threading.Event(), []

    def slow_job(asset_id, version_id, derivatives, *, own_connection):
        release.wait(30)
        done.append(version_id)

    monkeypatch.setattr(services, "_extra_derivatives_job", slow_job)
    limit = services.MAX_PENDING_DERIVATIVES
    try:
        for version_id in range(limit):
            services._schedule_extra_derivatives(1, version_id, None)  # returns at once
        waiting = threading.Thread(target=services._schedule_extra_derivatives, args=(1, limit, None))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the upload past the limit must wait for a place"
    finally:
        release.set()
    waiting.join(30)
    assert not waiting.is_alive()
    services._background().submit(lambda: None).result(timeout=30)
    assert sorted(done) == list(range(limit + 1))
    # Every place was given back.
    assert all(services._pending_derivatives.acquire(blocking=False) for _ in range(limit))
    for _ in range(limit):
        services._pending_derivatives.release()


def _psnr(a, b):
    from PIL import ImageChops, ImageStat

    mse = sum(v * v for v in ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms) / 3
    return float("inf") if mse == 0 else 10 * math.log10(255 * 255 / mse)


def test_the_cheaper_card_and_preview_stay_faithful_to_the_capture(client, auth):
    """The answer path's shortcuts (one box reduce, BICUBIC after it, a preview without the
    Huffman pass) keep both JPEGs close to a fair resize of the capture (bench/README.md)."""
    from PIL import ImageChops, ImageDraw, ImageFilter

    source = Image.new("RGB", (1280, 800), "#dfe3e8")
    ImageDraw.Draw(source).ellipse((320, 120, 960, 680), fill="#c0392b")
    ImageDraw.Draw(source).rectangle((800, 450, 1100, 700), fill="#2b6cb0")
    grain = Image.effect_noise((1280, 800), 40).filter(ImageFilter.GaussianBlur(1)).convert("RGB")
    source = ImageChops.blend(source, ImageChops.multiply(source, grain), 0.3)
    buffer = io.BytesIO()
    source.save(buffer, format="JPEG", quality=95)
    source = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    asset = make_asset()
    assert upload(client, auth, asset, buffer.getvalue()).status_code == 200
    asset.refresh_from_db()
    with default_storage.open(asset.thumbnail.name) as f:
        card = Image.open(f).convert("RGB")
    with default_storage.open(asset.preview_image.name) as f:
        preview = Image.open(f).convert("RGB")
    assert card.size == (512, 320) and preview.size == (1280, 800)
    assert _psnr(card, source.resize((512, 320), Image.Resampling.LANCZOS)) > 37
    assert _psnr(preview, source) > 40


def test_each_card_width_is_resized_once_for_both_formats(monkeypatch):
    """The background job's resizes were half its time: an opaque upload's JPEG and WebP of
    one width share one crop, and the thumbnail-sized WebP is the stored thumbnail's pixels."""
    from admin_tools import images

    derivatives = images.make_derivatives(make_image((1280, 800)))
    resized = []
    real_fill = images._fill
    monkeypatch.setattr(images, "_fill", lambda image, size, *a: resized.append(size) or real_fill(image, size, *a))
    extras = images.extra_derivatives(derivatives)
    assert sorted(resized) == [(256, 160), (1024, 640)]
    by_key = {(e.kind, e.format, e.width): Image.open(io.BytesIO(e.content)).convert("RGB") for e in extras}
    thumbnail = Image.open(io.BytesIO(derivatives.thumbnail.content)).convert("RGB")
    assert _psnr(by_key[("thumbnail", "WEBP", 512)], thumbnail) > 30
    assert _psnr(by_key[("thumbnail", "WEBP", 1024)], by_key[("thumbnail", "JPEG", 1024)]) > 30


def test_derivatives_of_a_version_pruned_meanwhile_leave_no_files(staff_user):
    asset = make_asset()
    content = make_image()
    from admin_tools.images import make_derivatives

    derivatives = make_derivatives(content)
    with pytest.raises(ThumbnailVersion.DoesNotExist):
        services.store_extra_derivatives(asset_id=asset.pk, version_id=999999, derivatives=derivatives)
    assert not ThumbnailDerivative.objects.exists()
    folder = default_storage.exists("thumbnails") and default_storage.listdir("thumbnails")
    assert not folder or not any(default_storage.listdir(f"thumbnails/{d}")[1] for d in folder[0])


def test_revert_lists_the_same_files_and_they_stay_referenced(client, auth):
    asset = make_asset()
    first = upload(client, auth, asset).json()
    first["derivatives"] = derivatives(client, auth, asset)
    upload(client, auth, asset, make_image(shape="green"))
    old = ThumbnailVersion.objects.get(pk=int(first["version_id"]))
    reverted = services.revert_thumbnail(version=old, user=None)
    listing = client.get(listing_url(asset.pk), **auth).json()
    assert listing["version_id"] == str(reverted.pk)
    assert [d["url"] for d in listing["derivatives"]] == [d["url"] for d in first["derivatives"]]
    names = {stored_name(d["url"]) for d in first["derivatives"]}
    assert names <= referenced_files()
    # Without both versions only the asset's own two JPEGs stay referenced.
    extras = {stored_name(d["url"]) for d in first["derivatives"][2:]}
    assert names - referenced_files(exclude_versions=[old.pk, reverted.pk]) == extras


def test_gallery_uses_picture_with_webp_first_and_jpeg_fallback(client, auth):
    asset = make_asset("Blue thing")
    Asset.objects.filter(pk=asset.pk).update(visibility=Asset.Visibility.PUBLIC)
    upload(client, auth, asset)
    listing = derivatives(client, auth, asset)
    page = client.get("/").content.decode()
    webp = page.index('<source type="image/webp"')
    jpeg = page.index('<source type="image/jpeg"')
    assert webp < jpeg < page.index('<img src="')
    for item in listing:
        if item["kind"] == "thumbnail":
            assert f"{item['url']} {item['width']}w" in page
    asset.refresh_from_db()
    detail = client.get(asset.get_absolute_url()).content.decode()
    preview_webp = next(d for d in listing if d["kind"] == "preview" and d["format"] == "WEBP")
    assert f"{preview_webp['url']} 1280w" in detail and 'class="preview"' in detail


def test_gallery_query_count_does_not_grow_with_cards(client, auth, django_assert_max_num_queries):
    for i in range(6):
        asset = make_asset(f"m{i}")
        upload(client, auth, asset, make_image(shape=["red", "green", "blue", "orange", "purple", "black"][i]))
    with django_assert_max_num_queries(6):
        assert client.get("/").status_code == 200
