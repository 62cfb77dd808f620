"""What one headless run needs to know; ``render_thumbnails`` builds it from its options."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

#: How workers get their browsers: each its own Chromium (so each its own GPU process, where
#: SwiftShader renders), or all pages in one Chromium.
PER_WORKER = "per-worker"
SHARED = "shared"
BROWSER_MODES = (PER_WORKER, SHARED)
#: A fresh page after this many models returns the renderer process's native creep.
RECYCLE_AFTER = 250
#: A fresh browser (per-worker browsers only) after this many models bounds the GPU process.
RECYCLE_BROWSER_AFTER = 1000
#: CPU cores one worker keeps busy on SwiftShader (its GPU process draws on every core it gets;
#: with the server and the driver, one worker used 90-100 % of two: bench/README.md "CPU").
CORES_PER_CPU_WORKER = 2


@dataclass
class RunOptions:
    """Everything a run needs.

    ``runner_name`` names the run in leases and versions (``--runner-id``). Each run gets a
    fresh ``run_id`` under it (the server's memory of what this run already had), and each
    worker page its own runner id: the name itself for one worker, ``<name>/<n>`` for more.

    ``browsers`` is one of :data:`BROWSER_MODES`. ``recycle_after`` models give a worker a
    fresh page, ``recycle_browser_after`` a fresh browser (per-worker browsers; 0: never).

    Render size, quality and background left at None take the gallery's own defaults, which
    the headless page embeds (admin_tools/pageconfig.py): they are stated once, in settings.
    """

    server: str
    token: str
    runner_name: str
    api_base: str
    page_url: str
    module_url: str
    run_id: str = ""
    limit: int | None = None
    batch_size: int = 10
    workers: int = 1
    browsers: str = PER_WORKER
    filters: dict = field(default_factory=dict)
    timeout: float | None = None  # THUMBNAIL_RENDER_TIMEOUT_SECONDS when unset
    width: int | None = None
    height: int | None = None
    quality: float | None = None
    background: str | None = None
    turntable: int | None = None  # frames of a turntable preview; 0 off, None the gallery's
    gpu: bool = False
    chromium: str = ""
    watch: bool = False
    poll_seconds: float = 15.0
    recycle_after: int = RECYCLE_AFTER
    recycle_browser_after: int = RECYCLE_BROWSER_AFTER
    token_factory: Callable[[], str] | None = None
    token_refresh_seconds: float = 6 * 3600

    def __post_init__(self):
        if self.browsers not in BROWSER_MODES:
            raise ValueError(f"browsers must be one of {', '.join(BROWSER_MODES)}, not {self.browsers!r}")
        if self.timeout is None:
            self.timeout = float(settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS)
        if not self.run_id:
            self.run_id = f"{self.runner_name[:110]}.{secrets.token_hex(4)}"

    @property
    def browser_count(self) -> int:
        """How many Chromium processes the run starts."""
        return self.workers if self.browsers == PER_WORKER else 1

    def cpu_workers_limit(self, cpus: int) -> int | None:
        """Workers beyond which a SwiftShader run on ``cpus`` cores gets no faster, when
        ``workers`` is more than that; None on a GPU or within it."""
        useful = max(1, cpus // CORES_PER_CPU_WORKER)
        return None if self.gpu or self.workers <= useful else useful

    def runner_id(self, index: int) -> str:
        """The runner id of worker ``index`` (0-based)."""
        if self.workers == 1:
            return self.runner_name
        return f"{self.runner_name[:120]}/{index + 1}"

    def page_config(self, index: int = 0) -> dict:
        """What ``headless.js`` ``setup()`` gets for worker ``index``."""
        config = {
            "apiBase": self.api_base,
            "token": self.token,
            "runnerId": self.runner_id(index),
            "timeoutSeconds": self.timeout,
        }
        for key, value in (
            ("width", self.width),
            ("height", self.height),
            ("quality", self.quality),
            ("background", self.background),
            ("turntable", self.turntable),
        ):
            if value is not None:
                config[key] = value
        return config


__all__ = [
    "BROWSER_MODES",
    "CORES_PER_CPU_WORKER",
    "PER_WORKER",
    "RECYCLE_AFTER",
    "RECYCLE_BROWSER_AFTER",
    "SHARED",
    "RunOptions",
]
