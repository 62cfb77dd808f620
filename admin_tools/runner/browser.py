"""Chromium under Playwright: one page per worker, each in its own context.

By default each worker has its own Chromium (a :class:`BrowserSession`): on SwiftShader all
the pages of one browser render in its one GPU process, so pages of one browser do not render
in parallel, and browsers do. All sessions share one Playwright driver
(:class:`PlaywrightDriver`).

Every page loads the headless page of the gallery and drives ``headless.js`` through
``page.evaluate``; nothing is rendered in Python. A page that crashes, hangs or has rendered
``recycle_after`` models is closed and a fresh one takes its place; a browser that went away
is launched again.
"""

import asyncio
import logging
import os
import re
import shutil
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

logger = logging.getLogger(__name__)

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Flags both paths need: no sandbox in containers, nothing phoning home, and no throttling of
# pages that are not in front (each worker's page must keep its full frame rate).
COMMON_FLAGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-dev-shm-usage",
)
# WebGL on the CPU: ANGLE on SwiftShader's Vulkan, no GPU needed. The page's compositing stays
# in software: on SwiftShader it gains nothing, and setting it up delays the first WebGL
# context by most of a second after the launch.
CPU_FLAGS = (
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-gpu-compositing",
)
# WebGL on a real GPU through ANGLE's Vulkan backend (headless=new keeps the GPU process).
GPU_FLAGS = (
    "--use-gl=angle",
    "--use-angle=vulkan",
    "--enable-features=Vulkan",
    "--enable-gpu",
    "--ignore-gpu-blocklist",
)

SETUP_SCRIPT = """async ({module, config}) => {
    const headless = await import(module);
    return headless.setup(config);
}"""
START_SCRIPT = """async ({module, asset, options}) => {
    const headless = await import(module);
    return headless.startOne(asset, options);
}"""
FINISH_SCRIPT = """async ({module, assetId}) => {
    const headless = await import(module);
    return headless.finishOne(assetId);
}"""
ABORT_SCRIPT = """async ({module, message, assetId}) => {
    const headless = await import(module);
    return headless.abort(message, assetId);
}"""
# The page names its own module (a remote gallery may serve its static files from elsewhere);
# use that when it does. Decoder folders and defaults headless.js reads from the page itself.
DISCOVER_SCRIPT = """() => {
    const script = document.querySelector('script[type="module"][src*="headless.js"]');
    return script ? script.src : null;
}"""
MEMORY_SCRIPT = """async ({module}) => {
    const headless = await import(module);
    return headless.memory();
}"""


class BrowserUnavailable(Exception):
    """Chromium could not be found or started."""


class PageSetupError(Exception):
    """The headless page did not load or could not create its WebGL renderer."""


class PageCrashed(Exception):
    """The page (or the whole browser) died while working."""


class PageHung(Exception):
    """The page did not answer within its time budget."""


def find_chromium(path=None):
    """The Chromium executable to use: ``path``, ``$CHROMIUM_PATH`` or /usr/bin/chromium."""
    candidate = path or os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    resolved = candidate if os.path.sep in candidate else shutil.which(candidate)
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        raise BrowserUnavailable(
            f"Chromium not found at {candidate!r}; install it (apt-get install chromium) "
            "or pass --chromium PATH / set CHROMIUM_PATH"
        )
    return resolved


def launch_args(*, gpu=False):
    return list(COMMON_FLAGS + (GPU_FLAGS if gpu else CPU_FLAGS))


def node_compile_cache():
    """Where Playwright's Node driver keeps its compiled JavaScript between runs
    (``NODE_COMPILE_CACHE``; Node checks each entry against its source). An operator's own
    setting wins."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("NODE_COMPILE_CACHE") or os.path.join(base, "icosa-thumbnails", "node-compile-cache")


class PlaywrightDriver:
    """The Playwright driver (a Node process), started once and shared by every browser.

    The driver loads a few MB of JavaScript at every start; with Node's compile cache
    (:func:`node_compile_cache`) it starts ~0.1 s sooner from the second run on.
    """

    def __init__(self):
        self.playwright = None
        self.started_at = None  # time.monotonic() once it answered
        self._lock = asyncio.Lock()

    async def get(self):
        async with self._lock:
            if self.playwright is None:
                # Playwright hands its own environment to the driver it spawns.
                os.environ["NODE_COMPILE_CACHE"] = node_compile_cache()
                try:
                    self.playwright = await async_playwright().start()
                except (PlaywrightError, OSError) as error:
                    raise BrowserUnavailable(f"Playwright did not start: {first_line(error)}") from None
                self.started_at = time.monotonic()
            return self.playwright

    async def stop(self):
        if self.playwright is not None:
            await _quietly(self.playwright.stop(), timeout=15)
            self.playwright = None


class BrowserSession:
    """One Chromium; ``ensure()`` relaunches it when it went away, ``restart()`` on request.

    ``driver`` is the shared :class:`PlaywrightDriver`; without one the session starts and
    stops its own. ``open_spare()`` opens a page before any worker needs one (while the run
    waits for its server), and the next :meth:`new_page` hands it out.
    """

    #: Every worker page's context: one CSS pixel per pixel, no service workers.
    context_options = {"viewport": {"width": 800, "height": 600}, "device_scale_factor": 1, "service_workers": "block"}

    def __init__(self, *, executable_path, gpu=False, driver=None):
        self.executable_path = executable_path
        self.gpu = gpu
        self.driver = driver or PlaywrightDriver()
        self._owns_driver = driver is None
        self.browser = None
        self.launches = 0
        self._spare = None  # (context, page) opened ahead by open_spare()
        self._lock = asyncio.Lock()

    @property
    def connected(self):
        return self.browser is not None and self.browser.is_connected()

    async def start(self):
        playwright = await self.driver.get()
        try:
            self.browser = await playwright.chromium.launch(
                executable_path=self.executable_path,
                args=launch_args(gpu=self.gpu),
                headless=True,
                # Ctrl-C is the runner's to handle: it releases its claims, then closes.
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
                timeout=60_000,
            )
        except PlaywrightError as error:
            raise BrowserUnavailable(f"Chromium at {self.executable_path} did not start: {first_line(error)}") from None
        self.launches += 1
        return self.browser

    async def new_page(self):
        """A fresh context and its page: the spare one when this browser has it."""
        spare, self._spare = self._spare, None
        if spare is not None and not spare[1].is_closed():
            return spare
        context = await self.browser.new_context(**self.context_options)
        return context, await context.new_page()

    async def open_spare(self):
        """Open the next page now (0.3–0.5 s of a fresh browser). Asking it for WebGL would
        only wait: the GPU process gets ready by itself in the second after the launch.

        Any trouble is left for the page that opens for real, which reports it."""
        try:
            context = await self.browser.new_context(**self.context_options)
            self._spare = (context, await context.new_page())
        except PlaywrightError:
            pass

    async def ensure(self):
        """Make sure a browser is running; returns True when it had to be launched again."""
        async with self._lock:
            if self.connected:
                return False
            self._spare = None
            if self.browser is not None:
                await _quietly(self.browser.close())
            await self.start()
            return True

    async def restart(self):
        """A fresh Chromium (and so a fresh GPU process) in place of this one."""
        async with self._lock:
            self._spare = None
            if self.browser is not None:
                await _quietly(self.browser.close(), timeout=15)
                self.browser = None
            await self.start()

    async def stop(self):
        self._spare = None
        if self.browser is not None:
            await _quietly(self.browser.close(), timeout=15)
            self.browser = None
        if self._owns_driver:
            await self.driver.stop()


class PageWorker:
    """One page in its own browser context, set up once and reused for many models."""

    def __init__(self, session, *, index, page_url, module_url, config):
        self.session = session
        self.index = index
        self.page_url = page_url
        self.module_url = module_url
        self.config = dict(config)
        self.context = None
        self.page = None
        self.info = {}
        self.models = 0
        self.crashed = False
        self.console_errors = []
        self.opened = {}  # open() phase -> time.monotonic() it ended, for start-up figures

    @property
    def alive(self):
        """False once the page crashed or its browser went away."""
        if self.page is None or self.crashed or self.page.is_closed():
            return False
        browser = self.context.browser if self.context is not None else None
        return browser is not None and browser.is_connected()

    async def open(self):
        """Open a fresh context and page, load the headless page, create the renderer."""
        await self.close()
        self.crashed = False
        self.models = 0
        self.console_errors = []
        try:
            self.context, self.page = await self.session.new_page()
            self.opened = {"opened": time.monotonic()}
            self.page.on("crash", self._on_crash)
            self.page.on("console", self._on_console)
            self.page.on("pageerror", self._on_page_error)
            response = await self.page.goto(self.page_url, wait_until="load", timeout=60_000)
            self.opened["loaded"] = time.monotonic()
        except PlaywrightError as error:
            raise PageSetupError(f"Cannot open {self.page_url}: {first_line(error)}") from None
        if response is not None and not response.ok:
            raise PageSetupError(f"{self.page_url} answered HTTP {response.status} {response.status_text}")
        try:
            module = await self.page.evaluate(DISCOVER_SCRIPT)
            if module:
                self.module_url = module
            self.info = await self.page.evaluate(SETUP_SCRIPT, {"module": self.module_url, "config": self.config})
        except PlaywrightError as error:
            detail = first_line(error)
            if self.console_errors:
                detail += f" (console: {self.console_errors[-1]})"
            raise PageSetupError(f"headless.js setup() failed: {detail}") from None
        if not self.info or not self.info.get("rendererString"):
            raise PageSetupError("No WebGL context: setup() reported no renderer string")
        self.opened["set up"] = time.monotonic()
        return self.info

    async def start(self, asset, *, options=None, timeout=None):
        """``startOne``: back once the picture is taken, while its upload goes on.

        Returns ``{"uploading": True}`` (collect the result with :meth:`finish`) or
        ``{"uploading": False, "result": {...}}`` for an asset that failed before any upload.
        """
        payload = {"module": self.module_url, "asset": asset, "options": options or {}}
        started = await self._evaluate(START_SCRIPT, payload, timeout)
        self.models += 1
        return started

    async def finish(self, asset_id, *, timeout=None):
        """``finishOne``: the result of an asset :meth:`start` left uploading."""
        payload = {"module": self.module_url, "assetId": str(asset_id)}
        return await self._evaluate(FINISH_SCRIPT, payload, timeout)

    async def _evaluate(self, script, payload, timeout):
        try:
            return await asyncio.wait_for(self.page.evaluate(script, payload), timeout)
        except TimeoutError:
            raise PageHung(f"No answer from the page in {timeout:.0f} s") from None
        except PlaywrightError as error:
            if not self.alive:
                raise PageCrashed(f"The page crashed: {first_line(error)}") from None
            raise

    async def abort(self, message="Stopped by the runner", *, asset_id=None, timeout=3):
        """Ask the page to abort work in flight (one asset, or all of it).

        False if nothing was in flight or the page could not be asked.
        """
        if self.page is None or self.page.is_closed() or self.crashed:
            return False
        payload = {
            "module": self.module_url,
            "message": message,
            "assetId": None if asset_id is None else str(asset_id),
        }
        try:
            return await asyncio.wait_for(self.page.evaluate(ABORT_SCRIPT, payload), timeout)
        except (TimeoutError, PlaywrightError):
            return False

    async def memory(self, *, timeout=3):
        if self.page is None or self.page.is_closed() or self.crashed:
            return None
        try:
            return await asyncio.wait_for(self.page.evaluate(MEMORY_SCRIPT, {"module": self.module_url}), timeout)
        except (TimeoutError, PlaywrightError):
            return None

    async def close(self):
        if self.context is not None:
            await _quietly(self.context.close(), timeout=10)
        self.context = None
        self.page = None

    def _on_crash(self, page):
        self.crashed = True
        logger.warning("Page %s crashed", self.index)

    def _on_console(self, message):
        if message.type == "error":
            self.console_errors = (self.console_errors + [message.text])[-20:]
            logger.debug("page %s console: %s", self.index, message.text)

    def _on_page_error(self, error):
        self.console_errors = (self.console_errors + [str(error)])[-20:]
        logger.debug("page %s error: %s", self.index, error)


def first_line(error):
    """The readable part of a Playwright error: its first line, without the API prefix."""
    text = str(getattr(error, "message", None) or error).strip()
    line = text.splitlines()[0] if text else error.__class__.__name__
    return re.sub(r"^(Page|Frame|BrowserType|BrowserContext)\.\w+: ", "", line)


async def _quietly(awaitable, *, timeout=10):
    """Await a clean-up step; a dead browser or a timeout is not an error here."""
    try:
        await asyncio.wait_for(awaitable, timeout)
    except (TimeoutError, PlaywrightError, OSError):
        pass
