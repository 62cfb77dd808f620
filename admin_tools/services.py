"""Write-side of thumbnail work. The only code that stores thumbnails; claims are in runs.py."""
import logging
from datetime import datetime
from typing import Iterable, Optional

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from icosa.models import Asset

from . import runs
from .images import decode_base64_image, make_derivatives
from .models import ThumbnailClaim, ThumbnailFailure, ThumbnailSelection, ThumbnailVersion, thumbnail_name
from .selectors import referenced_files

logger = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """Files could not be written; nothing about the asset changed. Clients retry later."""


class ClaimConflict(Exception):
    """The asset is leased to another runner."""


def _storage() -> Storage:
    return ThumbnailVersion._meta.get_field("thumbnail").storage


def _write_files(asset_id: int, derivatives) -> list:
    """Save both derivatives; on any failure remove what was written and raise."""
    storage = _storage()
    stem = derivatives.content_hash[:16]
    written = []
    try:
        for kind, derivative in (("thumb", derivatives.thumbnail), ("preview", derivatives.preview)):
            name = thumbnail_name(asset_id, f"{stem}-{kind}-{derivative.width}x{derivative.height}.jpg")
            written.append(storage.save(name, ContentFile(derivative.content)))
    except Exception as exc:
        logger.exception("Storage write failed for asset %s", asset_id)
        _delete_files(written)
        raise StorageUnavailable("Thumbnail storage is unavailable; try again later") from exc
    return written


def _delete_files(names: Iterable[str]) -> None:
    storage = _storage()
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
    ThumbnailVersion.objects.filter(asset=asset, is_current=True).exclude(pk=version.pk).update(
        is_current=False
    )
    version.is_current = True
    version.save(update_fields=["is_current"])
    asset.thumbnail.name = version.thumbnail.name
    asset.preview_image.name = version.preview_image.name
    asset.thumbnail_contenttype = "image/jpeg"
    asset.thumbnail_width = version.width
    asset.thumbnail_height = version.height
    asset.thumbnail_bytes = version.bytes
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
            "thumbnail_generated_at",
            "thumbnail_generated_by",
            "update_time",
        ]
    )


def store_thumbnail(
    *,
    asset_id: int,
    thumbnail_base64: str,
    user,
    runner_id: str = "",
    renderer: str = "",
    render_settings: Optional[dict] = None,
) -> tuple:
    """Validate an upload, write its derivatives, then point the asset at them; returns
    ``(asset, version)``.

    Order matters: validation first (nothing written), storage second (a storage failure
    leaves the asset as it was), database last (a database failure removes the new files).
    """
    if not Asset.objects.filter(pk=asset_id).exists():
        raise Asset.DoesNotExist(f"Asset {asset_id} not found")
    content = decode_base64_image(thumbnail_base64)
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
                content_hash=derivatives.content_hash,
                created_by=user,
                runner_id=runner_id[:128],
                renderer=renderer[:255],
                render_settings=render_settings or {},
            )
            version.save()
            _make_current(asset, version, user, now)
            runs.end_lease(asset, runner_id=runner_id, now=now)
            ThumbnailFailure.objects.filter(asset=asset).delete()
    except BaseException:
        _delete_files(written)
        raise
    return asset, version


def record_failure(
    *, asset_id: int, reason: str, detail: str = "", user=None, runner_id: str = ""
) -> ThumbnailFailure:
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
    return ThumbnailSelection.objects.create(
        asset_ids=[str(pk) for pk in asset_ids], created_by=user, force=force
    )


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
            content_hash=version.content_hash,
            created_by=user,
            runner_id="revert",
            renderer=version.renderer,
            render_settings=version.render_settings,
            reverted_from=version,
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
            old = ThumbnailVersion.objects.filter(asset_id=asset_id, is_current=False).order_by(
                "-created_at", "-id"
            )
            doomed.extend(old[keep:])
        doomed_ids = {v.pk for v in doomed}
        candidate_files = {name for v in doomed for name in (v.thumbnail.name, v.preview_image.name)}
        files = sorted(candidate_files - referenced_files(exclude_versions=doomed_ids))
        storage = _storage()
        freed = 0
        for name in files:
            try:
                freed += storage.size(name)
            except Exception:
                pass
        if not dry_run:
            ThumbnailVersion.objects.filter(pk__in=doomed_ids).delete()
            transaction.on_commit(lambda: _delete_files(files))
    return len(doomed), len(files), freed


__all__ = [
    "ClaimConflict",
    "StorageUnavailable",
    "prune_versions",
    "record_failure",
    "revert_thumbnail",
    "save_selection",
    "store_thumbnail",
]
