"""Thumbnail work API: list what is missing, claim work, upload results, report failures."""
import re
from typing import List, Optional
from uuid import UUID

from django.conf import settings
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, field_validator

from icosa.jwt_auth import StaffJWTAuth
from icosa.models import Asset

from . import selectors, services
from .models import ThumbnailSelection

router = Router(tags=["thumbnails"], auth=StaffJWTAuth())

MAX_BATCH = 100


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
    root_url: Optional[str]
    is_preferred: bool
    resources: List[ResourceOut]


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
    failure: Optional[FailureOut]
    admin_url: str
    page_url: str
    formats: List[FormatOut]


_ASSET_ID = re.compile(r"[0-9]{1,19}")


def _parse_id(text):
    """An asset id from text, or None: ASCII digits within a signed 64-bit integer (str.isdigit
    also accepts characters such as '²' that int() refuses)."""
    text = str(text).strip()
    if not _ASSET_ID.fullmatch(text) or int(text) > 2**63 - 1:
        return None
    return int(text)


def _parse_ids(values):
    ids = []
    for value in values or []:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            asset_id = _parse_id(part)
            if asset_id is None:
                raise HttpError(422, f"asset_ids: '{part}' is not an asset id")
            ids.append(asset_id)
    return ids


def _check_iso(value):
    if value is None:
        return value
    from django.utils.dateparse import parse_date, parse_datetime

    if parse_datetime(value) is None and parse_date(value) is None:
        raise ValueError(f"'{value}' is not an ISO date or datetime")
    return value


def _selector_filters(data, *, asset_ids, force):
    """The missing_thumbnails() keyword arguments shared by the listing and the claim."""
    return {
        "viewer_compatible_only": data.viewer_compatible_only,
        "include_failed": data.include_failed,
        "asset_ids": asset_ids,
        "force": force,
        "owner": data.owner,
        "format_type": data.format_type,
        "created_after": data.created_after,
        "created_before": data.created_before,
        "generated_before": data.generated_before,
        "renderer_not": data.renderer_not,
    }


class MissingFilters(Schema):
    limit: int = Field(50, ge=1, le=MAX_BATCH, description="Page size, 1 to 100.")
    offset: int = Field(0, ge=0)
    after: Optional[str] = Field(
        None,
        description="Only ids above this one (pass the last id of the previous page): "
        "constant-time paging, where a deep offset walks every row before it.",
    )
    viewer_compatible_only: bool = True
    include_failed: bool = False
    force: bool = Field(False, description="Include assets that already have a thumbnail.")
    asset_ids: Optional[List[str]] = Field(None, description="Restrict to these ids (comma-separated or repeated).")
    owner: Optional[str] = Field(None, description="Username or email of the owner.")
    format_type: Optional[str] = None
    created_after: Optional[str] = None
    created_before: Optional[str] = None
    generated_before: Optional[str] = None
    renderer_not: Optional[str] = None

    @field_validator("created_after", "created_before", "generated_before")
    @classmethod
    def _iso_datetime(cls, value):
        return _check_iso(value)


class MissingOut(Schema):
    assets: List[AssetOut]
    total_count: int
    has_more: bool


@router.get(
    "/assets/missing-thumbnails",
    response={200: MissingOut, 401: Message, 403: Message, 422: Message},
    url_name="missing_thumbnails",
)
def list_missing_thumbnails(request, filters: Query[MissingFilters]):
    ids = _parse_ids(filters.asset_ids) if filters.asset_ids else None
    qs = selectors.missing_thumbnails(**_selector_filters(filters, asset_ids=ids, force=filters.force))
    # One row more than asked says whether another page exists (total_count may be a few
    # seconds old, see THUMBNAIL_COUNT_CACHE_SECONDS).
    rows = qs
    if filters.after is not None:
        after = _parse_id(filters.after)
        if after is None:
            raise HttpError(422, f"after: '{filters.after}' is not an asset id")
        rows = qs.filter(pk__gt=after)
    page = selectors.asset_listing(rows[filters.offset : filters.offset + filters.limit + 1])
    return {
        "assets": page[: filters.limit],
        "total_count": qs.count(),
        "has_more": len(page) > filters.limit,
    }


class ThumbnailIn(Schema):
    thumbnail_base64: str
    runner_id: str = Field("", max_length=128)
    renderer: str = Field("", max_length=255)
    render_settings: dict = Field(default_factory=dict)


class ThumbnailOut(Schema):
    success: bool
    thumbnail_url: str
    preview_image_url: str
    asset_url: str
    width: int
    height: int
    bytes: int
    version_id: str


def _asset_id(asset_id: str) -> int:
    parsed = _parse_id(asset_id)
    if parsed is None:
        raise HttpError(404, f"Asset {asset_id} not found")
    return parsed


@router.post(
    "/assets/{asset_id}/thumbnail",
    response={200: ThumbnailOut, 401: Message, 403: Message, 404: Message, 409: Message,
              413: Message, 415: Message, 422: Message, 503: Message},
    url_name="upload_thumbnail",
)
def upload_thumbnail(request, asset_id: str, payload: ThumbnailIn):
    try:
        asset, version = services.store_thumbnail(
            asset_id=_asset_id(asset_id),
            thumbnail_base64=payload.thumbnail_base64,
            user=request.auth,
            runner_id=payload.runner_id,
            renderer=payload.renderer,
            render_settings=payload.render_settings,
        )
    except Asset.DoesNotExist:
        raise HttpError(404, f"Asset {asset_id} not found") from None
    except services.ImageRejected as exc:
        raise HttpError(exc.status, str(exc)) from None
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
    }


class FailureIn(Schema):
    reason: str = Field(..., min_length=1, max_length=64)
    detail: str = Field("", max_length=4000)
    runner_id: str = Field("", max_length=128)


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


class ClaimIn(Schema):
    runner_id: str = Field(..., min_length=1, max_length=128)
    count: int = Field(10, ge=1, le=MAX_BATCH)
    viewer_compatible_only: bool = True
    include_failed: bool = False
    force: bool = False
    selection: Optional[UUID] = None
    asset_ids: Optional[List[str]] = None
    owner: Optional[str] = None
    format_type: Optional[str] = None
    created_after: Optional[str] = None
    created_before: Optional[str] = None
    generated_before: Optional[str] = None
    renderer_not: Optional[str] = None
    exclude_asset_ids: Optional[List[str]] = Field(
        None, max_length=10000, description="Never hand out these ids (a runner's failures so far)."
    )

    @field_validator("created_after", "created_before", "generated_before")
    @classmethod
    def _iso_datetime(cls, value):
        return _check_iso(value)


class ClaimOut(Schema):
    assets: List[AssetOut]
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
        selected = [int(pk) for pk in selection.asset_ids]
        ids = selected if ids is None else [pk for pk in ids if pk in set(selected)]
        force = force or selection.force
    filters = _selector_filters(payload, asset_ids=ids, force=force)
    exclude = _parse_ids(payload.exclude_asset_ids) if payload.exclude_asset_ids else None
    claimed = services.claim_assets(
        user=request.auth,
        runner_id=payload.runner_id,
        count=payload.count,
        exclude_ids=exclude,
        **filters,
    )
    assets = selectors.asset_listing(Asset.objects.filter(pk__in=claimed).order_by("id"))
    pending = selectors.missing_thumbnails(exclude_claimed=True, **filters)
    if exclude:
        pending = pending.exclude(pk__in=exclude)
    remaining = pending.count()
    return {
        "assets": assets,
        "lease_seconds": settings.THUMBNAIL_CLAIM_SECONDS,
        "remaining": remaining,
    }


class ReleaseIn(Schema):
    runner_id: str = Field(..., min_length=1, max_length=128)
    asset_ids: List[str]


class ReleaseOut(Schema):
    released: int


@router.post(
    "/thumbnail-jobs/release",
    response={200: ReleaseOut, 401: Message, 403: Message, 422: Message},
    url_name="release_thumbnail_jobs",
)
def release_thumbnail_jobs(request, payload: ReleaseIn):
    released = services.release_claims(runner_id=payload.runner_id, asset_ids=_parse_ids(payload.asset_ids))
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
