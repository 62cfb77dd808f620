"""Bench-only page and runner variants; production code has no benchmark hooks.

- :class:`FloorPage`: ``processOne`` with no upload and no report, in one reused page: the
  render floor a run is compared against.
- :class:`WaitingRunner`: the real run loop with a fixed wait before each asset (to show
  what the upload overlap hides).
- :func:`bench_options`: RunOptions for the embedded server of a bench.
"""

import asyncio

from admin_tools.runner import Runner, RunOptions
from admin_tools.runner.browser import PageWorker

FLOOR_SCRIPT = """async ({module, asset, options}) => {
    const headless = await import(module);
    return headless.processOne(asset, {...options, upload: false, report: false});
}"""


class FloorPage(PageWorker):
    async def floor(self, asset, *, options=None, timeout=None):
        """Load, render and capture one asset; nothing leaves the page."""
        payload = {"module": self.module_url, "asset": asset, "options": options or {}}
        result = await self._evaluate(FLOOR_SCRIPT, payload, timeout)
        self.models += 1
        return result


class WaitingRunner(Runner):
    fixed_wait_ms = 0

    async def _start(self, page, asset):
        if self.fixed_wait_ms:
            await asyncio.sleep(self.fixed_wait_ms / 1000)
        return await super()._start(page, asset)


def bench_options(server, token, *, runner_name, chromium, gpu=False, **options):
    from django.templatetags.static import static
    from django.urls import reverse

    from admin_tools.pageconfig import api_base

    return RunOptions(
        server=server,
        token=token,
        runner_name=runner_name,
        api_base=server + api_base(),
        page_url=server + reverse("batch_thumbs:headless"),
        module_url=static("batch_thumbs/headless.js"),
        chromium=chromium,
        gpu=gpu,
        recycle_after=0,
        **options,
    )
