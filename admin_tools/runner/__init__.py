"""Headless batch runs: Chromium under Playwright drives the same renderer as the admin page.

- ``server``: the embedded server thread that serves this project for a local run.
- ``client``: the thumbnail work API over urllib (claim, release, report, status).
- ``browser``: Chromium, its flags, and one reusable page per worker.
- ``run``: the claim → ``startOne``/``finishOne`` → release loop.
- ``summary``: per-asset results and the figures printed at the end.
"""

from .browser import BrowserUnavailable, find_chromium
from .client import ApiError, AuthError, ThumbnailApi
from .options import RunOptions
from .run import RunListener, Runner, RunnerUnavailable
from .server import EmbeddedServer, ServerError
from .summary import AssetResult, RunSummary

__all__ = [
    "ApiError",
    "AssetResult",
    "AuthError",
    "BrowserUnavailable",
    "EmbeddedServer",
    "RunListener",
    "RunOptions",
    "RunSummary",
    "Runner",
    "RunnerUnavailable",
    "ServerError",
    "ThumbnailApi",
    "find_chromium",
]
