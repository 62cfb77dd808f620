"""The run loop: each worker page claims work through the API, renders it, and reports.

Python never renders. Each worker claims assets under a lease (``POST /thumbnail-jobs/claim``,
naming this run and its own runner id), so runners on other machines and admins' pages never
get the same asset, and gives each one to ``headless.js`` in its page, which loads, renders,
captures and uploads it (or records its failure) itself. A page renders the next asset while
the previous one uploads (``startOne`` / ``finishOne``), so it is not idle during the round
trip.

The run keeps no lease bookkeeping: the server owns the policy (admin_tools/runs.py). It
never hands this run an asset twice, keeps a worker's queued leases alive while the worker
reports results, and bounds a forced run by the run's start. The run only says what
happened: an asset it could not settle (skipped, a failure that was not recorded) is
released at once, and on a stop (the end, Ctrl-C, SIGTERM, a fatal error) the asset in
flight is aborted and every worker releases all its leases in one call, so a rerun (or
another runner) continues where it stopped.
"""

import asyncio
import logging
import os
import signal
import socket
import time
from collections import deque
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from .browser import (
    BrowserSession,
    BrowserUnavailable,
    PageCrashed,
    PageHung,
    PageSetupError,
    PageWorker,
    PlaywrightDriver,
)
from .client import ApiError, AuthError, ThumbnailApi
from .options import CORES_PER_CPU_WORKER, PER_WORKER, RunOptions
from .summary import DONE, FAILED, SKIPPED, AssetResult, RunSummary
from .urlpolicy import UrlPolicy

logger = logging.getLogger(__name__)

#: Seconds between heartbeats until the server names its own interval.
HEARTBEAT_SECONDS = 15
try:
    RUNNER_VERSION = package_version("icosa-thumbnails")
except PackageNotFoundError:
    RUNNER_VERSION = "dev"


class RunnerUnavailable(Exception):
    """The run cannot work at all: no browser, no WebGL, a refused token, no API."""


class RunListener:
    """Receives a run's events; the command subclasses it to print and draw a bar."""

    def announce(self, message):
        pass

    def total(self, count):
        pass

    def result(self, result):
        pass

    def warning(self, message):
        pass


class Runner:
    """Each worker page: claim → startOne/finishOne → report; at the end, release all."""

    api_class = ThumbnailApi
    driver_class = PlaywrightDriver
    session_class = BrowserSession
    worker_class = PageWorker
    #: Consecutive errors from the page itself (not from an asset) before the run gives up.
    max_page_errors = 3
    #: Seconds of extra time, beyond --timeout, before a silent page counts as hung.
    hang_grace_seconds = 30.0

    def __init__(self, options: RunOptions, *, listener=None, started=None, connect=None):
        """``started``: the ``time.monotonic()`` the run's timings count from (the command's
        start, so start-up figures include the embedded server); default now.

        ``connect``: a blocking callable, given ``options`` (then only what the browsers need),
        that returns them complete once the run's server is ready (the command starts its
        embedded server and mints its token there). The run calls it in a thread while the
        first Chromium starts, so the start-up costs the slower of the two, not their sum.
        """
        self.listener = listener or RunListener()
        self.summary = RunSummary(runner_id=options.runner_name, server=options.server, workers=options.workers)
        if started is not None:
            self.summary.started = started
        self._connect = connect
        self._bind(options)
        self.driver = None
        self.sessions = []
        self.pages = []
        self._apis = {}  # worker index -> its API client (its own runner id)
        self._launches = {}  # session index -> the task of its first launch
        self._opening = {}  # worker index -> the task opening its first page (all but the first)
        self._first_result = asyncio.Event()  # the other workers start after it (see _prepare)
        self._first_claims = {}  # worker index -> the task claiming its first batch
        self._browser_models = {}  # worker index -> models of its earlier pages in its browser
        self._claimed = 0
        self._remaining = None
        self._stopping = False
        self._page_errors = 0
        self._token_time = time.monotonic()
        self._background = set()

    def _bind(self, options):
        """Take the run's options: its server, its token and what follows from them."""
        self.options = options
        self.summary.server = options.server
        self.api = self._client(options.runner_name)
        self._url_policy = UrlPolicy(options.server)

    def _client(self, runner_id):
        return self.api_class(self.options.api_base, self.options.token, runner_id=runner_id)

    # -- entry points -------------------------------------------------------------------------

    def run(self):
        """Run to the end (or to Ctrl-C) and return the :class:`RunSummary`."""
        try:
            return asyncio.run(self._main())
        except KeyboardInterrupt:
            # A second Ctrl-C while cleaning up: give up on the clean-up.
            self.summary.interrupted = True
            self.summary.finish()
            return self.summary

    def dry_run(self):
        """List what a run would render with these options; claims nothing."""
        self.summary.dry_run = True
        if self._connect is not None:
            self._bind(self._connect(self.options))
        try:
            assets, total = self._list_pending(self.options.limit)
        except AuthError as error:
            raise RunnerUnavailable(f"The API refused the token: {error}") from None
        except ApiError as error:
            raise RunnerUnavailable(f"The API did not answer: {error}") from None
        self.summary.finish()
        return assets, total

    # -- the run ------------------------------------------------------------------------------

    async def _main(self):
        self._install_sigterm()
        try:
            if await self._prepare():
                await self._work()
        except asyncio.CancelledError:
            # Ctrl-C or SIGTERM: finish cleanly (the clean-up below must not be cancelled).
            asyncio.current_task().uncancel()
            self.summary.interrupted = True
            self.listener.warning("Interrupted: releasing claimed assets…")
        except RunnerUnavailable as error:
            self.summary.error = str(error)
        finally:
            self._stopping = True
            await self._shutdown()
            self.summary.finish()
        return self.summary

    async def _prepare(self):
        """Connect, check the token, count the work, start Chromium and the pages.

        The first browser is launched (and a spare page opened) while the server
        starts and the API answers, and each worker's first claim is made while its page
        opens: the start-up costs the slowest of these, not their sum. The
        other workers' browsers and pages start once the first worker has a result
        (:meth:`_start_other`): started together, they would take the CPU from the first
        page's start-up and first shader compiles, and on two cores delay the first thumbnail
        by as long as they take. Returns False when there is nothing to do (a browser
        launched meanwhile is stopped).
        """
        options = self.options
        self.driver = self.driver_class()
        self.sessions = [
            self.session_class(executable_path=options.chromium, gpu=options.gpu, driver=self.driver)
            for _ in range(options.browser_count)
        ]
        self._launches = {0: asyncio.create_task(self._launch(self.sessions[0], spare=True))}
        if self._connect is not None:
            self._bind(await asyncio.to_thread(self._connect, options))
            self.summary.mark("server ready")
            options = self.options
        try:
            listing = await asyncio.to_thread(self.api.missing, limit=1, **options.filters)
        except AuthError as error:
            raise RunnerUnavailable(f"The API refused the token: {error}") from None
        except ApiError as error:
            raise RunnerUnavailable(f"The API at {options.api_base} did not answer: {error}") from None
        self.summary.mark("token checked")
        total = listing["total_count"]
        if options.limit is not None:
            total = min(total, options.limit)
        self.listener.announce(
            f"{listing['total_count']} asset(s) to render"
            + (f", at most {options.limit} in this run" if options.limit is not None else "")
            + f"; {options.workers} worker(s), runner id {options.runner_name}."
        )
        self.listener.total(total)
        if total == 0 and not options.watch:
            return False
        cpus = os.cpu_count() or 1
        useful = options.cpu_workers_limit(cpus)
        if useful is not None:
            self.listener.warning(
                f"{options.workers} workers on {cpus} CPU cores: on SwiftShader each keeps about "
                f"{CORES_PER_CPU_WORKER} cores busy, so more than {useful} render no faster (and may be slower)."
            )

        self.pages = [
            self.worker_class(
                self.sessions[index if options.browsers == PER_WORKER else 0],
                index=index,
                page_url=options.page_url,
                module_url=options.module_url,
                config=options.page_config(index),
            )
            for index in range(options.workers)
        ]
        self._apis = {page.index: self._client(options.runner_id(page.index)) for page in self.pages}
        self._first_claims = {
            page.index: asyncio.create_task(self._claim(page), name=f"claim-{page.index}") for page in self.pages
        }
        info = await self._open_first(self.pages[0])
        self.summary.renderer = info.get("rendererString", "")
        self.summary.max_texture_size = info.get("maxTextureSize", 0) or 0
        self.listener.announce(f"WebGL renderer: {self.summary.renderer}")
        if info.get("environmentNote"):
            # Still lit the same, prefiltered in every page instead (seconds on software GL).
            self.listener.announce(f"Environment prefiltered at start-up: {info['environmentNote']}")
        self._opening = {page.index: asyncio.create_task(self._start_other(page)) for page in self.pages[1:]}
        return True

    async def _launch(self, session, *, spare=False):
        await session.start()
        if getattr(self.driver, "started_at", None):
            self.summary.mark("playwright started", at=self.driver.started_at)
        self.summary.mark("browser launched")
        if spare:
            await session.open_spare()
            self.summary.mark("spare page ready")

    async def _open_first(self, page):
        """The page's browser (launched since the run began), then the page itself."""
        try:
            index = self.sessions.index(page.session)
            if index not in self._launches:
                self._launches[index] = asyncio.create_task(self._launch(page.session))
            await self._launches[index]
            info = await page.open()
        except (BrowserUnavailable, PageSetupError) as error:
            raise RunnerUnavailable(str(error)) from None
        for phase, at in getattr(page, "opened", {}).items():
            self.summary.mark(f"page {phase}", at=at)
        return info

    async def _work(self):
        self.summary.work_started = time.monotonic()
        workers = [asyncio.create_task(self._worker(page), name=f"page-{page.index}") for page in self.pages]
        beats = asyncio.create_task(self._heartbeats(), name="heartbeats")
        try:
            await asyncio.gather(*workers)
        finally:
            for task in (*workers, beats):
                task.cancel()
            await asyncio.gather(*workers, beats, return_exceptions=True)

    async def _start_other(self, page):
        """Open a worker's page (and launch its browser) after the first worker's first
        result; False when its first claim got no work, so it needs no browser at all."""
        await self._first_result.wait()
        batch = await self._first_claims[page.index]
        if self._stopping or batch is None or (not batch and not self.options.watch):
            return False
        await self._open_first(page)
        return True

    async def _worker(self, page):
        """One worker: its page once open (the first is open already), then its loop."""
        opening = self._opening.get(page.index)
        try:
            if opening is not None and not await opening:
                self._first_claims.pop(page.index, None)
                return
            await self._drive(page)
        finally:
            if page.index == 0:
                self._first_result.set()  # the first worker is done: never keep the others waiting

    # -- the fleet ----------------------------------------------------------------------------

    def _beat_state(self, index):
        """What one worker tells the fleet: who it is and how it is doing."""
        mine = [r for r in self.summary.results if r.worker == index]
        recent = [r for r in mine if r.at >= (mine[-1].at - 60.0 if mine else 0)]
        span = (mine[-1].at - recent[0].at) if len(recent) > 1 else 0.0
        return {
            "host": socket.gethostname()[:255],
            "version": RUNNER_VERSION,
            "renderer": (self.summary.renderer or "")[:255],
            "done": sum(r.status == DONE for r in mine),
            "failed": sum(r.status == FAILED for r in mine),
            "rate_per_minute": round(60.0 * (len(recent) - 1) / span, 2) if span > 0 else 0.0,
        }

    async def _beat(self, *, stopping=False):
        """One heartbeat per worker (each claims under its own runner id); the interval the
        server asks for. A failed beat only warns: the next one is the retry."""
        interval = HEARTBEAT_SECONDS
        for index, api in self._apis.items():
            try:
                answer = await asyncio.to_thread(api.heartbeat, stopping=stopping, **self._beat_state(index))
                interval = int(answer.get("interval_seconds") or interval)
            except ApiError as error:
                logger.warning("heartbeat of %s failed: %s", api.runner_id, error)
        return max(1, interval)

    async def _heartbeats(self):
        while True:
            await asyncio.sleep(await self._beat())

    # -- claiming -----------------------------------------------------------------------------

    async def _claim(self, page):
        """The next batch for ``page``: a list (empty when there is none now), or None to stop."""
        options = self.options
        count = options.batch_size
        if options.limit is not None:
            count = min(count, options.limit - self._claimed)
            if count <= 0:
                return None
        # Counted before the answer, so workers claiming at once never pass --limit together.
        self._claimed += count
        try:
            answer = await asyncio.to_thread(
                self._apis[page.index].claim, count=count, run_id=options.run_id, **options.filters
            )
        except AuthError as error:
            self._claimed -= count
            raise RunnerUnavailable(f"The API refused the token: {error}") from None
        except ApiError as error:
            self._claimed -= count
            if options.watch:
                self.listener.warning(f"Claim failed, trying again later: {error}")
                return []
            raise RunnerUnavailable(f"Cannot claim work: {error}") from None
        assets = answer.get("assets", [])
        self._claimed += len(assets) - count
        self.summary.mark("first claim")
        self._remaining = answer.get("remaining")
        self._update_total()
        return assets

    def _update_total(self):
        if self._remaining is None:
            return
        total = self._claimed + self._remaining
        if self.options.limit is not None:
            total = min(total, self.options.limit)
        self.listener.total(total)

    # -- one page -----------------------------------------------------------------------------

    async def _drive(self, page):
        """Feed one page from its own claims. Each asset starts rendering while the one
        before it uploads."""
        queue = deque()
        uploading = None  # the task collecting the previous asset's result
        try:
            while not self._stopping:
                if not queue:
                    first = self._first_claims.pop(page.index, None)
                    batch = await (first if first is not None else self._claim(page))
                    if batch is None:
                        break
                    if not batch:
                        if self.options.watch and not self._stopping:
                            uploading = await self._settle(uploading)
                            await asyncio.sleep(self.options.poll_seconds)
                            continue
                        break
                    queue.extend(batch)
                asset = queue.popleft()
                if not page.alive or self._token_stale(page):
                    uploading = await self._settle(uploading)
                    await self._refresh_page(page)
                    if not page.alive:
                        # It died between two assets: start it again without blaming the next one.
                        await self._reopen(page)
                result, broken = await self._start(page, asset)
                uploading = await self._settle(uploading)
                if broken:
                    await self._reopen(page)
                if result is not None:
                    self._record(page, asset, result)
                else:
                    uploading = asyncio.create_task(self._finish(page, asset), name=f"upload-{asset['id']}")
                if self._recycle_due(page) and not self._stopping:
                    uploading = await self._settle(uploading)
                    await self._reopen(page, recycle=True)
            await self._settle(uploading)
        finally:
            if uploading is not None and not uploading.done():
                # Stopping: the upload is aborted with the page; its lease is released.
                uploading.cancel()
                await asyncio.gather(uploading, return_exceptions=True)

    @staticmethod
    async def _settle(task):
        """Wait until the page's previous asset is recorded (its errors propagate)."""
        if task is not None:
            await task
        return None

    async def _start(self, page, asset):
        """Render and capture one asset; page trouble becomes a failure of that asset.

        Returns ``(result, broken)``: ``result`` is None while the asset uploads (its result
        comes from :meth:`_finish`); ``broken`` asks for a fresh page before the next asset.
        """
        options = self.options
        asset_id = str(asset["id"])
        refused = self._url_policy.refused_in(asset)  # gallery URLs need no lookup; hosts are cached
        if refused:
            await self._report(page, asset_id, "fetch_error", refused)
            return {"status": FAILED, "reason": "fetch_error", "detail": refused}, False
        try:
            started = await page.start(
                asset,
                options={"timeoutMs": options.timeout * 1000},
                timeout=options.timeout + self.hang_grace_seconds,
            )
        except PageCrashed as error:
            await self._report(page, asset_id, "browser_crash", str(error))
            return {"status": FAILED, "reason": "browser_crash", "detail": str(error)}, True
        except PageHung as error:
            await page.abort("Timed out", asset_id=asset_id)
            await self._report(page, asset_id, "timeout", str(error))
            return {"status": FAILED, "reason": "timeout", "detail": str(error)}, True
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an error of the page's code, not of the asset
            return await self._page_error(page, asset_id, error, report=True), True
        self._page_errors = 0
        if started.get("uploading"):
            return None, False
        return self._checked(started["result"]), False

    async def _finish(self, page, asset):
        """Collect the result of an asset left uploading, and record it.

        Trouble here is not the asset's: it was rendered, so no failure is recorded against
        it (it is released for a later run instead).
        """
        asset_id = str(asset["id"])
        try:
            result = await page.finish(asset_id, timeout=self.options.timeout + self.hang_grace_seconds)
        except PageCrashed as error:
            result = {"status": FAILED, "reason": "browser_crash", "detail": str(error), "retryable": True}
        except PageHung as error:
            await page.abort("Upload timed out", asset_id=asset_id)
            result = {"status": FAILED, "reason": "upload_error", "detail": str(error), "retryable": True}
        except asyncio.CancelledError:
            raise
        except Exception as error:
            result = await self._page_error(page, asset_id, error, report=False)
            result["retryable"] = True
        else:
            self._page_errors = 0
            result = self._checked(result)
        self._record(page, asset, result)

    async def _page_error(self, page, asset_id, error, *, report):
        self._page_errors += 1
        detail = f"headless.js raised: {error}"
        logger.exception("Page %s could not process asset %s", page.index, asset_id)
        if report:
            await self._report(page, asset_id, "runner_error", detail)
        if self._page_errors >= self.max_page_errors:
            raise RunnerUnavailable(f"The headless page failed {self._page_errors} times in a row: {detail}") from None
        return {"status": FAILED, "reason": "runner_error", "detail": detail}

    @staticmethod
    def _checked(result):
        """A result the page reported; a refused token ends the run."""
        if result.get("fatal"):
            raise RunnerUnavailable(
                f"The API refused the page's token: {result.get('detail') or result.get('reportError')}"
            )
        return result

    def _record(self, page, asset, page_result):
        if lost_lease(page_result):
            # Another runner holds this asset now: not a failure of it.
            page_result = {**page_result, "status": SKIPPED, "reason": "lease_lost"}
        result = AssetResult.from_page(asset, page_result, worker=page.index)
        unsettled = result.status == SKIPPED or (
            result.status == FAILED and (page_result.get("reportError") or page_result.get("retryable"))
        )
        if unsettled:
            # Neither stored nor recorded: give the lease back now (this run never gets the
            # asset again; another runner may try it).
            task = asyncio.get_running_loop().create_task(self._release(page, [result.asset_id]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self.summary.add(result)
        self._first_result.set()
        self.listener.result(result)

    def _token_due(self):
        """The run mints its own tokens and the current one is due a refresh."""
        return (
            self.options.token_factory is not None
            and time.monotonic() - self._token_time >= self.options.token_refresh_seconds
        )

    def _token_stale(self, page):
        """The page must be reopened for a token: one is due, or it holds an older one."""
        if self.options.token_factory is None:
            return False
        return self._token_due() or page.config.get("token") != self.options.token

    async def _refresh_page(self, page):
        """Pages get a fresh token (runs that mint their own) before the old one expires."""
        if not self._token_stale(page):
            return
        if self._token_due():
            token = await asyncio.to_thread(self.options.token_factory)
            self._token_time = time.monotonic()
            self.options.token = token
            for api in (self.api, *self._apis.values()):
                api.token = token
        await self._reopen(page, recycle=True)

    def _recycle_due(self, page):
        every = self.options.recycle_after
        return bool(every) and page.models >= every

    def _browser_recycle_due(self, page):
        """Time for a fresh browser: only a browser of its own (others' pages live in a shared
        one), counted over the models of its pages since it was launched."""
        every = self.options.recycle_browser_after
        if not every or self.options.browsers != PER_WORKER:
            return False
        return self._browser_models.get(page.index, 0) + page.models >= every

    async def _reopen(self, page, *, recycle=False):
        """A fresh page for ``page``; its browser is relaunched if it went away, or replaced
        when its recycling is due. Only this worker's browser is touched."""
        attempts = 0
        fresh_browser = recycle and self._browser_recycle_due(page)
        self._browser_models[page.index] = self._browser_models.get(page.index, 0) + page.models
        while not self._stopping:
            attempts += 1
            try:
                if fresh_browser:
                    await page.close()
                    await page.session.restart()
                    fresh_browser = False
                    self._browser_models[page.index] = 0
                    self.summary.browser_recycles += 1
                elif await page.session.ensure():
                    self._browser_models[page.index] = 0
                    self.listener.warning(f"Chromium of page {page.index} went away; started it again.")
                page.config = self.options.page_config(page.index)
                await page.open()
                break
            except (BrowserUnavailable, PageSetupError) as error:
                if attempts >= 3:
                    raise RunnerUnavailable(f"Cannot restart the page: {error}") from None
                await asyncio.sleep(attempts)
        if recycle:
            self.summary.page_recycles += 1
        else:
            self.summary.page_restarts += 1
            self.listener.warning(f"Page {page.index} restarted.")

    # -- API helpers --------------------------------------------------------------------------

    async def _report(self, page, asset_id, reason, detail):
        try:
            await asyncio.to_thread(self._apis[page.index].report_failure, asset_id, reason=reason, detail=detail)
        except ApiError as error:
            self.listener.warning(f"Could not record the failure of {asset_id}: {error}")

    async def _release(self, page, asset_ids=None):
        """End the page's leases on ``asset_ids``, or all of them; how many ended."""
        try:
            return await asyncio.to_thread(self._apis[page.index].release, asset_ids)
        except ApiError as error:
            if asset_ids is None:
                self.listener.warning(f"Could not release the leases of page {page.index}: {error}")
            return 0

    def _list_pending(self, limit):
        assets, offset, total = [], 0, None
        while limit is None or len(assets) < limit:
            page = self.api.missing(limit=100, offset=offset, **self.options.filters)
            total = page["total_count"] if total is None else total
            assets.extend(page["assets"])
            offset += len(page["assets"])
            if not page["has_more"] or not page["assets"]:
                break
        if limit is not None:
            assets = assets[:limit]
        return assets, total or 0

    # -- stopping -----------------------------------------------------------------------------

    async def _shutdown(self):
        """Abort work in flight, release every lease still held, close every Chromium."""
        # A claim still under way must land before its worker releases everything it holds,
        # and a page still opening before it is closed (one still waiting gives up).
        self._first_result.set()
        await asyncio.gather(*self._first_claims.values(), *self._opening.values(), return_exceptions=True)
        self._first_claims = {}
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.pages:
            await asyncio.gather(*(page.abort() for page in self.pages), return_exceptions=True)
            released = sum(await asyncio.gather(*(self._release(page) for page in self.pages)))
            await self._beat(stopping=True)
            if released:
                self.listener.announce(f"Released {released} claimed asset(s).")
            memory = await asyncio.gather(*(page.memory() for page in self.pages))
            self.summary.page_memory = [m for m in memory if m]
            await asyncio.gather(*(page.close() for page in self.pages), return_exceptions=True)
        await asyncio.gather(*self._launches.values(), return_exceptions=True)
        await asyncio.gather(*(session.stop() for session in self.sessions), return_exceptions=True)
        if self.driver is not None:
            await self.driver.stop()

    def _install_sigterm(self):
        """SIGTERM (a stopped service, a killed pod) stops as cleanly as Ctrl-C."""
        task = asyncio.current_task()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


def lost_lease(page_result):
    """An upload refused with 409: the lease expired and another runner claimed the asset."""
    return page_result.get("reason") == "lease_lost"
