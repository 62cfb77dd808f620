"""What a run did: one record per asset, and the figures an operator reads at the end."""

import math
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130


@dataclass
class AssetResult:
    """The outcome of one asset, as ``headless.js`` ``processOne`` reported it."""

    asset_id: str
    name: str
    status: str
    ms: float = 0.0
    reason: str = ""
    detail: str = ""
    thumbnail_url: str = ""
    worker: int = 0
    attempts: int = 0
    timings: dict = field(default_factory=dict)
    turntable_error: str = ""  # why no turntable preview was stored (the still was)
    at: float = 0.0  # seconds from the start of the run to this result

    @classmethod
    def from_page(cls, asset, result, *, worker=0):
        return cls(
            asset_id=str(asset["id"]),
            name=asset.get("name", ""),
            status=result.get("status") or FAILED,
            ms=float(result.get("ms") or 0),
            reason=result.get("reason") or "",
            detail=result.get("detail") or result.get("reportError") or "",
            thumbnail_url=result.get("thumbnailUrl") or "",
            worker=worker,
            attempts=int(result.get("attempts") or 0),
            timings=dict(result.get("timings") or {}),
            turntable_error=result.get("turntableError") or "",
        )


def percentile(values, fraction):
    """Nearest-rank percentile of ``values`` (``None`` when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class RunSummary:
    """Counts and timings of one run; ``to_dict()`` is the JSON report."""

    runner_id: str = ""
    server: str = ""
    renderer: str = ""
    max_texture_size: int = 0
    workers: int = 1
    dry_run: bool = False
    interrupted: bool = False
    error: str = ""
    results: list = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    work_started: float = 0.0
    finished: float = 0.0
    first_result_at: float = 0.0
    page_restarts: int = 0
    page_recycles: int = 0
    browser_recycles: int = 0
    #: Start-up phase -> seconds from ``started`` at which it ended (see :meth:`mark`).
    startup: dict = field(default_factory=dict)
    page_memory: list = field(default_factory=list)

    def mark(self, phase, at=None):
        """Note when a start-up phase ended (``at``, a ``time.monotonic()``; default now), the
        first time only: with several workers, the first of them to get there."""
        at = time.monotonic() if at is None else at
        self.startup.setdefault(phase, round(at - self.started, 4))

    def add(self, result):
        now = time.monotonic()
        if not self.results:
            self.first_result_at = now
        if result.status == DONE:
            self.mark("first thumbnail stored")
        result.at = round(now - self.started, 4)
        self.results.append(result)

    def finish(self):
        self.finished = time.monotonic()

    # -- counts -------------------------------------------------------------------------------

    def count(self, status):
        return sum(1 for result in self.results if result.status == status)

    @property
    def done(self):
        return self.count(DONE)

    @property
    def failed(self):
        return self.count(FAILED)

    @property
    def skipped(self):
        return self.count(SKIPPED)

    @property
    def processed(self):
        return self.done + self.failed

    @property
    def failure_reasons(self):
        reasons = Counter(r.reason or "unknown" for r in self.results if r.status == FAILED)
        return dict(reasons.most_common())

    # -- timings ------------------------------------------------------------------------------

    @property
    def elapsed_seconds(self):
        return (self.finished or time.monotonic()) - self.started

    @property
    def work_seconds(self):
        """From the first claim (browser and pages ready) to the end."""
        start = self.work_started or self.started
        return max(0.0, (self.finished or time.monotonic()) - start)

    @property
    def first_result_seconds(self):
        """Latency from the start of the run (browser launch included) to the first result."""
        return self.first_result_at - self.started if self.first_result_at else None

    def _ms(self):
        return [r.ms for r in self.results if r.status in (DONE, FAILED) and r.ms]

    @property
    def median_ms(self):
        values = self._ms()
        return statistics.median(values) if values else None

    @property
    def p95_ms(self):
        return percentile(self._ms(), 0.95)

    @property
    def models_per_minute(self):
        seconds = self.work_seconds
        return 60.0 * self.processed / seconds if seconds > 0 and self.processed else 0.0

    @property
    def steady_ms_per_model(self):
        """Wall time per model once the first one is out (no start-up, no first compile)."""
        stamps = [r.at for r in self.results if r.status in (DONE, FAILED)]
        if len(stamps) < 2:
            return None
        return 1000.0 * (stamps[-1] - stamps[0]) / (len(stamps) - 1)

    @property
    def exit_code(self):
        if self.error:
            return EXIT_UNUSABLE
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_SOME_FAILED if self.failed else EXIT_OK

    def to_dict(self):
        return {
            "runner_id": self.runner_id,
            "server": self.server,
            "renderer": self.renderer,
            "max_texture_size": self.max_texture_size,
            "workers": self.workers,
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "error": self.error,
            "exit_code": self.exit_code,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "failure_reasons": self.failure_reasons,
            "median_ms": self.median_ms,
            "p95_ms": self.p95_ms,
            "models_per_minute": round(self.models_per_minute, 2),
            "steady_ms_per_model": (round(self.steady_ms_per_model, 1) if self.steady_ms_per_model else None),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "work_seconds": round(self.work_seconds, 3),
            "first_result_seconds": (round(self.first_result_seconds, 3) if self.first_result_seconds else None),
            "page_restarts": self.page_restarts,
            "page_recycles": self.page_recycles,
            "browser_recycles": self.browser_recycles,
            "startup": self.startup,
            "page_memory": self.page_memory,
            "assets": [asdict(result) for result in self.results],
        }
