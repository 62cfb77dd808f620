"""The run loop: claim work through the API, hand each asset to a page, release leftovers.

Python never renders. It claims assets under a lease (``POST /thumbnail-jobs/claim``), so
runners on other machines and admins' pages never get the same asset, and gives each one to
``headless.js`` in one of the worker pages, which loads, renders, captures and uploads it (or
records its failure) itself. Each page renders the next asset while the previous one uploads
(``startOne`` / ``finishOne``), so a single page is not idle during the round trip. On a stop
(Ctrl-C, SIGTERM, a fatal error) the asset in flight is aborted and every lease this run
still holds is released, so a rerun (or another runner) continues where it stopped.
"""

import asyncio
import email.utils
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from .browser import (
    BrowserSession,
    BrowserUnavailable,
    PageCrashed,
    PageHung,
    PageSetupError,
    PageWorker,
)
from .client import ApiError, AuthError, ThumbnailApi
from .summary import DONE, FAILED, SKIPPED, AssetResult, RunSummary
from .urlpolicy import UrlPolicy

logger = logging.getLogger(__name__)


class RunnerUnavailable(Exception):
    """The run cannot work at all: no browser, no WebGL, a refused token, no API."""


@dataclass
class RunOptions:
    """Everything a run needs; the management command builds one from its options."""

    server: str
    token: str
    runner_id: str
    page_url: str
    module_url: str
    limit: Optional[int] = None
    batch_size: int = 10
    workers: int = 1
    filters: dict = field(default_factory=dict)
    timeout: float = 60.0
    width: int = 1280
    height: int = 800
    quality: float = 0.85
    background: str = "#e8eaed"
    decoders: dict = field(default_factory=dict)
    gpu: bool = False
    chromium: str = "/usr/bin/chromium"
    watch: bool = False
    poll_seconds: float = 15.0
    recycle_after: int = 250
    fixed_wait_ms: int = 0
    token_factory: Optional[Callable[[], str]] = None
    token_refresh_seconds: float = 6 * 3600

    @property
    def api_base(self):
        return self.server.rstrip("/") + "/api/v1"

    def page_config(self, runner_id=None):
        """What ``headless.js`` ``setup()`` gets."""
        return {
            "apiBase": self.api_base,
            "token": self.token,
            "runnerId": runner_id or self.runner_id,
            "width": self.width,
            "height": self.height,
            "quality": self.quality,
            "background": self.background,
            "timeoutSeconds": self.timeout,
            "decoders": self.decoders,
        }


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
    """Claim → startOne/finishOne → release, with N pages in one Chromium."""

    api_class = ThumbnailApi
    session_class = BrowserSession
    worker_class = PageWorker
    #: Consecutive errors from the page itself (not from an asset) before the run gives up.
    max_page_errors = 3
    #: Seconds of extra time, beyond --timeout, before a silent page counts as hung.
    hang_grace_seconds = 30.0
    #: Most ids sent as exclude_asset_ids (the API's limit); older ones are released if met.
    max_excluded = 10000

    def __init__(self, options, *, listener=None):
        self.options = options
        self.listener = listener or RunListener()
        self.summary = RunSummary(
            runner_id=options.runner_id, server=options.server, workers=options.workers
        )
        self.api = self.api_class(
            options.api_base, options.token, runner_id=options.runner_id
        )
        self.session = None
        self.pages = []
        self._queue = None
        self._need_more = None
        self._held = {}  # asset id -> asset dict, for every lease this run still holds
        self._finished = set()  # ids with a result in this run (never claimed again)
        self._retry_later = set()  # failed or skipped ids, sent as exclude_asset_ids
        self._claimed = 0
        self._remaining = None
        self._stopping = False
        self._page_errors = 0
        self._token_time = time.monotonic()
        self._generated_before = None
        self._background = set()
        self._url_policy = UrlPolicy(options.server)

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
        """Check the token, count the work, start Chromium and the pages.

        Returns False when there is nothing to do (no browser is started then).
        """
        options = self.options
        try:
            listing = await asyncio.to_thread(self._count_pending)
        except AuthError as error:
            raise RunnerUnavailable(f"The API refused the token: {error}") from None
        except ApiError as error:
            raise RunnerUnavailable(
                f"The API at {options.api_base} did not answer: {error}"
            )
        total = listing["total_count"]
        if options.limit is not None:
            total = min(total, options.limit)
        self.listener.announce(
            f"{listing['total_count']} asset(s) to render"
            + (
                f", at most {options.limit} in this run"
                if options.limit is not None
                else ""
            )
            + f"; {options.workers} worker(s), runner id {options.runner_id}."
        )
        self.listener.total(total)
        if total == 0 and not options.watch:
            return False

        try:
            executable = options.chromium
            self.session = self.session_class(
                executable_path=executable, gpu=options.gpu
            )
            await self.session.start()
        except BrowserUnavailable as error:
            raise RunnerUnavailable(str(error)) from None
        self.pages = [
            self.worker_class(
                self.session,
                index=index,
                page_url=options.page_url,
                module_url=options.module_url,
                config=self.options.page_config(),
            )
            for index in range(options.workers)
        ]
        try:
            infos = await asyncio.gather(*(page.open() for page in self.pages))
        except PageSetupError as error:
            raise RunnerUnavailable(str(error)) from None
        self.summary.renderer = infos[0].get("rendererString", "")
        self.summary.max_texture_size = infos[0].get("maxTextureSize", 0) or 0
        self.listener.announce(f"WebGL renderer: {self.summary.renderer}")
        return True

    async def _work(self):
        self._queue = asyncio.Queue()
        self._need_more = asyncio.Event()
        self._need_more.set()
        self.summary.work_started = time.monotonic()
        feeder = asyncio.create_task(self._feed(), name="claims")
        workers = [
            asyncio.create_task(self._drive(page), name=f"page-{page.index}")
            for page in self.pages
        ]
        try:
            await asyncio.gather(feeder, *workers)
        finally:
            for task in [feeder, *workers]:
                task.cancel()
            await asyncio.gather(feeder, *workers, return_exceptions=True)

    # -- claiming -----------------------------------------------------------------------------

    def _claim_filters(self):
        filters = dict(self.options.filters)
        if filters.get("force") and self._generated_before:
            # A forced run regenerates what existed when it started, each asset once; an
            # earlier --generated-before narrows that further.
            asked = filters.get("generated_before")
            if not asked or datetime.fromisoformat(asked) > datetime.fromisoformat(
                self._generated_before
            ):
                filters["generated_before"] = self._generated_before
        return {key: value for key, value in filters.items() if value is not None}

    async def _feed(self):
        options = self.options
        workers = len(self.pages)
        try:
            while not self._stopping:
                if options.limit is not None and self._claimed >= options.limit:
                    break
                while self._queue.qsize() >= workers and not self._stopping:
                    self._need_more.clear()
                    await self._need_more.wait()
                if self._stopping:
                    break
                count = options.batch_size
                if options.limit is not None:
                    count = min(count, options.limit - self._claimed)
                answer = await self._claim(count)
                fresh = answer["fresh"]
                if not fresh:
                    if options.watch and not self._stopping:
                        await asyncio.sleep(options.poll_seconds)
                        continue
                    break
                lease = answer["lease_seconds"]
                deadline = time.monotonic() + lease
                for asset in fresh:
                    self._queue.put_nowait((asset, deadline, lease))
                self._claimed += len(fresh)
                self._update_total()
        finally:
            for _ in self.pages:
                self._queue.put_nowait(None)

    async def _claim(self, count):
        try:
            answer = await asyncio.to_thread(
                self.api.claim,
                count=count,
                exclude_asset_ids=sorted(self._retry_later)[-self.max_excluded :]
                or None,
                **self._claim_filters(),
            )
        except AuthError as error:
            raise RunnerUnavailable(f"The API refused the token: {error}") from None
        except ApiError as error:
            if self.options.watch:
                self.listener.warning(f"Claim failed, trying again later: {error}")
                return {"fresh": [], "lease_seconds": 0}
            raise RunnerUnavailable(f"Cannot claim work: {error}") from None
        fresh, stale = [], []
        for asset in answer.get("assets", []):
            asset_id = str(asset["id"])
            if asset_id in self._finished:
                stale.append(asset_id)
            else:
                fresh.append(asset)
                self._held[asset_id] = asset
        if stale:
            # The server does not know exclude_asset_ids (an older gallery): hand them back.
            await self._release(stale, quiet=True)
        self._remaining = answer.get("remaining")
        return {"fresh": fresh, "lease_seconds": answer.get("lease_seconds", 300)}

    def _update_total(self):
        if self._remaining is None:
            return
        total = self._claimed + self._remaining
        if self.options.limit is not None:
            total = min(total, self.options.limit)
        self.listener.total(total)

    # -- one page -----------------------------------------------------------------------------

    async def _drive(self, page):
        """Feed one page. Each asset starts rendering while the one before it uploads."""
        uploading = None  # the task collecting the previous asset's result
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    await self._settle(uploading)
                    return
                if self._queue.qsize() < len(self.pages):
                    self._need_more.set()
                asset, lease_deadline, lease = item
                asset_id = str(asset["id"])
                if self._stopping:
                    continue
                safety = min(self.options.timeout, 0.2 * lease)
                if time.monotonic() + safety >= lease_deadline:
                    # The lease ran out while the asset waited; another runner may have it now.
                    self._held.pop(asset_id, None)
                    await self._release([asset_id], quiet=True)
                    self._claimed -= 1
                    continue
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
                    self._record(asset, result, worker=page.index)
                else:
                    uploading = asyncio.create_task(
                        self._finish(page, asset), name=f"upload-{asset_id}"
                    )
                if (
                    self.options.recycle_after
                    and page.models >= self.options.recycle_after
                    and not self._stopping
                ):
                    uploading = await self._settle(uploading)
                    await self._reopen(page, recycle=True)
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
        if options.fixed_wait_ms:
            await asyncio.sleep(options.fixed_wait_ms / 1000)
        asset_id = str(asset["id"])
        refused = self._url_policy.refused_in(asset)  # gallery URLs need no lookup; hosts are cached
        if refused:
            await self._report(asset_id, "fetch_error", refused)
            return {"status": FAILED, "reason": "fetch_error", "detail": refused}, False
        try:
            started = await page.start(
                asset,
                options={"timeoutMs": options.timeout * 1000},
                timeout=options.timeout + self.hang_grace_seconds,
            )
        except PageCrashed as error:
            await self._report(asset_id, "browser_crash", str(error))
            return {"status": FAILED, "reason": "browser_crash", "detail": str(error)}, True
        except PageHung as error:
            await page.abort("Timed out", asset_id=asset_id)
            await self._report(asset_id, "timeout", str(error))
            return {"status": FAILED, "reason": "timeout", "detail": str(error)}, True
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an error of the page's code, not of the asset
            return await self._page_error(page, asset_id, error, report=True), True
        self._page_errors = 0
        if started.get("uploading"):
            return None, False
        return self._checked(asset_id, started["result"]), False

    async def _finish(self, page, asset):
        """Collect the result of an asset left uploading, and record it.

        Trouble here is not the asset's: it was rendered, so its lease is released for a
        later try instead of a failure being recorded against it.
        """
        asset_id = str(asset["id"])
        try:
            result = await page.finish(
                asset_id, timeout=self.options.timeout + self.hang_grace_seconds
            )
        except PageCrashed as error:
            result = {"status": FAILED, "reason": "browser_crash", "detail": str(error)}
            result["retryable"] = True
        except PageHung as error:
            await page.abort("Upload timed out", asset_id=asset_id)
            result = {"status": FAILED, "reason": "upload_error", "detail": str(error)}
            result["retryable"] = True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            result = await self._page_error(page, asset_id, error, report=False)
            result["retryable"] = True
        else:
            self._page_errors = 0
            result = self._checked(asset_id, result)
        self._record(asset, result, worker=page.index)

    async def _page_error(self, page, asset_id, error, *, report):
        self._page_errors += 1
        detail = f"headless.js raised: {error}"
        logger.exception("Page %s could not process asset %s", page.index, asset_id)
        if report:
            await self._report(asset_id, "runner_error", detail)
        if self._page_errors >= self.max_page_errors:
            raise RunnerUnavailable(
                f"The headless page failed {self._page_errors} times in a row: {detail}"
            ) from None
        return {"status": FAILED, "reason": "runner_error", "detail": detail}

    def _checked(self, asset_id, result):
        """A result the page reported; a refused token ends the run."""
        if result.get("fatal"):
            self._held.pop(asset_id, None)
            raise RunnerUnavailable(
                f"The API refused the page's token: {result.get('detail') or result.get('reportError')}"
            )
        return result

    def _record(self, asset, page_result, worker=0):
        if lost_lease(page_result):
            # Another runner holds this asset now (our lease ran out): not a failure of it.
            page_result = {**page_result, "status": SKIPPED, "reason": "lease_lost"}
        result = AssetResult.from_page(asset, page_result, worker=worker)
        asset_id = result.asset_id
        self._finished.add(asset_id)
        if result.status != DONE:
            self._retry_later.add(asset_id)
        lease_open = result.status == SKIPPED or (
            result.status == FAILED
            and (page_result.get("reportError") or page_result.get("retryable"))
        )
        held = self._held.pop(asset_id, None)
        if lease_open and held is not None:
            task = asyncio.get_running_loop().create_task(
                self._release([asset_id], quiet=True)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self.summary.add(result)
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
            self.api.token = token
        await self._reopen(page, recycle=True)

    async def _reopen(self, page, *, recycle=False):
        attempts = 0
        while not self._stopping:
            attempts += 1
            try:
                if await self.session.ensure():
                    self.listener.warning("Chromium went away; started it again.")
                page.config = self.options.page_config()
                await page.open()
                break
            except (BrowserUnavailable, PageSetupError) as error:
                if attempts >= 3:
                    raise RunnerUnavailable(
                        f"Cannot restart the page: {error}"
                    ) from None
                await asyncio.sleep(attempts)
        if recycle:
            self.summary.page_recycles += 1
        else:
            self.summary.page_restarts += 1
            self.listener.warning(f"Page {page.index} restarted.")

    # -- API helpers --------------------------------------------------------------------------

    async def _report(self, asset_id, reason, detail):
        try:
            await asyncio.to_thread(
                self.api.report_failure, asset_id, reason=reason, detail=detail
            )
        except ApiError as error:
            self.listener.warning(
                f"Could not record the failure of {asset_id}: {error}"
            )
        self._held.pop(str(asset_id), None)

    async def _release(self, asset_ids, *, quiet=False):
        if not asset_ids:
            return 0
        try:
            return await asyncio.to_thread(self.api.release, asset_ids)
        except ApiError as error:
            if not quiet:
                self.listener.warning(
                    f"Could not release {len(asset_ids)} asset(s): {error}"
                )
            return 0

    def _count_pending(self):
        listing = self.api.missing(limit=1, **_listing_filters(self.options.filters))
        self._generated_before = self._server_now()
        return listing

    def _server_now(self):
        """The server's clock, as an ISO timestamp (the Date header corrects a skewed clock)."""
        now = datetime.now(timezone.utc)
        header = getattr(self.api, "last_date_header", None)
        if header:
            try:
                server = email.utils.parsedate_to_datetime(header) + timedelta(
                    seconds=0.5
                )
                if abs((server - now).total_seconds()) > 2:
                    now = server
            except (TypeError, ValueError):
                pass
        return now.isoformat()

    def _list_pending(self, limit):
        filters = _listing_filters(self.options.filters)
        assets, offset, total = [], 0, None
        while limit is None or len(assets) < limit:
            page = self.api.missing(limit=100, offset=offset, **filters)
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
        """Abort work in flight, release every lease still held, close Chromium."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.pages:
            await asyncio.gather(
                *(page.abort() for page in self.pages), return_exceptions=True
            )
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        held = list(self._held)
        self._held.clear()
        if held:
            released = await self._release(held)
            if released:
                self.listener.announce(f"Released {released} claimed asset(s).")
        if self.pages:
            memory = await asyncio.gather(*(page.memory() for page in self.pages))
            self.summary.page_memory = [m for m in memory if m]
            await asyncio.gather(
                *(page.close() for page in self.pages), return_exceptions=True
            )
        if self.session is not None:
            await self.session.stop()

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


def _listing_filters(filters):
    """The claim filters that the read-only listing also understands."""
    keys = (
        "force",
        "include_failed",
        "asset_ids",
        "owner",
        "format_type",
        "created_after",
        "created_before",
        "generated_before",
        "renderer_not",
        "viewer_compatible_only",
    )
    return {key: filters[key] for key in keys if key in filters}
