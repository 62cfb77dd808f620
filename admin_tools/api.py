"""Thumbnail work API: list what is missing, claim work, upload results, report failures."""

import json
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, field_validator

from icosa.jwt_auth import StaffJWTAuth
from icosa.models import Asset

from . import fleet, runs, selectors, services, turntable
from .filters import WorkFilters
from .ids import parse_asset_id, parse_asset_ids
from .images import ALLOWED_MIME_TYPES, ImageRejected, ImageTooLarge, ImageTypeUnsupported, refuse_oversize
from .models import ThumbnailSelection, ThumbnailVersion
from .pageconfig import MAX_BATCH
from .quality import parse_quality
from .reasons import FAILURE_REASONS

router = Router(tags=["thumbnails"], auth=StaffJWTAuth())

# Most bytes of JSON a version's render settings may hold (ids are capped in ids.MAX_IDS).
MAX_RENDER_SETTINGS_BYTES = 16 * 1024


class Message(Schema):
    detail: str


# The listing's output models are plain pydantic models over the dicts selectors.asset_listing
# builds: ninja's Schema would wrap every nested value in its ORM-attribute getter, which cost
# more than building the dicts (bench/README.md).
class ResourceOut(BaseModel):
    url: str
    filename: str = Field(..., description="The name the root file refers to it by.")
    contenttype: str


class FormatOut(BaseModel):
    format_type: str
    root_url: str | None
    is_preferred: bool
    resources: list[ResourceOut]


class FailureOut(BaseModel):
    attempts: int
    reason: str
    detail: str


class AssetOut(BaseModel):
    """One asset to render; built by ``selectors.asset_listing``."""

    id: str = Field(..., description="64-bit id, as a string (JavaScript numbers lose precision).")
    url: str
    name: str
    owner_displayname: str
    presentation_params: dict
    has_thumbnail: bool
    failure: FailureOut | None
    admin_url: str
    page_url: str
    formats: list[FormatOut]


def _parse_ids(values, name="asset_ids"):
    try:
        return parse_asset_ids(values)
    except ValueError as error:
        raise HttpError(422, f"{name}: {error}") from None


class MissingFilters(WorkFilters):
    limit: int = Field(50, ge=1, le=MAX_BATCH, description="Page size, 1 to 100.")
    offset: int = Field(0, ge=0)
    after: str | None = Field(
        None,
        description="Only ids above this one (pass the last id of the previous page): "
        "constant-time paging, where a deep offset walks every row before it.",
    )


class MissingOut(Schema):
    assets: list[AssetOut]
    total_count: int
    has_more: bool


@router.get(
    "/assets/missing-thumbnails",
    response={200: MissingOut, 401: Message, 403: Message, 422: Message},
    url_name="missing_thumbnails",
)
def list_missing_thumbnails(request, filters: Query[MissingFilters]):
    ids = _parse_ids(filters.asset_ids) if filters.asset_ids else None
    selector_filters = filters.selector_kwargs(asset_ids=ids)
    # One row more than asked says whether another page exists (total_count may be a few
    # seconds old, see THUMBNAIL_COUNT_CACHE_SECONDS).
    rows = selectors.missing_thumbnails(**selector_filters)
    if filters.after is not None:
        after = parse_asset_id(filters.after)
        if after is None:
            raise HttpError(422, f"after: '{filters.after}' is not an asset id")
        rows = rows.filter(pk__gt=after)
    page = selectors.asset_listing(rows[filters.offset : filters.offset + filters.limit + 1])
    return {
        "assets": page[: filters.limit],
        "total_count": selectors.count_missing(**selector_filters),
        "has_more": len(page) > filters.limit,
    }


class ThumbnailMeta(Schema):
    """What an upload says besides its image: one set of rules for both bodies."""

    runner_id: str = Field(..., min_length=1, max_length=128)
    renderer: str = Field("", max_length=255)
    render_settings: dict = Field(default_factory=dict)

    @field_validator("render_settings")
    @classmethod
    def _bounded(cls, value):
        if len(json.dumps(value)) > MAX_RENDER_SETTINGS_BYTES:
            raise ValueError(f"render_settings: at most {MAX_RENDER_SETTINGS_BYTES} bytes of JSON")
        parse_quality(value.get("quality"))  # the page's quality record: admin_tools/quality.py
        return value


class ThumbnailIn(ThumbnailMeta):
    thumbnail_base64: str


class ThumbnailImageQuery(ThumbnailMeta):
    """The raw-body upload's fields, in the query string; ``render_settings`` as JSON text."""

    render_settings: dict = Field(default_factory=dict, description="A JSON object, as text.")

    @field_validator("render_settings", mode="before")
    @classmethod
    def _json_text(cls, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("render_settings: not valid JSON") from None
            if not isinstance(value, dict):
                raise ValueError("render_settings: must be a JSON object")
        return value


class DerivativeOut(BaseModel):
    kind: str = Field(
        ..., description='"thumbnail" (the card crop), "preview" (the whole capture) or "turntable" (animated WebP).'
    )
    format: str = Field(..., description="JPEG, WEBP or PNG.")
    width: int
    height: int
    bytes: int
    has_alpha: bool = Field(..., description="Transparent background (from a PNG upload with alpha).")
    url: str


class QualityOut(Schema):
    coverage: float | None
    margin: float | None
    luminance: float | None
    contrast: float | None
    flags: list[str]
    needs_review: bool


def _quality(version) -> dict:
    return {
        "coverage": version.coverage,
        "margin": version.margin,
        "luminance": version.luminance,
        "contrast": version.contrast,
        "flags": version.quality_flags,
        "needs_review": version.needs_review,
    }


class ThumbnailOut(Schema):
    success: bool
    thumbnail_url: str
    preview_image_url: str
    asset_url: str
    width: int
    height: int
    bytes: int
    version_id: str
    quality: QualityOut
    derivatives: list[DerivativeOut] = Field(
        ...,
        description="Stored files only: the other sizes and formats are made after the answer "
        "(GET /admin/assets/{id}/thumbnails lists them once stored).",
    )


def _asset_id(asset_id: str) -> int:
    parsed = parse_asset_id(asset_id)
    if parsed is None:
        raise HttpError(404, f"Asset {asset_id} not found")
    return parsed


UPLOAD_RESPONSES = {
    200: ThumbnailOut,
    401: Message,
    403: Message,
    404: Message,
    409: Message,
    413: Message,
    415: Message,
    422: Message,
    503: Message,
}


@router.post("/assets/{asset_id}/thumbnail", response=UPLOAD_RESPONSES, url_name="upload_thumbnail")
def upload_thumbnail(request, asset_id: str, payload: ThumbnailIn):
    return _store_upload(request, asset_id, payload, thumbnail_base64=payload.thumbnail_base64)


@router.post(
    "/assets/{asset_id}/thumbnail-image",
    response=UPLOAD_RESPONSES,
    url_name="upload_thumbnail_image",
    summary="Upload thumbnail image (raw body)",
    description="The same upload as POST /assets/{id}/thumbnail with the JPEG or PNG bytes as the "
    "body (Content-Type image/jpeg or image/png) and the other fields in the query string: "
    "no base64 to encode in the page or decode here.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                mime: {"schema": {"type": "string", "format": "binary"}} for mime in sorted(ALLOWED_MIME_TYPES)
            },
        }
    },
)
def upload_thumbnail_image(request, asset_id: str, meta: Query[ThumbnailImageQuery]):
    return _store_upload(request, asset_id, meta, content=_raw_image_body(request))


def _raw_image_body(request) -> bytes:
    """The body of a raw-image upload: a JPEG or PNG content type, a size within the limit
    (from Content-Length, before the body is read). What the bytes are is checked later."""
    if request.content_type not in ALLOWED_MIME_TYPES:
        raise HttpError(
            415,
            f"Unsupported Content-Type: {request.content_type or 'none'} (send image/jpeg or image/png, "
            "or base64 JSON to /assets/{id}/thumbnail)",
        )
    try:
        refuse_oversize(int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        raise HttpError(400, "Invalid Content-Length") from None
    except ImageTooLarge as exc:
        raise HttpError(413, str(exc)) from None
    return request.body


def _store_upload(request, asset_id: str, meta: ThumbnailMeta, **image):
    """Both upload bodies end here: store, map refusals to HTTP codes, answer."""
    try:
        asset, version = services.store_thumbnail(
            asset_id=_asset_id(asset_id),
            user=request.auth,
            runner_id=meta.runner_id,
            renderer=meta.renderer,
            render_settings=meta.render_settings,
            **image,
        )
    except Asset.DoesNotExist:
        raise HttpError(404, f"Asset {asset_id} not found") from None
    except ImageRejected as exc:
        raise HttpError(_rejection_status(exc), str(exc)) from None
    except services.ClaimConflict as exc:
        raise HttpError(409, str(exc)) from None
    except services.StorageUnavailable as exc:
        raise HttpError(503, str(exc)) from None
    return {
        "success": True,
        "thumbnail_url": asset.thumbnail.url,
        "preview_image_url": asset.preview_image.url,
        "asset_url": asset.url,
        "width": version.width,
        "height": version.height,
        "bytes": version.bytes,
        "version_id": str(version.pk),
        "quality": _quality(version),
        "derivatives": selectors.thumbnail_derivatives(version),
    }


class ThumbnailsOut(Schema):
    asset_id: str
    version_id: str | None = Field(..., description="The current version; null without a thumbnail.")
    quality: QualityOut | None
    derivatives: list[DerivativeOut]


@router.get(
    "/assets/{asset_id}/thumbnails",
    response={200: ThumbnailsOut, 401: Message, 403: Message, 404: Message},
    url_name="asset_thumbnails",
)
def list_asset_thumbnails(request, asset_id: str):
    parsed = _asset_id(asset_id)
    if not Asset.objects.filter(pk=parsed).exists():
        raise HttpError(404, f"Asset {asset_id} not found")
    version = selectors.current_version(parsed)
    return {
        "asset_id": str(parsed),
        "version_id": str(version.pk) if version else None,
        "quality": _quality(version) if version else None,
        "derivatives": selectors.thumbnail_derivatives(version),
    }


class TurntableIn(Schema):
    version_id: str = Field(..., description="The version the still's upload answered with.")
    runner_id: str = Field(..., min_length=1, max_length=128)
    turntable_frames: list[str] = Field(..., description="JPEG/PNG frames on an orbit, base64 or data URLs.")


class TurntableOut(DerivativeOut):
    frames: int
    frame_ms: int


@router.post(
    "/assets/{asset_id}/turntable",
    response={**UPLOAD_RESPONSES, 200: TurntableOut},
    url_name="upload_turntable",
)
def upload_turntable(request, asset_id: str, payload: TurntableIn):
    """An animated WebP preview of a stored version (admin_tools/turntable.py); the still is
    never changed, whatever this answers."""
    version_id = parse_asset_id(payload.version_id)
    try:
        row, made = turntable.store_turntable(
            asset_id=_asset_id(asset_id),
            version_id=-1 if version_id is None else version_id,
            frames=payload.turntable_frames,
            user=request.auth,
            runner_id=payload.runner_id,
        )
    except (Asset.DoesNotExist, ThumbnailVersion.DoesNotExist) as exc:
        raise HttpError(404, str(exc)) from None
    except ImageRejected as exc:
        raise HttpError(_rejection_status(exc), str(exc)) from None
    except turntable.TurntableConflict as exc:
        raise HttpError(409, str(exc)) from None
    except services.StorageUnavailable as exc:
        raise HttpError(503, str(exc)) from None
    return turntable.described(row, made)


def _rejection_status(error: ImageRejected) -> int:
    """The HTTP answer to a refused upload: too large 413, not JPEG/PNG 415, else 422."""
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, ImageTypeUnsupported):
        return 415
    return 422


class FailureIn(Schema):
    reason: str = Field(
        ..., min_length=1, max_length=64, description="A code of static/batch_thumbs/failure-reasons.json."
    )
    detail: str = Field("", max_length=4000)
    runner_id: str = Field(..., min_length=1, max_length=128)

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value):
        if value not in FAILURE_REASONS:
            raise ValueError(f"'{value}' is not a failure reason ({', '.join(FAILURE_REASONS)})")
        return value


class FailureRecorded(Schema):
    asset_id: str
    attempts: int
    reason: str


@router.post(
    "/assets/{asset_id}/thumbnail-failure",
    response={200: FailureRecorded, 401: Message, 403: Message, 404: Message, 409: Message, 422: Message},
    url_name="thumbnail_failure",
)
def report_thumbnail_failure(request, asset_id: str, payload: FailureIn):
    try:
        failure = services.record_failure(
            asset_id=_asset_id(asset_id),
            reason=payload.reason,
            detail=payload.detail,
            user=request.auth,
            runner_id=payload.runner_id,
        )
    except Asset.DoesNotExist:
        raise HttpError(404, f"Asset {asset_id} not found") from None
    except services.ClaimConflict as exc:
        raise HttpError(409, str(exc)) from None
    return {"asset_id": asset_id, "attempts": failure.attempts, "reason": failure.reason}


class ClaimIn(WorkFilters):
    runner_id: str = Field(..., min_length=1, max_length=128)
    run_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The run this runner works for: a run is never offered an asset twice, "
        "and a forced run only thumbnails made before it started (admin_tools/runs.py).",
    )
    count: int = Field(10, ge=1, le=MAX_BATCH)
    selection: UUID | None = None


class ClaimOut(Schema):
    assets: list[AssetOut]
    lease_seconds: int
    remaining: int


@router.post(
    "/thumbnail-jobs/claim",
    response={200: ClaimOut, 401: Message, 403: Message, 404: Message, 422: Message},
    url_name="claim_thumbnail_jobs",
)
def claim_thumbnail_jobs(request, payload: ClaimIn):
    ids = _parse_ids(payload.asset_ids) if payload.asset_ids else None
    force = payload.force
    if payload.selection:
        selection = get_object_or_404(ThumbnailSelection, pk=payload.selection)
        if ids is None:
            ids = selectors.selection_ids(selection)
        else:
            chosen = set(selection.asset_ids)  # one set, not one per id
            ids = [pk for pk in ids if str(pk) in chosen]
        force = force or selection.force
    claimed = runs.claim(
        user=request.auth,
        runner_id=payload.runner_id,
        run_id=payload.run_id,
        count=payload.count,
        **payload.selector_kwargs(asset_ids=ids, force=force),
    )
    return {
        "assets": _in_claim_order(claimed.asset_ids),
        "lease_seconds": claimed.lease_seconds,
        "remaining": claimed.remaining,
    }


def _in_claim_order(asset_ids: list) -> list:
    """The claimed assets' listing in the order the claim chose (runs.CLAIM_ORDER)."""
    listed = {row["id"]: row for row in selectors.asset_listing(Asset.objects.filter(pk__in=asset_ids))}
    return [listed[str(pk)] for pk in asset_ids if str(pk) in listed]


class ReleaseIn(Schema):
    runner_id: str = Field(..., min_length=1, max_length=128)
    asset_ids: list[str] | None = Field(
        None, description="Leases to end; leave out to end every lease the runner holds."
    )


class ReleaseOut(Schema):
    released: int


@router.post(
    "/thumbnail-jobs/release",
    response={200: ReleaseOut, 401: Message, 403: Message, 422: Message},
    url_name="release_thumbnail_jobs",
)
def release_thumbnail_jobs(request, payload: ReleaseIn):
    ids = None if payload.asset_ids is None else _parse_ids(payload.asset_ids)
    released = runs.release_claims(runner_id=payload.runner_id, asset_ids=ids, user=request.auth)
    return {"released": released}


class ProgressOut(Schema):
    total: int
    with_thumbnail: int
    remaining: int
    renderable_remaining: int
    not_renderable: int
    failed: int
    in_progress: int
    percent: float


@router.get(
    "/thumbnail-jobs/status",
    response={200: ProgressOut, 401: Message, 403: Message},
    url_name="thumbnail_progress",
)
def thumbnail_job_status(request):
    return selectors.thumbnail_progress()


class OrientationIn(Schema):
    x: float
    y: float
    z: float
    w: float


class OrientationOut(Schema):
    asset_id: str
    orientingRotation: dict


@router.post(
    "/assets/{asset_id}/orientation",
    response={200: OrientationOut, 401: Message, 403: Message, 404: Message, 422: Message},
    url_name="asset_orientation",
)
def save_asset_orientation(request, asset_id: str, payload: OrientationIn):
    """Save the rotation that stands the model upright (review mode's Turn) as its
    ``presentation_params.orientingRotation``; 422 unless it is a unit quaternion."""
    from django.core.exceptions import ValidationError

    from .orientation import save_orientation

    try:
        asset = save_orientation(asset_id=_asset_id(asset_id), x=payload.x, y=payload.y, z=payload.z, w=payload.w)
    except Asset.DoesNotExist:
        raise HttpError(404, f"Asset {asset_id} not found") from None
    except ValidationError as exc:
        raise HttpError(422, " ".join(exc.messages)) from None
    return {"asset_id": asset_id, "orientingRotation": asset.presentation_params["orientingRotation"]}


class HeartbeatIn(Schema):
    runner_id: str = Field(..., min_length=1, max_length=128)
    host: str = Field("", max_length=255)
    version: str = Field("", max_length=64)
    renderer: str = Field("", max_length=255)
    done: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)
    rate_per_minute: float = Field(0.0, ge=0, le=1e6, description="Assets per minute lately.")
    stopping: bool = Field(False, description="The runner is leaving: listed as gone, leases released.")


class RunnerOut(Schema):
    runner_id: str
    user: str
    host: str
    version: str
    renderer: str
    started_at: datetime
    last_seen_at: datetime
    done: int
    failed: int
    rate_per_minute: float
    leases: int
    state: str


class HeartbeatOut(Schema):
    runner: RunnerOut
    interval_seconds: int


@router.post(
    "/thumbnail-jobs/heartbeat",
    response={200: HeartbeatOut, 401: Message, 403: Message, 409: Message, 422: Message},
    url_name="runner_heartbeat",
)
def runner_heartbeat(request, payload: HeartbeatIn):
    try:
        fleet.heartbeat(user=request.auth, **payload.dict())
    except fleet.RunnerTaken as exc:
        raise HttpError(409, str(exc)) from None
    if payload.stopping:
        runs.release_claims(runner_id=payload.runner_id, user=request.auth)
    (row,) = [r for r in fleet.listing() if r["runner_id"] == payload.runner_id]
    return {"runner": row, "interval_seconds": settings.THUMBNAIL_HEARTBEAT_SECONDS}


class FleetOut(Schema):
    runners: list[RunnerOut]
    fleet_rate_per_minute: float
    eta_seconds: float | None
    eta_assets: int


@router.get("/thumbnail-jobs/runners", response={200: FleetOut, 401: Message, 403: Message}, url_name="runner_fleet")
def runner_fleet(request):
    return fleet.overview()
