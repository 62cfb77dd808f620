"""Run policy: who renders which asset, for how long. The one home of the lease rules.

Clients (the admin page's ``BatchRun``, the headless ``Runner``) keep no lease bookkeeping;
they claim, render, report and, at the end, release everything they hold. The rules:

- A *run* (one Start on the admin page, one ``render_thumbnails``) has an id; each page or
  worker of it claims under its own *runner* id.
- A claim never offers a run an asset it claimed before: whatever happened to it in this run
  (done, failed, skipped, given back), the run moves on. Claims without a run id keep no
  such memory (plain leases).
- A forced run (regeneration) only offers thumbnails generated before the run started, so it
  regenerates each asset once and ends, on the server's clock.
- A lease lasts ``THUMBNAIL_CLAIM_SECONDS`` from its runner's last sign of life: every claim,
  upload or failure report renews the other leases the runner still holds. Assets waiting in
  a live runner's queue therefore never run out, and a dead runner's return one lease after
  its last request.
- A stored thumbnail or a recorded failure ends the lease; a release ends the named leases,
  or every lease of the runner.
- A claim hands out work in one order, :data:`CLAIM_ORDER`: assets someone asked for
  (``ThumbnailPriority.WANTED``: viewed without a thumbnail, an admin's "Render now"), then
  assets that became COMPLETE recently (``RECENT``: uploads, imports), each first come first
  served, then the backlog, oldest first. ``asset_thumb_queue_idx`` holds that order for the
  missing-thumbnail rows, so a claim reads its first rows at any gallery size.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from icosa.models import Asset

from .fleet import release_silent, seen
from .models import ThumbnailClaim, ThumbnailRun, ThumbnailRunAsset
from .selectors import count_missing, missing_thumbnails

#: The claim's order: priority, then when the asset was queued, then id (the backlog has no
#: queue time, so it runs oldest first). Matches asset_thumb_queue_idx column for column.
CLAIM_ORDER = ("thumbnail_priority", "thumbnail_queued_at", "id")

#: Runs older than this are forgotten (their memory only matters while they run).
RUN_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Claimed:
    """What one claim handed out, and what is left for the same run."""

    asset_ids: list
    lease_seconds: int
    remaining: int


def lease_length() -> timedelta:
    return timedelta(seconds=settings.THUMBNAIL_CLAIM_SECONDS)


def _moment(value) -> datetime | None:
    """An aware datetime from an ISO date or date-time (a bare date is midnight)."""
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = None if day is None else datetime.combine(day, time.min)
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def start_run(run_id: str, *, user=None, now: datetime | None = None) -> ThumbnailRun:
    """The run named ``run_id``, created at its first claim (old runs are forgotten then)."""
    now = now or timezone.now()
    run, created = ThumbnailRun.objects.get_or_create(pk=run_id, defaults={"started_at": now, "started_by": user})
    if created:
        ThumbnailRun.objects.filter(started_at__lt=now - RUN_RETENTION).delete()
    return run


def run_filters(run: ThumbnailRun | None, filters: dict) -> dict:
    """``missing_thumbnails`` arguments for ``run``: its own assets out, forced runs bounded."""
    if run is None:
        return dict(filters)
    bounded = dict(filters, exclude_run=run.pk)
    if filters.get("force"):
        asked = _moment(filters.get("generated_before"))
        bounded["generated_before"] = min(asked, run.started_at) if asked else run.started_at
    return bounded


def renew_leases(runner_id: str, *, now: datetime | None = None) -> int:
    """The runner is alive: its live leases last another full lease from now."""
    if not runner_id:
        return 0
    now = now or timezone.now()
    seen(runner_id, now=now)
    return ThumbnailClaim.objects.filter(runner_id=runner_id, expires_at__gt=now).update(
        expires_at=now + lease_length()
    )


def end_lease(asset: Asset, *, runner_id: str = "", now: datetime | None = None) -> None:
    """An upload or a failure report settled ``asset``: its lease ends, the runner's others renew."""
    ThumbnailClaim.objects.filter(asset=asset).delete()
    renew_leases(runner_id, now=now)


def _lockable(candidates: QuerySet) -> QuerySet:
    """The candidates in :data:`CLAIM_ORDER`, locked as they are read where the database can.

    The candidate query itself is locked (its WHERE repeats the partial index's condition, so
    the index serves order and filter); only a DISTINCT one (a format filter), which cannot
    be locked, is wrapped as ``pk IN (...)``.
    """
    rows = candidates.order_by(*CLAIM_ORDER)
    if rows.query.distinct:
        rows = Asset.objects.filter(pk__in=candidates.values("pk")).order_by(*CLAIM_ORDER)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return rows


def claim_assets(*, user, runner_id: str, count: int, run_id: str | None = None, **filters) -> list:
    """Lease up to ``count`` assets to ``runner_id``; nobody else gets them while it lives.

    PostgreSQL takes row locks with SKIP LOCKED; SQLite runs the transaction with
    BEGIN IMMEDIATE (see settings), which serialises claimers.
    """
    return claim(user=user, runner_id=runner_id, count=count, run_id=run_id, **filters).asset_ids


def claim(*, user, runner_id: str, count: int, run_id: str | None = None, **filters) -> Claimed:
    """:func:`claim_assets`, with the lease length and what is left for the run."""
    with transaction.atomic():
        now = timezone.now()
        # Runners whose heartbeat stopped give their leases back now, not at expiry (this
        # one is evidently alive, whatever its last heartbeat said).
        seen(runner_id, now=now, claiming=True)
        release_silent(now=now)
        run = start_run(run_id, user=user, now=now) if run_id else None
        selector_filters = run_filters(run, filters)
        ids = []
        for _attempt in range(5):
            candidates = missing_thumbnails(exclude_claimed=True, **selector_filters)
            locked = list(_lockable(candidates).values_list("pk", flat=True)[:count])
            # A fresh statement sees claims committed while we waited for the row locks;
            # the candidate query's snapshot may predate them.
            taken = set(
                ThumbnailClaim.objects.filter(asset_id__in=locked, expires_at__gt=now).values_list(
                    "asset_id", flat=True
                )
            )
            ids = [pk for pk in locked if pk not in taken]
            if ids or not locked:
                break
        ThumbnailClaim.objects.filter(asset_id__in=ids).delete()
        renew_leases(runner_id, now=now)
        ThumbnailClaim.objects.bulk_create(
            ThumbnailClaim(
                asset_id=pk,
                runner_id=runner_id,
                claimed_by=user,
                claimed_at=now,
                expires_at=now + lease_length(),
            )
            for pk in ids
        )
        if run is not None:
            ThumbnailRunAsset.objects.bulk_create(
                (ThumbnailRunAsset(run=run, asset_id=pk) for pk in ids), ignore_conflicts=True
            )
    remaining = count_missing(exclude_claimed=True, **selector_filters)
    return Claimed(asset_ids=ids, lease_seconds=settings.THUMBNAIL_CLAIM_SECONDS, remaining=remaining)


def release_claims(*, runner_id: str, user, asset_ids: Iterable[int] | None = None) -> int:
    """Give leases back to the pool (Stop, Ctrl-C, page unload, a skipped asset): only the
    leases this user's runner holds.

    Without ``asset_ids``, every lease the runner holds: one call at the end of a run.
    """
    leases = ThumbnailClaim.objects.filter(runner_id=runner_id, claimed_by=user)
    if asset_ids is not None:
        leases = leases.filter(asset_id__in=list(asset_ids))
    deleted, _ = leases.delete()
    return deleted


__all__ = [
    "CLAIM_ORDER",
    "Claimed",
    "claim",
    "claim_assets",
    "end_lease",
    "lease_length",
    "release_claims",
    "renew_leases",
    "run_filters",
    "start_run",
]
