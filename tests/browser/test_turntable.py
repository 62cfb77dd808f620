"""Turntable previews end to end: the headless page renders the orbit with the one renderer,
the server stores an animated WebP, and its frames show the model turning (pixels)."""

import io
import json

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageChops, ImageSequence, ImageStat

from admin_tools.models import ThumbnailDerivative, ThumbnailVersion
from tests.fixtures.turntable import lopsided_model

from .pixels import assert_shows_a_model

pytestmark = pytest.mark.browser
BACKGROUND = "#e8eaed"
MODULE = "/static/batch_thumbs/headless.js"


@pytest.fixture
def lopsided(tmp_path):
    return lopsided_model(tmp_path)


@pytest.fixture
def headless_page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("batch_thumbs:headless"))
    yield page
    context.close()


def call(page, name, *args):
    return page.evaluate(
        "async ([module, name, args]) => (await import(module))[name](...args)", [MODULE, name, list(args)]
    )


def claim(token):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        reverse("api:claim_thumbnail_jobs"),
        json.dumps({"runner_id": "turntable-tests", "count": 10}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["assets"]


def red_centre(image):
    """Mean x of the clearly red pixels, as a share of the width (None without any)."""
    data = image.resize((128, 80)).tobytes()
    pixels = (data[i : i + 3] for i in range(0, len(data), 3))
    xs = [i % 128 for i, (r, g, b) in enumerate(pixels) if r > 120 and r > 2 * g and r > 2 * b]
    return sum(xs) / len(xs) / 128 if xs else None


def test_turntable_of_eight_frames_shows_the_model_turning(
    headless_page, import_models, lopsided, staff_token, render_settings
):
    (asset,) = import_models(lopsided)
    call(
        headless_page,
        "setup",
        {"token": staff_token, "runnerId": "turntable-tests", "width": 640, "height": 400, "turntable": 8},
    )
    (claimed,) = claim(staff_token)

    result = call(headless_page, "processOne", claimed)
    assert result["status"] == "done", result
    assert "turntableError" not in result, result["turntableError"]
    assert result["turntable"]["frames"] == 8
    assert result["timings"]["turntable"] > 0 and result["timings"]["turntableUpload"] > 0

    version = ThumbnailVersion.objects.get(asset=asset, is_current=True)
    row = ThumbnailDerivative.objects.get(version=version, kind="turntable")
    assert (row.format, row.width, row.height) == ("WEBP", 512, 320)
    with row.file.open("rb") as handle:
        content = handle.read()
    assert len(content) == row.bytes == result["turntable"]["bytes"]
    image = Image.open(io.BytesIO(content))
    assert image.is_animated and image.n_frames == 8
    frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]

    for index, frame in enumerate(frames):
        assert frame.size == (512, 320)
        assert_shows_a_model(frame, BACKGROUND, label=f"frame {index}")
    # It turns: every two frames differ clearly, and the red block travels across the picture.
    for i in range(8):
        for j in range(i + 1, 8):
            difference = max(ImageStat.Stat(ImageChops.difference(frames[i], frames[j])).mean)
            assert difference > 3, f"frames {i} and {j} look the same ({difference:.1f})"
    centres = [red_centre(frame) for frame in frames]
    seen = [c for c in centres if c is not None]
    assert len(seen) >= 5 and max(seen) - min(seen) > 0.2, centres
    # The still is what it was without a turntable: the current version's own JPEGs.
    assert version.width == 512 and version.thumbnail.name.endswith(".jpg")


def test_no_turntable_unless_asked(headless_page, import_models, lopsided, staff_token, render_settings):
    import_models(lopsided)
    call(headless_page, "setup", {"token": staff_token, "runnerId": "turntable-tests", "width": 640, "height": 400})
    (claimed,) = claim(staff_token)
    result = call(headless_page, "processOne", claimed)
    assert result["status"] == "done", result
    assert "turntable" not in result and "turntable" not in result["timings"]
    assert not ThumbnailDerivative.objects.filter(kind="turntable").exists()


def test_gallery_card_plays_the_turntable_on_hover(page, live_server, transactional_db, staff_token):
    from tests.test_turntable import frames, make_asset, post_turntable, upload_still

    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_token}"}
    client = Client()
    asset = make_asset()
    stored = upload_still(client, auth, asset)
    url = post_turntable(client, auth, asset, stored["version_id"], frames(4)).json()["url"]

    page.goto(live_server.url + reverse("icosa:gallery"))
    card = page.locator(".card a").first
    assert page.locator("img.turntable").count() == 0  # nothing fetched before a hover
    card.hover()
    overlay = page.locator("img.turntable")
    overlay.wait_for()
    page.wait_for_function("() => document.querySelector('img.turntable').complete")
    assert overlay.get_attribute("src") == url
    assert overlay.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [512, 320]
    page.mouse.move(5, 5)
    assert page.locator("img.turntable").count() == 0


def test_a_refused_turntable_leaves_the_still_done(
    headless_page, import_models, lopsided, staff_token, render_settings
):
    (asset,) = import_models(lopsided)
    call(headless_page, "setup", {"token": staff_token, "runnerId": "turntable-tests", "width": 640, "height": 400})
    headless_page.route(
        "**/turntable",
        lambda route: route.fulfill(status=422, content_type="application/json", body='{"detail": "frame refused"}'),
    )
    (claimed,) = claim(staff_token)
    result = call(headless_page, "processOne", claimed, {"turntable": 4})
    assert result["status"] == "done", result
    assert result["turntableError"] == "Turntable not stored: HTTP 422: frame refused"
    version = ThumbnailVersion.objects.get(asset=asset, is_current=True)
    assert not version.derivatives.filter(kind="turntable").exists()
    with version.thumbnail.open("rb") as handle:
        assert_shows_a_model(Image.open(handle).convert("RGB"), BACKGROUND, label="the still")


def test_the_generator_page_setting_stores_a_turntable(generator, import_models, lopsided):
    """The page's Turntable frames field reaches the pipeline (page.js → batch-run.js)."""
    (asset,) = import_models(lopsided)
    generator.open()
    generator.page.get_by_label("Turntable frames (0 = off)").fill("3")
    generator.start()
    assert generator.wait_until_over() == "finished"
    row = ThumbnailDerivative.objects.get(version__asset=asset, version__is_current=True, kind="turntable")
    with row.file.open("rb") as handle:
        assert Image.open(io.BytesIO(handle.read())).n_frames == 3
