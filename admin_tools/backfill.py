"""Back-fill thumbnail derivatives: versions made before the extra sizes existed, or whose
background job was lost to a crash, get every derivative the current settings call for.

They are built from the version's stored preview (the largest image it keeps; its transparent
preview PNG when one survives) by the upload's own code: ``images.make_derivatives`` decodes
and checks it, ``services.store_extra_derivatives`` encodes, writes and lists the missing ones.
A derivative row whose file is gone is removed first, so no row names a missing file; a version
whose source file is gone is reported and left as it is.
"""

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from icosa.models import Asset

from . import services
from .images import Derivative, ImageRejected, card_sizes, make_derivatives
from .models import ThumbnailDerivative, ThumbnailVersion

logger = logging.getLogger(__name__)

COMPLETE = "complete"
BUILT = "built"
WOULD_BUILD = "would_build"
SOURCE_MISSING = "source_missing"
FAILED = "failed"
PROBLEMS = (SOURCE_MISSING, FAILED)


@dataclasses.dataclass
class Outcome:
    """What the back-fill did (or would do) to one version; keys are (kind, width, format)."""

    version: ThumbnailVersion
    status: str
    missing: list = dataclasses.field(default_factory=list)
    made: int = 0
    dropped: int = 0
    detail: str = ""
    covered: set = dataclasses.field(default_factory=set)


def _key(row) -> tuple:
    return (row.kind, row.width, row.format)


def expected_keys(version: ThumbnailVersion, *, alpha: bool) -> set:
    """The derivatives the upload path (``images.extra_derivatives``) makes from a source of
    the version's preview size: card widths as JPEG and WebP (no JPEG at the version's own
    thumbnail size: that is its ``thumbnail`` file), the preview as WebP and, for a
    transparent source under THUMBNAIL_KEEP_ALPHA, as PNG. tests/test_backfill.py holds it
    to what an upload really stores."""
    thumb = (version.width, version.height)
    preview_width = version.preview_width
    keys = {("preview", preview_width, "WEBP")}
    for size in card_sizes((preview_width, version.preview_height)):
        keys.add(("thumbnail", size[0], "WEBP"))
        if size != thumb:
            keys.add(("thumbnail", size[0], "JPEG"))
    if alpha and settings.THUMBNAIL_KEEP_ALPHA:
        keys.add(("preview", preview_width, "PNG"))
    return keys


def versions(*, current_only=False, min_age_minutes=10):
    """Versions to check, oldest first (a revert comes after the version it copies); versions
    younger than ``min_age_minutes`` are left to their own background job."""
    queryset = ThumbnailVersion.objects.filter(created_at__lte=timezone.now() - timedelta(minutes=min_age_minutes))
    if current_only:
        queryset = queryset.filter(is_current=True)
    return queryset.order_by("id")


def _exists(storage, name) -> bool:
    return bool(name) and storage.exists(name)


def _drop_rows(asset_id, row_ids) -> None:
    """Remove derivative rows under the asset's row lock (the order prune and revert keep)."""
    with transaction.atomic():
        Asset.objects.select_for_update().filter(pk=asset_id).values_list("pk", flat=True).first()
        ThumbnailDerivative.objects.filter(pk__in=row_ids).delete()


def _family_rows(version, keys):
    """The rows of ``keys`` on the version and its reverts (they share its files)."""
    rows = ThumbnailDerivative.objects.filter(Q(version_id=version.pk) | Q(version__reverted_from_id=version.pk))
    return [row for row in rows if _key(row) in keys]


def _delete_unlisted(names) -> None:
    """Delete replaced files that no row lists any more (on S3 a rebuilt file may have kept
    its name: then it is listed and stays)."""
    storage = services.thumbnail_storage()
    listed = set(ThumbnailDerivative.objects.filter(file__in=names).values_list("file", flat=True))
    for name in set(names) - listed:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("Could not delete replaced derivative %s", name)


def backfill_version(version: ThumbnailVersion, *, rebuild=False, dry_run=False) -> Outcome:
    """Check one version and make what it lacks (``rebuild``: remake all of them)."""
    storage = services.thumbnail_storage()
    # Read now, not with the queryset: back-filling the version a revert copies lists files on it.
    rows = list(ThumbnailDerivative.objects.filter(version=version))
    present = [row for row in rows if _exists(storage, row.file.name)]
    dangling = [row for row in rows if row not in present]
    alpha_source = next(
        (row for row in present if row.kind == "preview" and row.format == "PNG" and row.has_alpha), None
    )
    wanted = expected_keys(version, alpha=alpha_source is not None)
    missing = set(wanted) if rebuild else wanted - {_key(row) for row in present}
    outcome = Outcome(version, COMPLETE, sorted(missing, key=str), dropped=len(dangling))
    if not missing and not dangling:
        return outcome
    source = alpha_source.file.name if alpha_source else version.preview_image.name
    if dry_run:
        if missing and _exists(storage, source):
            outcome.status = WOULD_BUILD
        elif missing:
            outcome.status, outcome.detail = SOURCE_MISSING, source or "(no preview file recorded)"
        return outcome
    if dangling:
        _drop_rows(version.asset_id, [row.pk for row in dangling])
    if not missing:
        return outcome
    if not _exists(storage, source):
        outcome.status, outcome.detail = SOURCE_MISSING, source or "(no preview file recorded)"
        return outcome
    try:
        with storage.open(source) as handle:
            derivatives = make_derivatives(handle.read())
    except (ImageRejected, OSError) as exc:
        outcome.status, outcome.detail = FAILED, f"{source}: {exc}"
        return outcome
    # The version's own card JPEG and file stem, so the extras are the ones its upload made.
    derivatives = dataclasses.replace(
        derivatives,
        thumbnail=Derivative(b"", version.width, version.height),
        content_hash=version.content_hash or derivatives.content_hash,
    )
    replaced = []
    if rebuild:
        # Rows go before the new ones are listed (one row per size): if storing fails the
        # version lacks them (the next run makes them) and the old files are orphans.
        old = _family_rows(version, missing)
        replaced = [row.file.name for row in old]
        _drop_rows(version.asset_id, [row.pk for row in old])
    try:
        made = services.store_extra_derivatives(
            asset_id=version.asset_id, version_id=version.pk, derivatives=derivatives, only=missing
        )
    except ThumbnailVersion.DoesNotExist:
        outcome.status, outcome.detail = FAILED, "pruned meanwhile"
        return outcome
    except Exception as exc:
        logger.exception("Back-fill of thumbnail version %s failed", version.pk)
        outcome.status, outcome.detail = FAILED, str(exc)
        return outcome
    if replaced:
        _delete_unlisted(replaced)
    outcome.status = BUILT
    outcome.made = sum(1 for row in made if row.version_id == version.pk)
    outcome.covered = {row.version_id for row in made}
    return outcome


def backfill(queryset, *, rebuild=False, dry_run=False, limit=None) -> Iterator[Outcome]:
    """``backfill_version`` over ``queryset``; stops after ``limit`` versions needed work. A
    revert given new files with the version it copies (``rebuild``) is not rebuilt again."""
    covered = set()
    worked = 0
    for version in queryset.iterator(chunk_size=500):
        if limit is not None and worked >= limit:
            return
        if version.pk in covered:
            continue
        outcome = backfill_version(version, rebuild=rebuild, dry_run=dry_run)
        if rebuild:
            covered |= outcome.covered
        if outcome.status != COMPLETE or outcome.dropped:
            worked += 1
        yield outcome
