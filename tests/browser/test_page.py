"""The Batch Thumbnail Generator page (static/batch_thumbs/page.js) in a real Chromium."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailVersion
from icosa.models import Asset
from tests.fixtures.models import FAILURES, LOOKS

from .pages import AdminLogin, GeneratorPage, wait_until
from .pixels import assert_shows_a_model, open_field

pytestmark = pytest.mark.browser

BACKGROUND = "#e8eaed"


def test_toolbar_button_runs_every_model_to_a_thumbnail_or_a_recorded_failure(
    changelist, import_models, ok_models, bad_models, staff_user
):
    """Broken models first: each is recorded as a failure and the batch carries on to the
    good ones, each of which gets a stored thumbnail that shows the model."""
    bad = import_models(*bad_models)
    ok = import_models(*ok_models, owner="thumbs")
    assert all(asset.pk > 2**53 for asset in bad + ok)

    generator = changelist.open().open_generator()
    expect(generator.status).to_have_text("Ready")
    expect(generator.page.locator("#bt-backlog")).to_have_text(f"{len(bad) + len(ok)} assets are missing a thumbnail.")
    generator.configure(batch_size=4)  # several claims in one run
    generator.start()
    assert generator.wait_until_over() == "finished"

    total = str(len(bad) + len(ok))
    assert generator.stats() == {"total": total, "completed": str(len(ok)), "failed": str(len(bad)), "skipped": "0"}
    expect(generator.status).to_have_text("Finished: no assets left to process")
    assert not ThumbnailClaim.objects.exists(), "every lease ends with an upload, a failure or a release"

    failures = generator.failure_rows()
    for path, asset in zip(bad_models, bad, strict=True):
        asset.refresh_from_db()
        assert not asset.thumbnail, f"{asset.name} must not get a thumbnail"
        failure = ThumbnailFailure.objects.get(asset=asset)
        reason, words = FAILURES[path.stem]
        assert (failure.reason, failure.attempts) == (reason, 1), asset.name
        assert words in failure.detail
        assert failures[str(asset.pk)] == {"reason": reason, "detail": failure.detail}

    width, height = settings.THUMBNAIL_SIZE
    for path, asset in zip(ok_models, ok, strict=True):
        asset.refresh_from_db()
        assert asset.thumbnail, f"{asset.name} has no thumbnail"
        thumb = open_field(asset.thumbnail)
        preview = open_field(asset.preview_image)
        assert thumb.size == (width, height)
        assert preview.size == settings.THUMBNAIL_RENDER_SIZE
        info = assert_shows_a_model(thumb, BACKGROUND, label=asset.name)
        look = LOOKS[path.stem]
        assert look.check(*info["model_mean"]), f"{path.name} should look {look.colour}: {info}"
        version = ThumbnailVersion.objects.get(asset=asset, is_current=True)
        assert version.created_by == staff_user
        assert "SwiftShader" in version.renderer
        assert version.render_settings["width"] == settings.THUMBNAIL_RENDER_SIZE[0]
        assert not ThumbnailFailure.objects.filter(asset=asset).exists()

    # The grid shows what was made, newest first, each linking to its asset.
    assert generator.grid_ids() == [str(asset.pk) for asset in reversed(ok)]
    first = generator.page.locator("#bt-grid li a").first
    expect(first).to_have_attribute("href", re.compile(rf"/admin/icosa/asset/{ok[-1].pk}/change/$"))


def test_admin_action_opens_the_generator_on_the_selection_and_replaces_thumbnails(
    changelist, import_models, sample_models
):
    """Only the selected assets are processed, even one that already has a thumbnail; the
    selection survives a reload because it is saved server-side."""
    duck, fox, card = import_models(*sample_models.named("textured-box", "gold-metal", "blue-sphere"))
    first = changelist.open()
    first.select(duck.pk, fox.pk)
    generator = first.run_action("Generate thumbnails (opens batch generator)")
    expect(generator.page.locator("#bt-selection")).to_contain_text("selection of 2 assets")
    generator.page.reload()
    generator.wait_until_loaded()
    expect(generator.page.locator("#bt-selection")).to_contain_text("selection of 2 assets")

    generator.start()
    assert generator.wait_until_over() == "finished"
    assert generator.stats()["completed"] == "2"
    duck.refresh_from_db()
    fox.refresh_from_db()
    card.refresh_from_db()
    assert duck.thumbnail and fox.thumbnail and not card.thumbnail

    # Run the same selection again: the existing thumbnails are replaced (history kept).
    generator.start()
    assert generator.wait_until_over() == "finished"
    assert generator.stats()["completed"] == "2"
    assert ThumbnailVersion.objects.filter(asset=duck).count() == 2
    assert ThumbnailVersion.objects.filter(asset=duck, is_current=True).count() == 1


def test_pause_holds_the_batch_after_the_current_asset_and_resume_continues(generator, import_models, ok_models):
    first, *rest = import_models(*ok_models[:3])
    generator.open()
    generator.hold_downloads(first.pk)
    generator.start()
    generator.wait_for_held()
    generator.expect_current(first.pk, "Loading GLB")

    generator.pause()
    expect(generator.status).to_have_text("Pausing after the current asset…")
    generator.release()
    expect(generator.status).to_have_text("Paused")
    assert generator.stats()["completed"] == "1"
    expect(generator.page.locator("#bt-current-id")).to_have_text("–")
    assert not Asset.objects.filter(pk__in=[a.pk for a in rest]).exclude(thumbnail="").exists()

    generator.resume()
    assert generator.wait_until_over() == "finished"
    assert generator.stats() == {"total": "3", "completed": "3", "failed": "0", "skipped": "0"}


def test_skip_aborts_only_the_asset_in_flight(generator, import_models, ok_models):
    """The skipped asset is counted as skipped, gets neither a thumbnail nor a failure, its
    lease is released at the end, and the next asset is processed normally."""
    stuck, after, last = import_models(*ok_models[:3])
    generator.open()
    generator.hold_downloads(stuck.pk)  # never answered: only Skip can move on
    generator.start()
    generator.wait_for_held()
    generator.expect_current(stuck.pk, "Loading GLB")

    generator.skip()
    assert generator.wait_until_over() == "finished"
    assert generator.stats() == {"total": "3", "completed": "2", "failed": "0", "skipped": "1"}
    stuck.refresh_from_db()
    after.refresh_from_db()
    assert not stuck.thumbnail and after.thumbnail
    assert not ThumbnailFailure.objects.exists()
    assert not ThumbnailClaim.objects.exists()
    assert any(f"Asset {stuck.pk}" in line and "skipped" in line for line in generator.log_lines())


def test_stop_aborts_and_releases_every_claimed_asset(generator, import_models, ok_models):
    done, stuck, *untouched = import_models(*ok_models[:4])
    generator.open()
    generator.hold_downloads(stuck.pk)
    generator.start()
    generator.wait_for_held()
    generator.expect_current(stuck.pk)

    generator.stop()
    assert generator.wait_until_over() == "stopped"
    expect(generator.status).to_have_text("Stopped")
    assert generator.stats()["completed"] == "1"
    assert Asset.objects.exclude(thumbnail="").get() == done
    assert not ThumbnailClaim.objects.exists(), "unprocessed assets are released for the next run"
    assert not ThumbnailFailure.objects.exists()
    expect(generator.button("Start")).to_be_enabled()


def test_a_hanging_download_times_out_and_the_batch_goes_on(generator, import_models, ok_models, settings):
    settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS = 2
    stuck, fine = import_models(*ok_models[:2])
    generator.open()
    generator.hold_downloads(stuck.pk)
    generator.start()
    assert generator.wait_until_over() == "finished"
    failure = ThumbnailFailure.objects.get(asset=stuck)
    assert (failure.reason, failure.detail) == ("timeout", "Timed out after 2 s")
    fine.refresh_from_db()
    assert fine.thumbnail


def test_retry_failed_processes_only_the_failures_again(generator, import_models, sample_models):
    html, duck = import_models(*sample_models.named("html-page", "textured-box"))
    generator.open()
    generator.start()
    generator.wait_until_over()
    expect(generator.button("Retry failed")).to_be_enabled()

    generator.button("Retry failed").click()
    assert generator.wait_until_over() == "finished"
    assert generator.stats() == {"total": "1", "completed": "0", "failed": "1", "skipped": "0"}
    assert ThumbnailFailure.objects.get(asset=html).attempts == 2
    assert ThumbnailVersion.objects.filter(asset=duck).count() == 1


def test_review_mode_waits_for_accept_retake_or_reject(generator, import_models, sample_models):
    duck, fox = import_models(*sample_models.named("textured-box", "gold-metal"))
    generator.open()
    generator.configure(review=True)
    generator.start()

    review = generator.page.locator("#bt-review")
    expect(review).to_be_visible(timeout=30_000)
    generator.expect_current(duck.pk, "Waiting for review")
    first_capture = generator.page.locator("#bt-review-image").get_attribute("src")
    generator.button("Retake (another angle)").click()
    expect(generator.page.locator("#bt-review-image")).not_to_have_attribute("src", first_capture)
    generator.button("Accept").click()

    generator.expect_current(fox.pk, "Waiting for review")
    generator.button("Reject").click()
    assert generator.wait_until_over() == "finished"

    duck.refresh_from_db()
    assert ThumbnailVersion.objects.get(asset=duck).render_settings["camera"]["source"] == "auto"
    assert ThumbnailFailure.objects.get(asset=fox).reason == "rejected"


def test_asset_names_are_shown_as_text_never_as_html(generator, import_models, ok_models, dialogs, django_user_model):
    payload = "<img src=x onerror=alert(1)>"
    django_user_model.objects.create_user(
        username="mallory", email="m@example.com", displayname="<b onmouseover=alert(2)>Mallory</b>"
    )
    (asset,) = import_models(ok_models[0], owner="mallory", name=payload)
    generator.open()
    generator.hold_downloads(asset.pk)
    generator.start()
    generator.wait_for_held()
    generator.expect_current(asset.pk)
    expect(generator.page.locator("#bt-current-name")).to_have_text(payload)
    expect(generator.page.locator("#bt-current-owner")).to_have_text("<b onmouseover=alert(2)>Mallory</b>")
    generator.release()
    assert generator.wait_until_over() == "finished"

    expect(generator.page.locator(".bt-grid-caption")).to_have_text(payload)
    assert any(payload in line for line in generator.log_lines())
    assert generator.page.locator("#batch-thumbs img[src='x'], #batch-thumbs b").count() == 0
    assert dialogs == []


def test_non_staff_users_are_refused(page, live_server, plain_user, staff_without_permission):
    generator = GeneratorPage(page, live_server.url)
    AdminLogin(page, live_server.url).login("visitor", "visitor-password")
    page.goto(generator.url)
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    expect(page.locator("#batch-thumbs")).to_have_count(0)

    page.context.clear_cookies()
    AdminLogin(page, live_server.url).login("helpdesk", "helpdesk-password")
    response = page.goto(generator.url)
    assert response.status == 403
    expect(page.locator("#batch-thumbs")).to_have_count(0)


def test_without_a_token_the_page_says_jwt_token_required(generator):
    generator.page.route("**/batch-thumbnail-generator/token/", lambda route: route.abort())
    generator.open()
    expect(generator.alert).to_have_text(re.compile(r"^JWT token required"))
    expect(generator.button("Start")).to_be_disabled()


def test_a_token_in_local_storage_is_the_fallback(generator, staff_user):
    token = staff_user.generate_jwt_token(minutes=5)
    generator.page.route("**/batch-thumbnail-generator/token/", lambda route: route.abort())
    generator.page.add_init_script(f"localStorage.setItem('icosa_jwt_token', {token!r})")
    generator.open()
    expect(generator.alert).to_be_hidden()
    expect(generator.button("Start")).to_be_enabled()


def test_an_api_refusal_shows_admin_access_required(generator):
    generator.page.route(
        "**/api/v1/admin/**",
        lambda route: route.fulfill(
            status=403, content_type="application/json", body='{"detail": "Admin access required"}'
        ),
    )
    generator.open()
    expect(generator.alert).to_have_text("Admin access required")
    expect(generator.button("Start")).to_be_disabled()


def test_leaving_the_page_mid_run_releases_the_claimed_assets(generator, import_models, ok_models):
    stuck, *rest = import_models(*ok_models[:3])
    generator.open()
    generator.hold_downloads(stuck.pk)
    generator.start()
    generator.wait_for_held()
    assert ThumbnailClaim.objects.count() == 3

    generator.page.once("dialog", lambda dialog: dialog.accept())  # "leave the page?" while running
    generator.page.goto("about:blank")
    # The keepalive release outlives the page, so Playwright does not see it: watch the leases.
    wait_until(lambda: not ThumbnailClaim.objects.exists(), generator.page, "the leases were not released")
    assert not Asset.objects.exclude(thumbnail="").exists()


def test_a_hidden_tab_shows_a_warning(generator):
    generator.open()
    warning = generator.page.get_by_text("This tab is hidden")
    expect(warning).to_be_hidden()
    generator.page.evaluate(
        """() => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    expect(warning).to_be_visible()
