"""Turntable previews (issue 13): frames the page rendered on an orbit around the model, checked
like any upload and re-encoded by Pillow into one animated WebP, stored as a derivative (kind
"turntable") of the still's version.

Opt-in: ``THUMBNAIL_TURNTABLE_FRAMES`` is 0 unless a run asks (the generator page's setting,
``render_thumbnails --turntable N``). The still is uploaded first and never depends on this:
a refused or failed turntable leaves the version as it was, and the answer says why.
"""

import hashlib
import io
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from PIL import Image, ImageOps

from icosa.models import Asset

from .images import WEBP_METHOD, ImageRejected, ImageTooLarge, decode_base64_image, is_uniform, open_checked
from .models import ThumbnailDerivative, ThumbnailVersion, thumbnail_name
from .services import StorageUnavailable, delete_files, thumbnail_storage

logger = logging.getLogger(__name__)

#: Fewest and most frames one turntable may have (the page clamps to MAX_FRAMES too).
MIN_FRAMES = 2
MAX_FRAMES = 72


class TurntableConflict(Exception):
    """The version already has a turntable, or was stored by another runner."""


@dataclass(frozen=True)
class Turntable:
    """One assembled animated WebP."""

    content: bytes
    width: int
    height: int
    frames: int
    frame_ms: int

    @property
    def size(self):
        return len(self.content)


def turntable_size() -> tuple:
    """The size every stored turntable has (THUMBNAIL_TURNTABLE_SIZE)."""
    width, height = settings.THUMBNAIL_TURNTABLE_SIZE
    return int(width), int(height)


def _frame(index: int, data, size: tuple, first_size: tuple | None) -> tuple:
    """One frame checked like an upload (base64, type, bombs, pixel limits, blank), brought to
    ``size``; the full-size decode is dropped at once so memory stays one frame deep.
    Returns (the frame at ``size``, its uploaded size)."""
    where = f"turntable_frames[{index}]"
    try:
        _mime, image = open_checked(decode_base64_image(data))
    except ImageRejected as exc:
        raise type(exc)(f"{where}: {exc}") from None
    if first_size is not None and image.size != first_size:
        raise ImageRejected(
            f"{where}: {image.width}x{image.height}, but frame 0 is {first_size[0]}x{first_size[1]}; "
            "all frames must have the same size"
        )
    if image.width < size[0] or image.height < size[1]:
        raise ImageRejected(f"{where}: {image.width}x{image.height}; at least {size[0]}x{size[1]} is required")
    rgb = image.convert("RGB")
    if is_uniform(rgb):
        raise ImageRejected(f"{where}: the frame is blank (a single uniform colour)")
    resized = rgb if rgb.size == size else ImageOps.fit(rgb, size, Image.Resampling.LANCZOS)
    return resized, image.size


def assemble(frames) -> Turntable:
    """Check every frame and encode them as one looping animated WebP of ``turntable_size()``.

    Raises ``ImageRejected`` (``ImageTooLarge`` for bytes) naming the first bad frame; nothing
    is written here.
    """
    count = len(frames) if isinstance(frames, list) else 0
    if not MIN_FRAMES <= count <= MAX_FRAMES:
        raise ImageRejected(f"turntable_frames: {count} frames; {MIN_FRAMES} to {MAX_FRAMES} are accepted")
    max_bytes = settings.THUMBNAIL_MAX_UPLOAD_BYTES
    if sum(len(data) for data in frames if isinstance(data, str)) * 3 // 4 > max_bytes + 3 * count:
        raise ImageTooLarge(f"turntable_frames: over {max_bytes} bytes together after decoding")
    size = turntable_size()
    images = []
    first_size = None
    for index, data in enumerate(frames):
        image, uploaded_size = _frame(index, data, size, first_size)
        images.append(image)
        first_size = first_size or uploaded_size
    frame_ms = max(10, int(settings.THUMBNAIL_TURNTABLE_FRAME_MS))
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=frame_ms,
        loop=0,
        quality=settings.THUMBNAIL_WEBP_QUALITY,
        method=WEBP_METHOD,
    )
    return Turntable(buffer.getvalue(), *size, frames=count, frame_ms=frame_ms)


def _check_version(version: ThumbnailVersion, *, runner_id: str, user) -> None:
    """Only the runner (and user) that stored the still adds its turntable, once."""
    if version.runner_id != runner_id or version.created_by_id != getattr(user, "pk", None):
        raise TurntableConflict(f"Thumbnail version {version.pk} was stored by another runner")
    if ThumbnailDerivative.objects.filter(version=version, kind=ThumbnailDerivative.Kind.TURNTABLE).exists():
        raise TurntableConflict(f"Thumbnail version {version.pk} already has a turntable preview")


def store_turntable(*, asset_id: int, version_id: int, frames, user, runner_id: str) -> tuple:
    """Check and assemble ``frames``, write the WebP, then list it on the version (and on any
    revert of it). Returns ``(row, turntable)``.

    The order of ``services.store_extra_derivatives``: checks first (nothing written), the file
    second, the rows last under the asset's row lock; a failure after the write removes the file,
    so a row always names a stored file. Raises ``Asset.DoesNotExist``,
    ``ThumbnailVersion.DoesNotExist``, ``ImageRejected``, ``TurntableConflict``.
    """
    if not Asset.objects.filter(pk=asset_id).exists():
        raise Asset.DoesNotExist(f"Asset {asset_id} not found")
    version = ThumbnailVersion.objects.filter(pk=version_id, asset_id=asset_id).first()
    if version is None:
        raise ThumbnailVersion.DoesNotExist(f"Thumbnail version {version_id} of asset {asset_id} not found")
    _check_version(version, runner_id=runner_id, user=user)
    turntable = assemble(frames)
    digest = hashlib.sha256(turntable.content).hexdigest()[:8]
    name = thumbnail_name(
        asset_id, f"{version.content_hash[:16]}-turntable-{turntable.width}x{turntable.height}-{digest}.webp"
    )
    try:
        name = thumbnail_storage().save(name, ContentFile(turntable.content))
    except Exception as exc:
        logger.exception("Storage write failed for the turntable of asset %s", asset_id)
        raise StorageUnavailable("Thumbnail storage is unavailable; try again later") from exc
    try:
        with transaction.atomic():
            Asset.objects.select_for_update().filter(pk=asset_id).values_list("pk", flat=True).first()
            version = ThumbnailVersion.objects.filter(pk=version_id, asset_id=asset_id).first()
            if version is None:
                raise ThumbnailVersion.DoesNotExist(f"Thumbnail version {version_id} no longer exists")
            _check_version(version, runner_id=runner_id, user=user)
            targets = ThumbnailVersion.objects.filter(Q(pk=version_id) | Q(reverted_from_id=version_id))
            rows = ThumbnailDerivative.objects.bulk_create(
                [
                    ThumbnailDerivative(
                        version_id=target,
                        kind=ThumbnailDerivative.Kind.TURNTABLE,
                        format=ThumbnailDerivative.ImageFormat.WEBP,
                        file=name,
                        width=turntable.width,
                        height=turntable.height,
                        bytes=turntable.size,
                    )
                    for target in targets.values_list("pk", flat=True)
                ]
            )
    except BaseException:
        delete_files([name])
        raise
    return next(row for row in rows if row.version_id == version_id), turntable


def described(row: ThumbnailDerivative, turntable: Turntable) -> dict:
    """The upload's answer: the derivative as the read endpoint lists it, with its timing."""
    return {
        "kind": row.kind,
        "format": row.format,
        "width": row.width,
        "height": row.height,
        "bytes": row.bytes,
        "has_alpha": row.has_alpha,
        "url": row.file.storage.url(row.file.name),
        "frames": turntable.frames,
        "frame_ms": turntable.frame_ms,
    }


def page_settings() -> dict:
    """What the renderer pages need (admin_tools/pageconfig.py): the default frame count (0 =
    off), the frame size and the bounds the page clamps any other count to."""
    width, height = turntable_size()
    return {
        "frames": max(0, int(settings.THUMBNAIL_TURNTABLE_FRAMES)),
        "width": width,
        "height": height,
        "limits": [MIN_FRAMES, MAX_FRAMES],
    }


__all__ = [
    "MAX_FRAMES",
    "MIN_FRAMES",
    "Turntable",
    "TurntableConflict",
    "assemble",
    "described",
    "page_settings",
    "store_turntable",
    "turntable_size",
]
