"""The fleet: runners register and heartbeat through the API, operators see who is working.

A heartbeat (``POST /admin/thumbnail-jobs/heartbeat``) upserts the runner's row and renews its
leases (it is a sign of life like a claim). A runner is *alive* while its last heartbeat is
younger than ``THUMBNAIL_RUNNER_STALE_SECONDS``, *gone* once it said goodbye (``stopping``) or
was silent for ``THUMBNAIL_RUNNER_GONE_SECONDS``, and *stale* in between. Every claim first
releases the leases of stale and gone runners (:func:`release_silent`), so a crashed runner's
assets go back to the queue within a minute instead of a full lease. Runners that never
heartbeat keep the plain lease expiry.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from .models import ThumbnailClaim, ThumbnailRunner

ALIVE, STALE, GONE = "alive", "stale", "gone"


class RunnerTaken(Exception):
    """The runner id belongs to another user's runner."""


def heartbeat(*, runner_id: str, user, host="", version="", renderer="", done=0, failed=0,
              rate_per_minute=0.0, stopping=False, now=None) -> ThumbnailRunner:  # fmt: skip
    from .runs import renew_leases

    now = now or timezone.now()
    runner = ThumbnailRunner.objects.filter(pk=runner_id).first()
    if runner is not None and runner.user_id not in (None, user.pk):
        raise RunnerTaken(f"Runner {runner_id} belongs to another user")
    if runner is None:
        runner = ThumbnailRunner(runner_id=runner_id, user=user, started_at=now)
    elif runner.stopped_at is not None and not stopping:
        runner.started_at, runner.stopped_at = now, None  # the same name, started again
    runner.host, runner.version, runner.renderer = host, version, renderer or runner.renderer
    runner.done, runner.failed, runner.rate_per_minute = done, failed, max(0.0, rate_per_minute)
    runner.last_seen_at = now
    if stopping:
        runner.stopped_at = now
        runner.rate_per_minute = 0.0
    runner.save()
    if not stopping:
        renew_leases(runner_id, now=now)
    return runner


def seen(runner_id: str, *, now=None, claiming=False) -> None:
    """Any request of a runner (a claim, an upload, a report) is a sign of life too; a claim
    also means a runner that said goodbye under this id is back."""
    now = now or timezone.now()
    fields = {"last_seen_at": now, **({"stopped_at": None} if claiming else {})}
    ThumbnailRunner.objects.filter(pk=runner_id).update(**fields)


def state(runner: ThumbnailRunner, *, now=None) -> str:
    now = now or timezone.now()
    gone_before = now - timedelta(seconds=settings.THUMBNAIL_RUNNER_GONE_SECONDS)
    if runner.stopped_at is not None or runner.last_seen_at < gone_before:
        return GONE
    if runner.last_seen_at < now - timedelta(seconds=settings.THUMBNAIL_RUNNER_STALE_SECONDS):
        return STALE
    return ALIVE


def release_silent(*, now=None) -> int:
    """End the leases of runners whose heartbeat stopped (stale, gone or stopped)."""
    now = now or timezone.now()
    silent = ThumbnailRunner.objects.filter(
        last_seen_at__lt=now - timedelta(seconds=settings.THUMBNAIL_RUNNER_STALE_SECONDS)
    ).values("runner_id")
    stopped = ThumbnailRunner.objects.filter(stopped_at__isnull=False).values("runner_id")
    deleted = 0
    for runners in (silent, stopped):
        count, _ = ThumbnailClaim.objects.filter(runner_id__in=runners).delete()
        deleted += count
    return deleted


def listing(*, now=None, include_gone=True) -> list:
    """Every known runner as a dict, alive first, with its state and lease count."""
    now = now or timezone.now()
    leases = {}
    for runner_id in ThumbnailClaim.objects.filter(expires_at__gt=now).values_list("runner_id", flat=True):
        leases[runner_id] = leases.get(runner_id, 0) + 1
    rows = []
    for runner in ThumbnailRunner.objects.select_related("user"):
        current = state(runner, now=now)
        if current == GONE and not include_gone:
            continue
        rows.append(
            {
                "runner_id": runner.runner_id,
                "user": runner.user.get_username() if runner.user else "",
                "host": runner.host,
                "version": runner.version,
                "renderer": runner.renderer,
                "started_at": runner.started_at,
                "last_seen_at": runner.last_seen_at,
                "done": runner.done,
                "failed": runner.failed,
                "rate_per_minute": runner.rate_per_minute if current == ALIVE else 0.0,
                "leases": leases.get(runner.runner_id, 0),
                "state": current,
            }
        )
    order = {ALIVE: 0, STALE: 1, GONE: 2}
    rows.sort(key=lambda row: (order[row["state"]], row["runner_id"]))
    return rows


def fleet_rate(*, now=None) -> float:
    """Assets per minute of the alive runners together."""
    now = now or timezone.now()
    alive = ThumbnailRunner.objects.filter(
        stopped_at__isnull=True,
        last_seen_at__gte=now - timedelta(seconds=settings.THUMBNAIL_RUNNER_STALE_SECONDS),
    )
    return float(alive.aggregate(total=Sum("rate_per_minute"))["total"] or 0.0)


def eta_seconds(remaining: int, *, now=None) -> float | None:
    """How long the fleet needs for ``remaining`` assets at its current rate (None: no rate)."""
    rate = fleet_rate(now=now)
    return None if rate <= 0 else remaining / rate * 60.0


def overview(*, include_gone=True, now=None) -> dict:
    """The runners, their rate, and the ETA for what is left to render: the assets a claim
    would still hand out (missing, not given up on), leased ones included. The API's fleet
    endpoint and ``thumbnail_status`` both show this."""
    from .selectors import count_missing

    remaining = count_missing(exclude_claimed=False)
    return {
        "runners": listing(now=now, include_gone=include_gone),
        "fleet_rate_per_minute": fleet_rate(now=now),
        "eta_seconds": eta_seconds(remaining, now=now),
        "eta_assets": remaining,
    }


__all__ = [
    "ALIVE",
    "GONE",
    "STALE",
    "RunnerTaken",
    "eta_seconds",
    "fleet_rate",
    "overview",
    "heartbeat",
    "listing",
    "release_silent",
    "seen",
    "state",
]
