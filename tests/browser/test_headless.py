"""headless.js (and through it pipeline.js, loaders/, renderer.js) on the headless page."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from icosa.models import Asset
from tests.fixtures.models import FAILURES

from .pixels import assert_shows_a_model, open_field

pytestmark = pytest.mark.browser
BACKGROUND = "#e8eaed"  # headless.js's default

MODULE = "/static/batch_thumbs/headless.js"
RENDER_ONLY = {"upload": False, "report": False}


class Headless:
    """Drives headless.js the way the Python runner does: page.evaluate on the module."""

    def __init__(self, page: Page, token: str):
        self.page = page
        self.config = {"token": token, "runnerId": "browser-tests", "width": 640, "height": 400, "timeoutSeconds": 20}
        self.info = self.call("setup", self.config)

    def show_canvas(self):
        """Put the live canvas on the page (a run keeps it out of the document)."""
        self.call("setup", {**self.config, "show": True})

    def call(self, name, *args):
        return self.page.evaluate(
            "async ([module, name, args]) => (await import(module))[name](...args)", [MODULE, name, list(args)]
        )

    def render_only(self, asset, options=None):
        """``processOne`` without upload or failure report: load, render, capture."""
        return self.call("processOne", asset, {**(options or {}), **RENDER_ONLY})

    def start(self, name, *args):
        """Call without waiting; ``finish()`` returns the result."""
        self.page.evaluate(
            "([module, name, args]) => { globalThis.__pending = import(module).then((m) => m[name](...args)); }",
            [MODULE, name, list(args)],
        )

    def finish(self):
        return self.page.evaluate("() => globalThis.__pending")


@pytest.fixture
def api(staff_token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {staff_token}")

    def listing(**params):
        response = client.get(reverse("api:missing_thumbnails"), {"limit": 100, **params})
        assert response.status_code == 200, response.content
        return {asset["id"]: asset for asset in json.loads(response.content)["assets"]}

    def claim(**body):
        response = client.post(
            reverse("api:claim_thumbnail_jobs"),
            json.dumps({"runner_id": "browser-tests", "count": 100, **body}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return {asset["id"]: asset for asset in json.loads(response.content)["assets"]}

    listing.claim = claim
    return listing


@pytest.fixture(scope="module")
def headless_page(browser, live_server):
    """One page for the whole module, as the runner reuses its pages: the renderer, decoders
    and compiled shaders carry over from test to test, as they do over a real batch."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("batch_thumbs:headless"))
    yield page
    context.close()


@pytest.fixture
def headless(headless_page, staff_token):
    yield Headless(headless_page, staff_token)  # setup() again: this test's token
    headless_page.unroute_all(behavior="ignoreErrors")


def by_name(assets, name):
    return next(asset for asset in assets.values() if asset["name"] == name)


def test_setup_creates_a_webgl_renderer(headless):
    assert "SwiftShader" in headless.info["rendererString"]
    assert headless.info["maxTextureSize"] >= 4096
    assert (headless.info["width"], headless.info["height"]) == (640, 400)
    # Not composited after every draw: a run's canvas stays out of the document.
    assert headless.page.evaluate("() => document.querySelectorAll('canvas').length") == 0
    headless.show_canvas()
    assert headless.page.evaluate("() => document.querySelector('#batch-thumbs-headless canvas').width") == 640
    headless.call("setup", headless.config)
    assert headless.page.evaluate("() => document.querySelectorAll('canvas').length") == 0


def test_process_one_uploads_to_the_exact_64_bit_id(headless, import_models, sample_models, api):
    duck, fox = import_models(*sample_models.named("textured-box", "gold-metal"))
    assert duck.pk == 2**53 + 1  # 2**53 + 1 becomes 2**53 as a JavaScript number
    assets = api.claim()
    assert set(assets) == {str(duck.pk), str(fox.pk)}

    result = headless.call("processOne", assets[str(duck.pk)])
    assert result["status"] == "done", result
    assert result["assetId"] == str(duck.pk)
    version = ThumbnailVersion.objects.get(asset_id=duck.pk)
    assert version.runner_id == "browser-tests"
    assert result["thumbnailUrl"].endswith(Asset.objects.get(pk=duck.pk).thumbnail.url)
    assert not ThumbnailVersion.objects.filter(asset_id=2**53).exists()


def test_unsupported_formats_fail_at_once_with_a_readable_reason(headless, import_models, api, tmp_path):
    sketch = tmp_path / "sketch.tilt"
    sketch.write_bytes(b"tilt" + bytes(64))
    (asset,) = import_models(sketch)
    claimed = api.claim(viewer_compatible_only=False)

    result = headless.call("processOne", claimed[str(asset.pk)])
    assert (result["status"], result["reason"], result["detail"]) == (
        "failed",
        "unsupported_format",
        "Unsupported format: TILT",
    )
    assert result["ms"] < 1000
    failure = ThumbnailFailure.objects.get(asset=asset)
    assert (failure.reason, failure.detail, failure.attempts) == ("unsupported_format", "Unsupported format: TILT", 1)


def test_a_failed_load_never_captures_the_previous_model(headless, import_models, sample_models, bad_models, api):
    (fox,) = import_models(*sample_models.named("gold-metal"))
    broken = import_models(*bad_models)
    assets = api.claim()

    assert headless.call("processOne", assets[str(fox.pk)])["status"] == "done"
    for path, asset in zip(bad_models, broken, strict=True):
        result = headless.call("processOne", assets[str(asset.pk)], {"returnImage": True})
        assert result["status"] == "failed", result
        assert "dataUrl" not in result, "nothing may be captured when the load failed"
        assert result["reason"] == FAILURES[path.stem][0], (path.name, result)
    # The live canvas shows the background only, not the fox that was rendered before.
    headless.show_canvas()
    spread = headless.page.evaluate(
        """() => {
            const canvas = document.querySelector('canvas');
            const copy = document.createElement('canvas');
            copy.width = 64; copy.height = 40;
            const ctx = copy.getContext('2d');
            ctx.drawImage(canvas, 0, 0, 64, 40);
            const data = ctx.getImageData(0, 0, 64, 40).data;
            let min = 255, max = 0;
            for (let i = 0; i < data.length; i += 4) { min = Math.min(min, data[i]); max = Math.max(max, data[i]); }
            return max - min;
        }"""
    )
    assert spread <= 2
    assert ThumbnailVersion.objects.filter(asset__in=broken).count() == 0
    assert ThumbnailFailure.objects.filter(asset__in=broken).count() == len(broken)


def test_memory_stays_flat_over_repeated_models(headless, import_models, ok_models, api):
    import_models(*ok_models)
    assets = list(api().values())
    rounds = []
    timings = []
    for _ in range(3):
        for asset in assets:
            result = headless.render_only(asset)
            assert result["status"] == "done", result
            timings.append(result["ms"])
        rounds.append(headless.call("memory"))
    assert rounds[0]["geometries"] == rounds[1]["geometries"] == rounds[2]["geometries"] == 0
    assert rounds[0]["textures"] == rounds[1]["textures"] == rounds[2]["textures"]
    warm = sorted(timings[len(assets) :])
    print(
        f"\nfloor ms per model in a reused page: median {warm[len(warm) // 2]}, max {warm[-1]},"
        f" first round {timings[: len(assets)]}"
    )


def test_a_timeout_aborts_the_download(headless, import_models, sample_models, api):
    (path,) = sample_models.named("textured-box")
    (duck,) = import_models(path)
    asset = api()[str(duck.pk)]
    held = []
    headless.page.route(f"**/media/assets/{duck.pk}/**", lambda route: held.append(route))
    with headless.page.expect_event("requestfailed") as failed:
        result = headless.render_only(asset, {"timeoutMs": 1000})
    assert (result["reason"], result["detail"]) == ("timeout", "Timed out after 1 s")
    assert failed.value.url.endswith(path.name)
    assert result["ms"] < 3000


def test_abort_skips_only_the_asset_in_flight(headless, import_models, ok_models, api):
    stuck, after = import_models(*ok_models[:2])
    assets = api()
    held = []
    headless.page.route(f"**/media/assets/{stuck.pk}/**", lambda route: held.append(route))
    with headless.page.expect_request(f"**/media/assets/{stuck.pk}/**"):
        headless.start("processOne", assets[str(stuck.pk)], RENDER_ONLY)
    assert headless.call("abort", "Skipped by the test") is True
    result = headless.finish()
    assert (result["status"], result["reason"], result["detail"]) == ("skipped", "aborted", "Skipped by the test")
    assert headless.call("abort") is False, "nothing is in flight any more"
    assert headless.render_only(assets[str(after.pk)])["status"] == "done"


def test_lost_lease_is_skipped_and_server_errors_are_not_held_against_the_asset(
    headless, import_models, sample_models, api
):
    """409 (another runner holds the lease) is a skip; a 503 after retries is a failure of the
    server, so nothing is recorded against the asset."""
    from admin_tools.runs import claim_assets

    taken, flaky = import_models(*sample_models.named("red-box", "textured-box"))
    assets = api(force=True)
    claim_assets(user=None, runner_id="someone-else", count=1, asset_ids=[taken.pk])
    result = headless.call("processOne", assets[str(taken.pk)])
    assert (result["status"], result["reason"]) == ("skipped", "lease_lost"), result
    assert "leased to another runner" in result["detail"]  # the holder is not named

    headless.page.route(
        "**/api/v1/admin/assets/*/thumbnail-image?*",  # the page's upload: raw bytes, fields in the query
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"detail": "Thumbnail storage is unavailable; try again later"}',
        ),
    )
    result = headless.call("processOne", assets[str(flaky.pk)])
    assert (result["status"], result["reason"], result.get("retryable")) == ("failed", "upload_error", True), result
    assert "storage is unavailable" in result["detail"]
    assert not ThumbnailFailure.objects.exists()
    assert not ThumbnailVersion.objects.exists()


def test_next_asset_renders_while_the_previous_one_uploads(headless, import_models, sample_models, bad_models, api):
    """startOne returns once the picture is taken; the runner renders the next asset in the
    same page while that upload is still on the wire, and finishOne collects it afterwards."""
    first, second = import_models(*sample_models.named("red-box", "textured-box"))
    broken = import_models(bad_models[0])[0]
    assets = api(force=True)
    held = []
    headless.page.route(f"**/api/v1/admin/assets/{first.pk}/thumbnail-image?*", lambda route: held.append(route))

    started = headless.call("startOne", assets[str(first.pk)])
    assert started == {"assetId": str(first.pk), "uploading": True}
    assert headless.call("processOne", assets[str(second.pk)])["status"] == "done"
    assert ThumbnailVersion.objects.filter(asset=second).exists()
    assert len(held) == 1 and not ThumbnailVersion.objects.filter(asset=first).exists()

    held[0].continue_()
    result = headless.call("finishOne", str(first.pk))
    assert (result["status"], result["assetId"]) == ("done", str(first.pk)), result
    assert Asset.objects.get(pk=first.pk).thumbnail
    # Each stored picture is its own model: the second render did not leak into the first.
    box = assert_shows_a_model(open_field(Asset.objects.get(pk=first.pk).thumbnail), BACKGROUND, label="red box")
    duck = assert_shows_a_model(open_field(Asset.objects.get(pk=second.pk).thumbnail), BACKGROUND, label="textured box")
    assert max(abs(a - b) for a, b in zip(box["model_mean"], duck["model_mean"], strict=True)) > 30, (box, duck)
    with pytest.raises(Exception, match="not in flight"):
        headless.call("finishOne", str(first.pk))

    failed = headless.call("startOne", assets[str(broken.pk)])
    assert failed["uploading"] is False and failed["result"]["status"] == "failed", failed
    assert ThumbnailFailure.objects.filter(asset=broken).exists()


def test_finish_one_collects_an_upload_that_ended_long_before(headless, import_models, sample_models, api):
    """The runner may ask for the result after the upload is over; it is kept until then."""
    import time

    (box,) = import_models(*sample_models.named("red-box"))
    assets = api(force=True)
    assert headless.call("startOne", assets[str(box.pk)])["uploading"] is True
    deadline = time.monotonic() + 20
    while not ThumbnailVersion.objects.filter(asset=box).exists():
        assert time.monotonic() < deadline, "the upload never arrived"
        time.sleep(0.05)
    time.sleep(0.3)
    result = headless.call("finishOne", str(box.pk))
    assert (result["status"], result["assetId"]) == ("done", str(box.pk)), result
    assert headless.call("startOne", assets[str(box.pk)])["uploading"] is True, "the id can start again"
    assert headless.call("finishOne", str(box.pk))["status"] == "done"
