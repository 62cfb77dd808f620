"""Browser test setup: Debian's Chromium with SwiftShader WebGL, users and imported models.

One Chromium serves the whole session. Without WebGL the suite fails at once: a renderer
that cannot be created must never look like a pass.
"""

import io
import os

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, sync_playwright

from admin_tools.runner.browser import DEFAULT_CHROMIUM, launch_args
from tests.conftest import start_ids_above_2_53

from .pages import AdminLogin, AssetChangeList, GeneratorPage

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM)
# The runner's own flags (SwiftShader WebGL on the CPU), so tests see what runs see.
CHROMIUM_ARGS = launch_args(gpu=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="package")
def browser_context_args(pytestconfig, playwright, device, base_url, _pw_artifacts_folder):
    """The plugin's context options (device, base URL, --video), package-scoped like
    ``playwright`` below, with a fixed viewport."""
    args = dict(playwright.devices[device]) if device else {}
    if base_url:
        args["base_url"] = base_url
    if pytestconfig.getoption("--video") in ("on", "retain-on-failure"):
        args["record_video_dir"] = _pw_artifacts_folder.name
    return {**args, "viewport": {"width": 1280, "height": 900}}


# Playwright's sync API keeps an event loop on the main thread while it runs. Scoping it to
# this package (the plugin scopes it to the session) stops it when the browser tests are
# done, so later tests can still call asyncio.run() (the headless runner's tests do).
@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts):
    driver = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(driver)
    yield driver
    driver.stop()


@pytest.fixture(scope="package")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def browser(browser_type, browser_type_launch_args):
    """One Chromium for all browser tests."""
    chromium = browser_type.launch(**browser_type_launch_args)
    yield chromium
    chromium.close()


@pytest.fixture(scope="package", autouse=True)
def webgl_available(browser: Browser):
    """Fail the whole browser suite (not skip it) when Chromium cannot create WebGL."""
    page = browser.new_page()
    try:
        renderer = page.evaluate(
            """() => {
                const gl = document.createElement('canvas').getContext('webgl2');
                if (!gl) return null;
                const info = gl.getExtension('WEBGL_debug_renderer_info');
                return gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || 'unknown';
            }"""
        )
    finally:
        page.close()
    if not renderer:
        pytest.fail(
            f"WebGL2 is not available in {CHROMIUM} with {' '.join(CHROMIUM_ARGS)}: "
            "the thumbnail renderer cannot run, so no browser test can pass.",
            pytrace=False,
        )
    return renderer


@pytest.fixture
def render_settings(settings):
    """A smaller output size than production keeps software rendering fast; still above the
    512x320 thumbnail size, so the stored derivatives come from a real downscale."""
    settings.THUMBNAIL_RENDER_SIZE = (640, 400)
    settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS = 20
    return settings


@pytest.fixture
def import_models(transactional_db):
    """Import model files through the management command; ids start above 2**53."""
    from icosa.models import Asset

    start_ids_above_2_53()

    def _import(*paths, owner=None, name=None):
        before = set(Asset.objects.values_list("pk", flat=True))
        args = [str(path) for path in paths]
        if owner:
            args += ["--owner", owner]
        if name:
            args += ["--name", name]
        call_command("import_assets", *args, stdout=io.StringIO())
        return list(Asset.objects.exclude(pk__in=before).order_by("id"))

    return _import


@pytest.fixture
def staff_page(page, live_server, staff_user, render_settings):
    """A logged-in staff user (with the thumbnail permission) in the browser."""
    AdminLogin(page, live_server.url).login("thumbs", "thumbs-password")
    return page


@pytest.fixture
def changelist(staff_page, live_server):
    return AssetChangeList(staff_page, live_server.url)


@pytest.fixture
def generator(staff_page, live_server):
    return GeneratorPage(staff_page, live_server.url)


@pytest.fixture
def dialogs(page):
    """Every JavaScript dialog the page opens (an XSS payload would open one)."""
    seen = []

    def on_dialog(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen
