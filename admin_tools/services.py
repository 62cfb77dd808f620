"""Write-side of thumbnail work. The only code that stores thumbnails; claims are in runs.py."""

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from icosa.models import Asset

from . import runs
from .images import check_raw_upload, decode_base64_image, extra_derivatives, make_derivatives
from .models import (
    ThumbnailClaim,
    ThumbnailDerivative,
    ThumbnailFailure,
    ThumbnailSelection,
    ThumbnailVersion,
    thumbnail_name,
)
from .quality import parse_quality
from .selectors import referenced_files

logger = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """Files could not be written; nothing about the asset changed. Clients retry later."""


class ClaimConflict(Exception):
    """The asset is leased to another runner."""


def thumbnail_storage() -> Storage:
    """Where thumbnail files live (the versions' and derivatives' one storage)."""
    return ThumbnailVersion._meta.get_field("thumbnail").storage


def _write_files(asset_id: int, derivatives) -> list:
    """Save both derivatives; on any failure remove what was written and raise."""
    storage = thumbnail_storage()
    stem = derivatives.content_hash[:16]
    written = []
    try:
        for kind, derivative in (("thumb", derivatives.thumbnail), ("preview", derivatives.preview)):
            name = thumbnail_name(asset_id, f"{stem}-{kind}-{derivative.width}x{derivative.height}.jpg")
            written.append(storage.save(name, ContentFile(derivative.content)))
    except Exception as exc:
        logger.exception("Storage write failed for asset %s", asset_id)
        delete_files(written)
        raise StorageUnavailable("Thumbnail storage is unavailable; try again later") from exc
    return written


_executor = None
_executor_lock = threading.Lock()


# The derivatives thread's nice value: their encodes (~70 ms of CPU per upload) wait while the
# renderers, the uploads and the API want the CPU, so they are made in its idle time.
BACKGROUND_NICENESS = 10


#: Uploads whose extra derivatives may wait for the background worker at once. Each holds its
#: upload's decoded pixels (~3.5 MB at 1280x800); when this many wait, the next upload's answer
#: waits for a place, so renderers faster than the gallery's encodes are slowed down to them
#: instead of growing the queue, and the process's memory, without bound.
MAX_PENDING_DERIVATIVES = 8
_pending_derivatives = threading.BoundedSemaphore(MAX_PENDING_DERIVATIVES)


def _lower_priority():
    """Make this thread (a task of its own on Linux) nicer than the rest of the process."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority as before
        pass


def _background() -> ThreadPoolExecutor:
    """One worker per process: the extra sizes queue behind each other, never behind uploads."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="thumbnail-derivatives", initializer=_lower_priority
            )
        return _executor


def _extra_derivatives_job(asset_id: int, version_id: int, derivatives, *, own_connection: bool) -> None:
    """The upload has succeeded whatever happens here: a failure is logged, and the version
    keeps its two JPEGs (every listed derivative still exists)."""
    try:
        store_extra_derivatives(asset_id=asset_id, version_id=version_id, derivatives=derivatives)
    except ThumbnailVersion.DoesNotExist:
        logger.info("Thumbnail version %s was pruned before its extra derivatives", version_id)
    except Exception:
        logger.exception("Extra derivatives of thumbnail version %s failed", version_id)
    finally:
        if own_connection:
            connection.close()  # the worker thread's own connection


def _queued_extra_derivatives(asset_id: int, version_id: int, derivatives) -> None:
    try:
        _extra_derivatives_job(asset_id, version_id, derivatives, own_connection=True)
    finally:
        _pending_derivatives.release()


def _schedule_extra_derivatives(asset_id: int, version_id: int, derivatives) -> None:
    """After the commit: in the background (THUMBNAIL_DERIVATIVES_ASYNC), once fewer than
    MAX_PENDING_DERIVATIVES wait there, or right away."""
    if not settings.THUMBNAIL_DERIVATIVES_ASYNC:
        _extra_derivatives_job(asset_id, version_id, derivatives, own_connection=False)
        return
    _pending_derivatives.acquire()
    try:
        _background().submit(_queued_extra_derivatives, asset_id, version_id, derivatives)
    except BaseException:
        _pending_derivatives.release()
        raise


def store_extra_derivatives(*, asset_id: int, version_id: int, derivatives, only=None) -> list:
    """Build and write a version's other sizes and formats, then list them on it (and on any
    revert of it made meanwhile). Files first, rows after: a row always names a stored file;
    if the version is gone (pruned) the new files are removed again. Returns the new rows.

    ``only``: the ``(kind, width, format)`` keys to make (the back-fill's missing ones); a
    version that already lists one of them keeps its row."""
    extras = extra_derivatives(derivatives)
    if only is not None:
        extras = [extra for extra in extras if (extra.kind, extra.width, extra.format) in only]
    storage = thumbnail_storage()
    stem = derivatives.content_hash[:16]
    written = []
    try:
        for extra in extras:
            kind = "thumb" if extra.kind == ThumbnailDerivative.Kind.THUMBNAIL else extra.kind
            alpha = "-alpha" if extra.has_alpha else ""
            name = thumbnail_name(asset_id, f"{stem}-{kind}-{extra.width}x{extra.height}{alpha}.{extra.suffix}")
            written.append(storage.save(name, ContentFile(extra.content)))
    except Exception:
        logger.exception("Storage write failed for extra derivatives of asset %s", asset_id)
        delete_files(written)
        raise
    try:
        with transaction.atomic():
            # The asset's row lock orders this after a running prune or revert (they hold it).
            Asset.objects.select_for_update().filter(pk=asset_id).values_list("pk", flat=True).first()
            targets = list(
                ThumbnailVersion.objects.filter(asset_id=asset_id)
                .filter(Q(pk=version_id) | Q(reverted_from_id=version_id))
                .values_list("pk", flat=True)
            )
            if version_id not in targets:
                raise ThumbnailVersion.DoesNotExist(f"Thumbnail version {version_id} no longer exists")
            listed = set()
            if only is not None:
                listed = set(
                    ThumbnailDerivative.objects.filter(version_id__in=targets).values_list(
                        "version_id", "kind", "width", "format"
                    )
                )
            rows = ThumbnailDerivative.objects.bulk_create(
                [
                    ThumbnailDerivative(
                        version_id=target,
                        kind=extra.kind,
                        format=extra.format,
                        file=name,
                        width=extra.width,
                        height=extra.height,
                        bytes=extra.size,
                        has_alpha=extra.has_alpha,
                    )
                    for target in targets
                    for extra, name in zip(extras, written, strict=True)
                    if (target, extra.kind, extra.width, extra.format) not in listed
                ]
            )
    except BaseException:
        delete_files(written)
        raise
    return rows


def delete_files(names: Iterable[str]) -> None:
    """Remove written files again; a failure is logged, never raised (it runs in clean-ups)."""
    storage = thumbnail_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("Could not delete %s", name)


def _check_claim(asset: Asset, runner_id: str, user, now: datetime) -> None:
    """A live lease belongs to one runner of one user; anyone else is refused (without
    learning who holds it)."""
    claim = ThumbnailClaim.objects.filter(asset=asset, expires_at__gt=now).first()
    if claim and (claim.runner_id != runner_id or claim.claimed_by_id != getattr(user, "pk", None)):
        raise ClaimConflict(f"Asset {asset.pk} is leased to another runner")


def _make_current(asset: Asset, version: ThumbnailVersion, user, now: datetime) -> None:
    """Point the asset at ``version``; an unsaved version is inserted as the current one
    (one statement fewer than insert, then mark)."""
    others = ThumbnailVersion.objects.filter(asset=asset, is_current=True)
    if version.pk is None:
        others.update(is_current=False)
        version.is_current = True
        version.save()
    else:
        others.exclude(pk=version.pk).update(is_current=False)
        version.is_current = True
        version.save(update_fields=["is_current"])
    asset.thumbnail.name = version.thumbnail.name
    asset.preview_image.name = version.preview_image.name
    asset.thumbnail_contenttype = "image/jpeg"
    asset.thumbnail_width = version.width
    asset.thumbnail_height = version.height
    asset.thumbnail_bytes = version.bytes
    asset.thumbnail_needs_review = version.needs_review
    asset.thumbnail_generated_at = now
    asset.thumbnail_generated_by = user
    asset.save(
        update_fields=[
            "thumbnail",
            "preview_image",
            "thumbnail_contenttype",
            "thumbnail_width",
            "thumbnail_height",
            "thumbnail_bytes",
            "thumbnail_needs_review",
            "thumbnail_generated_at",
            "thumbnail_generated_by",
            "update_time",
        ]
    )


def store_thumbnail(
    *,
    asset_id: int,
    user,
    thumbnail_base64: str | None = None,
    content: bytes | None = None,
    runner_id: str = "",
    renderer: str = "",
    render_settings: dict | None = None,
) -> tuple:
    """Validate an upload (``thumbnail_base64``, or the raw image bytes as ``content``),
    write its derivatives, then point the asset at them; returns ``(asset, version)``.

    Order matters: validation first (nothing written), storage second (a storage failure
    leaves the asset as it was), database last (a database failure removes the new files).
    The other sizes and formats follow after the commit (``store_extra_derivatives``).
    ``render_settings["quality"]`` is the page's quality record (``ValueError`` if malformed).
    """
    render_settings = render_settings or {}
    quality = parse_quality(render_settings.get("quality"))
    if not Asset.objects.filter(pk=asset_id).exists():
        raise Asset.DoesNotExist(f"Asset {asset_id} not found")
    content = decode_base64_image(thumbnail_base64) if content is None else check_raw_upload(content)
    derivatives = make_derivatives(content)
    written = _write_files(asset_id, derivatives)
    try:
        with transaction.atomic():
            asset = Asset.objects.select_for_update().get(pk=asset_id)
            now = timezone.now()
            _check_claim(asset, runner_id, user, now)
            version = ThumbnailVersion(
                asset=asset,
                thumbnail=written[0],
                preview_image=written[1],
                width=derivatives.thumbnail.width,
                height=derivatives.thumbnail.height,
                bytes=derivatives.thumbnail.size,
                preview_width=derivatives.preview.width,
                preview_height=derivatives.preview.height,
                preview_bytes=derivatives.preview.size,
                content_hash=derivatives.content_hash,
                created_by=user,
                runner_id=runner_id[:128],
                renderer=renderer[:255],
                render_settings=render_settings,
                **quality.model_fields(),
            )
            _make_current(asset, version, user, now)
            runs.end_lease(asset, runner_id=runner_id, now=now)
            ThumbnailFailure.objects.filter(asset=asset).delete()
            transaction.on_commit(lambda: _schedule_extra_derivatives(asset_id, version.pk, derivatives))
    except BaseException:
        delete_files(written)
        raise
    if settings.THUMBNAIL_DERIVATIVES_ASYNC:
        # Its other derivatives are listed by their own job, after this answer: nothing to
        # ask the database (selectors.thumbnail_derivatives reads this cache).
        version._prefetched_objects_cache = {"derivatives": ThumbnailDerivative.objects.none()}
    return asset, version


def record_failure(*, asset_id: int, reason: str, detail: str = "", user=None, runner_id: str = "") -> ThumbnailFailure:
    """Count a failed render and end the lease, so the next batch starts elsewhere."""
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=asset_id)
        now = timezone.now()
        _check_claim(asset, runner_id, user, now)
        failure, created = ThumbnailFailure.objects.get_or_create(
            asset=asset,
            defaults={
                "attempts": 1,
                "reason": reason,
                "detail": detail,
                "runner_id": runner_id,
                "reported_by": user,
                "last_failed_at": now,
            },
        )
        if not created:
            ThumbnailFailure.objects.filter(pk=failure.pk).update(
                attempts=F("attempts") + 1,
                reason=reason,
                detail=detail,
                runner_id=runner_id,
                reported_by=user,
                last_failed_at=now,
            )
            failure.refresh_from_db()
        runs.end_lease(asset, runner_id=runner_id, now=now)
    return failure


def save_selection(*, asset_ids: Iterable[int], user, force: bool = True) -> ThumbnailSelection:
    return ThumbnailSelection.objects.create(asset_ids=[str(pk) for pk in asset_ids], created_by=user, force=force)


def revert_thumbnail(*, version: ThumbnailVersion, user) -> ThumbnailVersion:
    """Make an earlier version current again; the revert is itself a recorded version."""
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=version.asset_id)
        # A prune may have removed the version (and queued its files) while we waited.
        if not ThumbnailVersion.objects.filter(pk=version.pk).exists():
            raise ThumbnailVersion.DoesNotExist(f"Thumbnail version {version.pk} no longer exists")
        now = timezone.now()
        new_version = ThumbnailVersion.objects.create(
            asset=asset,
            thumbnail=version.thumbnail.name,
            preview_image=version.preview_image.name,
            width=version.width,
            height=version.height,
            bytes=version.bytes,
            preview_width=version.preview_width,
            preview_height=version.preview_height,
            preview_bytes=version.preview_bytes,
            content_hash=version.content_hash,
            created_by=user,
            runner_id="revert",
            renderer=version.renderer,
            render_settings=version.render_settings,
            coverage=version.coverage,
            margin=version.margin,
            luminance=version.luminance,
            contrast=version.contrast,
            quality_flags=version.quality_flags,
            needs_review=version.needs_review,
            reverted_from=version,
        )
        # The same files: derivatives still being made for ``version`` join later
        # (store_extra_derivatives lists them on its reverts too).
        ThumbnailDerivative.objects.bulk_create(
            [
                ThumbnailDerivative(
                    version=new_version,
                    kind=row.kind,
                    format=row.format,
                    file=row.file.name,
                    width=row.width,
                    height=row.height,
                    bytes=row.bytes,
                    has_alpha=row.has_alpha,
                )
                for row in version.derivatives.all()
            ]
        )
        _make_current(asset, new_version, user, now)
    return new_version


def prune_versions(*, keep: int, dry_run: bool = False) -> tuple:
    """Delete all but the newest ``keep`` non-current versions per asset, and their files.

    A file still used by a kept version or by an asset is never deleted.
    Returns (versions removed, files removed, bytes freed).
    """
    if keep < 0:
        raise ValueError("keep must be >= 0")
    with transaction.atomic():
        # Lock every asset with old versions first: a revert holds the same row lock, so it
        # either finished before (and its version keeps the files alive) or waits for this
        # transaction and then finds its version gone. Files go only after the commit.
        asset_ids = list(
            ThumbnailVersion.objects.filter(is_current=False)
            .order_by("asset_id")
            .values_list("asset_id", flat=True)
            .distinct()
        )
        list(Asset.objects.filter(pk__in=asset_ids).order_by("pk").select_for_update().values_list("pk", flat=True))
        doomed = []
        for asset_id in asset_ids:
            old = ThumbnailVersion.objects.filter(asset_id=asset_id, is_current=False).order_by("-created_at", "-id")
            doomed.extend(old[keep:])
        doomed_ids = {v.pk for v in doomed}
        candidate_files = {name for v in doomed for name in (v.thumbnail.name, v.preview_image.name)}
        candidate_files.update(
            ThumbnailDerivative.objects.filter(version__in=doomed_ids).values_list("file", flat=True)
        )
        files = sorted(candidate_files - referenced_files(exclude_versions=doomed_ids))
        storage = thumbnail_storage()
        freed = 0
        for name in files:
            try:
                freed += storage.size(name)
            except Exception:
                pass
        if not dry_run:
            ThumbnailVersion.objects.filter(pk__in=doomed_ids).delete()
            transaction.on_commit(lambda: delete_files(files))
    return len(doomed), len(files), freed


__all__ = [
    "ClaimConflict",
    "StorageUnavailable",
    "prune_versions",
    "record_failure",
    "revert_thumbnail",
    "save_selection",
    "store_extra_derivatives",
    "store_thumbnail",
]
