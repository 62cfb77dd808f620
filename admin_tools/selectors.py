"""Read-side queries for thumbnail work."""
from django.conf import settings
from django.db import connections
from django.db.models import Prefetch, Q, QuerySet, Value
from django.utils import timezone

from icosa.models import Asset, Format

from .models import ThumbnailClaim, ThumbnailFailure


class _Literal(Value):
    """A constant written into the SQL text instead of being sent as a parameter.

    SQLite uses a partial index only when the query repeats the index's condition with the
    same literals (a bound parameter could hold anything), so without this the listing scans
    every COMPLETE asset. PostgreSQL plans the same either way. For the module's own
    constants only, never for user input.
    """

    def as_sql(self, compiler, connection):
        value = self.value
        if connection.vendor not in ("sqlite", "postgresql"):
            return super().as_sql(compiler, connection)
        if isinstance(value, bool):
            if connection.vendor == "sqlite":
                return ("1" if value else "0"), []
            return ("TRUE" if value else "FALSE"), []
        return "'%s'" % str(value).replace("'", "''"), []


class MissingThumbnailsQuerySet(QuerySet):
    """The missing-thumbnails listing, with an exact ``count()`` that stays cheap at scale.

    A plain COUNT probes the failure table once per candidate row to drop assets that
    failed too often: at 1M assets that is ~180k probes and most of the list request.
    ``missing_thumbnails()`` records the two terms of the same number instead (candidates,
    and candidates that failed too often), and ``count()`` takes their difference in one
    statement, so one snapshot: the first is an index-only count over
    asset_missing_thumb_idx, the second starts from the small failure table (written as
    ``pk IN (...)`` so SQLite drives it from there too). Any further chaining (filter,
    slice, prefetch) returns a plain clone without the terms, which counts the ordinary way.
    """

    _count_terms = None

    def count(self):
        if self._count_terms is None or self._result_cache is not None:
            return super().count()
        parts, params = [], []
        for queryset in self._count_terms:
            sql, part_params = (
                queryset.order_by().values("pk").query.get_compiler(self.db).as_sql()
            )
            parts.append(f"(SELECT COUNT(*) FROM ({sql}) counted)")
            params.extend(part_params)
        with connections[self.db].cursor() as cursor:
            cursor.execute(f"SELECT {parts[0]} - {parts[1]}", params)
            return cursor.fetchone()[0]


def missing_thumbnails(
    *,
    viewer_compatible_only=True,
    include_failed=False,
    asset_ids=None,
    force=False,
    exclude_claimed=False,
    owner=None,
    format_type=None,
    created_after=None,
    created_before=None,
    generated_before=None,
    renderer_not=None,
):
    """Assets that need a thumbnail, in a deterministic order (id ascending).

    "Missing" means no thumbnail and state COMPLETE. ``force`` drops the thumbnail
    condition (regeneration); ``asset_ids`` restricts to a selection.
    """
    # The literals match asset_missing_thumb_idx's condition (see _Literal).
    qs = MissingThumbnailsQuerySet(model=Asset)
    qs = qs.filter(state=_Literal(Asset.State.COMPLETE.value))
    if not force:
        qs = qs.filter(thumbnail=_Literal(""))
    if viewer_compatible_only:
        qs = qs.filter(is_viewer_compatible=_Literal(True))
    if asset_ids is not None:
        qs = qs.filter(pk__in=list(asset_ids))
    # Leases and failures are excluded as "id NOT IN (small table)", not through the
    # reverse one-to-one (a LEFT JOIN filtered on IS NULL). PostgreSQL estimates that join
    # from the small table's own statistics: with only live leases it expects one
    # surviving row, and claim_assets' locking query then ran for over 30 s at 1M assets
    # (bench/README.md). The sets are the same; asset_id is never NULL.
    if exclude_claimed:
        leased_ids = ThumbnailClaim.objects.filter(expires_at__gt=timezone.now()).values("asset_id")
        qs = qs.exclude(pk__in=leased_ids)
    if owner:
        qs = qs.filter(Q(owner__username=owner) | Q(owner__email=owner))
    if format_type:
        qs = qs.filter(formats__format_type=format_type.upper()).distinct()
    if created_after:
        qs = qs.filter(create_time__gte=created_after)
    if created_before:
        qs = qs.filter(create_time__lt=created_before)
    if generated_before:
        qs = qs.filter(
            Q(thumbnail_generated_at__lt=generated_before) | Q(thumbnail_generated_at__isnull=True)
        )
    if renderer_not:
        qs = qs.exclude(thumbnail_versions__is_current=True, thumbnail_versions__renderer=renderer_not)
    qs = qs.order_by("id")
    if include_failed:
        return qs
    failed_ids = ThumbnailFailure.objects.filter(
        attempts__gte=settings.THUMBNAIL_MAX_FAILURES
    ).values("asset_id")
    result = qs.exclude(pk__in=failed_ids)
    failed = qs.filter(pk__in=failed_ids)
    if not viewer_compatible_only:
        # Always true (the column is NOT NULL), but it lets each failed id be looked up in
        # asset_missing_thumb_idx (is_viewer_compatible, id) instead of scanning all of it.
        failed = failed.filter(is_viewer_compatible__in=[_Literal(True), _Literal(False)])
    result._count_terms = (qs, failed)
    return result


def with_listing_relations(queryset):
    """Prefetch what the API's asset listing reads, so a page costs a fixed number of queries."""
    return queryset.select_related("owner", "thumbnail_failure").prefetch_related(
        Prefetch("formats", queryset=Format.objects.select_related("root_resource")),
        "formats__resources",
    )


def thumbnail_progress():
    """Counts an operator checks during a long job."""
    now = timezone.now()
    complete = Asset.objects.filter(state=Asset.State.COMPLETE)
    total = complete.count()
    with_thumbnail = complete.exclude(thumbnail="").count()
    failed = complete.filter(
        thumbnail="", thumbnail_failure__attempts__gte=settings.THUMBNAIL_MAX_FAILURES
    ).count()
    in_progress = complete.filter(thumbnail_claim__expires_at__gt=now).count()
    renderable_missing = complete.filter(thumbnail="", is_viewer_compatible=True).count()
    not_renderable = complete.filter(thumbnail="", is_viewer_compatible=False).count()
    return {
        "total": total,
        "with_thumbnail": with_thumbnail,
        "remaining": total - with_thumbnail,
        "renderable_remaining": renderable_missing,
        "not_renderable": not_renderable,
        "failed": failed,
        "in_progress": in_progress,
        "percent": round(100.0 * with_thumbnail / total, 1) if total else 100.0,
    }
