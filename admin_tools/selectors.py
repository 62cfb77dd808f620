"""Read-side queries for thumbnail work."""

import hashlib
from collections.abc import Iterable
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import DefaultStorage, FileSystemStorage, storages
from django.db import connections
from django.db.models import Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import filepath_to_uri

from icosa import media
from icosa.formats import rank
from icosa.models import Asset, Format, Resource, bare_filename

from .models import (
    ThumbnailClaim,
    ThumbnailDerivative,
    ThumbnailFailure,
    ThumbnailRunAsset,
    ThumbnailSelection,
    ThumbnailVersion,
)


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
        escaped = str(value).replace("'", "''")
        return f"'{escaped}'", []


def missing_thumbnails(**filters) -> QuerySet:
    """Assets that need a thumbnail, in a deterministic order (id ascending).

    "Missing" means no thumbnail and state COMPLETE. ``force`` drops the thumbnail
    condition (regeneration); ``asset_ids`` restricts to a selection; ``exclude_run`` drops
    the assets that run already claimed (see admin_tools.runs). Count it with
    :func:`count_missing`, not ``.count()``.
    """
    return _missing(**filters)[0]


def count_missing(**filters) -> int:
    """How many assets :func:`missing_thumbnails` would list, cheap at scale and cached briefly.

    A plain COUNT probes the failure table once per candidate row to drop assets that
    failed too often: at 1M assets that is ~180k probes and most of the list request. This
    takes the difference of two counts in one statement, so one snapshot: candidates (an
    index-only count over asset_missing_thumb_idx) minus candidates that failed too often
    (starting from the small failure table, written as ``pk IN (...)`` so SQLite drives it
    from there too).

    Even so an exact count walks every missing asset (~30 ms at 1M on PostgreSQL), so the
    result is kept for ``THUMBNAIL_COUNT_CACHE_SECONDS`` per distinct query: a progress
    figure may lag a few seconds, a page of the listing never does.
    """
    _listed, terms = _missing(**filters)
    db = terms[0].db
    parts, params = [], []
    for queryset in terms:
        sql, part_params = queryset.order_by().values("pk").query.get_compiler(db).as_sql()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) counted)")
        params.extend(part_params)
    sql = "SELECT " + " - ".join(parts)
    seconds = settings.THUMBNAIL_COUNT_CACHE_SECONDS
    key = "missing-thumbnails-count:" + hashlib.sha256(f"{db}\0{sql}\0{params!r}".encode()).hexdigest()
    if seconds > 0:
        cached = cache.get(key)
        if cached is not None:
            return cached
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        total = cursor.fetchone()[0]
    if seconds > 0:
        cache.set(key, total, seconds)
    return total


def selection_ids(selection):
    """A saved selection's ids as a subquery the database expands from the stored JSON array.

    A million ids as query parameters exceed SQLite's limit (250,000 here) and cost seconds
    to bind on every claim; expanded in SQL they are one index lookup per id.
    """
    connection = connections["default"]
    table = connection.ops.quote_name(ThumbnailSelection._meta.db_table)
    key = ThumbnailSelection._meta.pk.get_db_prep_value(selection.pk, connection)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT (j.value)::bigint FROM {table} s, jsonb_array_elements_text(s.asset_ids) j(value) WHERE s.id = %s"
        )
    else:
        sql = f"SELECT CAST(j.value AS INTEGER) FROM {table} s, json_each(s.asset_ids) j WHERE s.id = %s"
    return RawSQL(sql, [key])


def _missing(
    *,
    viewer_compatible_only: bool = True,
    include_failed: bool = False,
    asset_ids: Iterable[int] | None = None,
    force: bool = False,
    exclude_claimed: bool = False,
    exclude_run: str | None = None,
    owner: str | None = None,
    format_type: str | None = None,
    created_after=None,
    created_before=None,
    generated_before=None,
    renderer_not: str | None = None,
) -> tuple:
    """(the listing, the querysets whose counts' difference is its size)."""
    # The literals match asset_missing_thumb_idx's condition (see _Literal).
    qs = Asset.objects.filter(state=_Literal(Asset.State.COMPLETE.value))
    if not force:
        qs = qs.filter(thumbnail=_Literal(""))
    if viewer_compatible_only:
        qs = qs.filter(is_viewer_compatible=_Literal(True))
    if asset_ids is not None:
        qs = qs.filter(pk__in=asset_ids if isinstance(asset_ids, RawSQL) else list(asset_ids))
    # Leases and failures are excluded as "id NOT IN (small table)", not through the
    # reverse one-to-one (a LEFT JOIN filtered on IS NULL). PostgreSQL estimates that join
    # from the small table's own statistics: with only live leases it expects one
    # surviving row, and the claim's locking query then ran for over 30 s at 1M assets
    # (bench/README.md). The sets are the same; asset_id is never NULL.
    if exclude_claimed:
        leased_ids = ThumbnailClaim.objects.filter(expires_at__gt=timezone.now()).values("asset_id")
        qs = qs.exclude(pk__in=leased_ids)
    if exclude_run:
        qs = qs.exclude(pk__in=ThumbnailRunAsset.objects.filter(run_id=exclude_run).values("asset_id"))
    if owner:
        qs = qs.filter(Q(owner__username=owner) | Q(owner__email=owner))
    if format_type:
        qs = qs.filter(formats__format_type=format_type.upper()).distinct()
    if created_after:
        qs = qs.filter(create_time__gte=created_after)
    if created_before:
        qs = qs.filter(create_time__lt=created_before)
    if generated_before:
        qs = qs.filter(Q(thumbnail_generated_at__lt=generated_before) | Q(thumbnail_generated_at__isnull=True))
    if renderer_not:
        qs = qs.exclude(thumbnail_versions__is_current=True, thumbnail_versions__renderer=renderer_not)
    qs = qs.order_by("id")
    if include_failed:
        return qs, (qs,)
    failed_ids = ThumbnailFailure.objects.filter(attempts__gte=settings.THUMBNAIL_MAX_FAILURES).values("asset_id")
    failed = qs.filter(pk__in=failed_ids)
    if not viewer_compatible_only:
        # Always true (the column is NOT NULL), but it lets each failed id be looked up in
        # asset_missing_thumb_idx (is_viewer_compatible, id) instead of scanning all of it.
        failed = failed.filter(is_viewer_compatible__in=[_Literal(True), _Literal(False)])
    return qs.exclude(pk__in=failed_ids), (qs, failed)


def asset_listing(page: QuerySet) -> list:
    """The API's asset dicts for one page of assets (a sliced queryset), in its order.

    Two flat queries (assets with owners and failures; formats with their files) into plain
    dicts. Model instances, prefetch_related and per-field schema resolvers took four times
    as long for a 50-asset page, most of the listing's latency (bench/README.md).
    """
    rows = list(
        page.values(
            "id", "url", "name", "presentation_params", "thumbnail",
            "owner__displayname", "owner__username",
            "thumbnail_failure__attempts", "thumbnail_failure__reason", "thumbnail_failure__detail",
        )
    )  # fmt: skip
    formats = _formats_by_asset([row["id"] for row in rows])
    admin_url = _url_pattern("admin:icosa_asset_change")
    page_url = _url_pattern("icosa:asset")
    return [
        {
            "id": str(row["id"]),
            "url": row["url"],
            "name": row["name"],
            "owner_displayname": row["owner__displayname"] or row["owner__username"] or "",
            "presentation_params": row["presentation_params"] or {},
            "has_thumbnail": bool(row["thumbnail"]),
            "failure": (
                None
                if row["thumbnail_failure__attempts"] is None
                else {
                    "attempts": row["thumbnail_failure__attempts"],
                    "reason": row["thumbnail_failure__reason"],
                    "detail": row["thumbnail_failure__detail"],
                }
            ),
            "admin_url": admin_url(row["id"]),
            "page_url": page_url(row["url"]),
            "formats": formats.get(row["id"], []),
        }
        for row in rows
    ]


def _formats_by_asset(asset_ids: list) -> dict:
    """{asset id: [format dict, preferred first]} from one query over formats and their files."""
    file_url = _file_url_function(Resource._meta.get_field("file").storage)
    rows = (
        Format.objects.filter(asset_id__in=asset_ids)
        .order_by("asset_id", "-is_preferred_for_gallery_viewer", "id", "resources__id")
        .values(
            "id", "asset_id", "format_type", "is_preferred_for_gallery_viewer", "root_resource_id",
            "resources__id", "resources__file", "resources__external_url", "resources__contenttype",
            "asset__visibility",
        )
    )  # fmt: skip
    formats, files = {}, {}
    for row in rows:
        if row["id"] not in formats:
            formats[row["id"]] = row
            files[row["id"]] = []
        if row["resources__id"] is not None:
            name = row["resources__file"]
            files[row["id"]].append(
                {
                    "id": row["resources__id"],
                    "file": name,
                    "external_url": row["resources__external_url"],
                    "contenttype": row["resources__contenttype"],
                    "link": (
                        _link(file_url, name, row["asset__visibility"]) if name else row["resources__external_url"]
                    ),
                }
            )
    # A root file filed under another format (imported data can be odd): one more query.
    known = {each["id"]: each for entries in files.values() for each in entries}
    strays = {f["root_resource_id"] for f in formats.values()} - set(known) - {None}
    for resource in Resource.objects.filter(pk__in=strays).values(
        "id", "file", "external_url", "contenttype", "asset__visibility"
    ):
        resource["link"] = (
            _link(file_url, resource["file"], resource["asset__visibility"])
            if resource["file"]
            else resource["external_url"]
        )
        known[resource["id"]] = resource
    by_asset = {}
    # The format table's preference order, the gallery's preferred flag breaking ties.
    ordered = sorted(
        formats.items(),
        key=lambda item: (rank(item[1]["format_type"]), not item[1]["is_preferred_for_gallery_viewer"], item[0]),
    )
    for format_id, each in ordered:
        root = known.get(each["root_resource_id"])
        by_asset.setdefault(each["asset_id"], []).append(
            {
                "format_type": each["format_type"],
                "root_url": root["link"] if root else None,
                "is_preferred": each["is_preferred_for_gallery_viewer"],
                "resources": _resource_entries(files[format_id], root),
            }
        )
    return by_asset


def _resource_entries(resources: list, root: dict | None) -> list:
    """Each file of a format with the name its loader asks for: relative to the root file's
    folder (how a .gltf names its .bin and textures), else the bare file name."""
    base = root["file"].rsplit("/", 1)[0] + "/" if root and root["file"] else ""
    entries = []
    for resource in resources:
        name = resource["file"] or resource["external_url"]
        filename = name[len(base) :] if base and name.startswith(base) else bare_filename(name)
        entries.append({"url": resource["link"], "filename": filename, "contenttype": resource["contenttype"]})
    return entries


_PATH_SAFE = "!$&'()*+,;=/~:@"


def _file_url_function(storage):
    """``storage.url``, without urljoin's parsing for local files (a hundred per page).

    FileSystemStorage.url joins its base URL (always ending in "/") with the quoted name;
    a quoted stored name has no scheme, query or dot segments, so joining is concatenation.
    """
    if isinstance(storage, DefaultStorage):
        storage = storages["default"]
    if type(storage) is FileSystemStorage:
        base = storage.base_url
        return lambda name: base + filepath_to_uri(name).lstrip("/")
    return storage.url


def _link(file_url, name, visibility):
    """Public files by the fast path; others signed, so the renderer fetches them without
    cookies (icosa.media)."""
    if visibility == Asset.Visibility.PUBLIC:
        return file_url(name)
    return media.file_url(name, visibility=visibility)


def _url_pattern(name: str):
    """``reverse(name, args=[value])`` for many values at the cost of one reverse()."""
    marker = "0marker0"
    template = reverse(name, args=[marker])
    head, tail = template.split(marker, 1)
    # The characters reverse() itself leaves unquoted in a path argument.
    return lambda value: head + quote(str(value), safe=_PATH_SAFE) + tail


def referenced_files(*, exclude_versions: Iterable[int] = ()) -> set:
    """Every thumbnail file name a version or an asset still refers to.

    ``exclude_versions`` leaves out versions about to be deleted (prune): their files count
    only if something else uses them too.
    """
    names = set()
    excluded = list(exclude_versions)
    versions = ThumbnailVersion.objects.exclude(pk__in=excluded)
    assets = Asset.objects.exclude(thumbnail="")
    for rows in (versions, assets):
        for thumbnail, preview in rows.values_list("thumbnail", "preview_image"):
            names.update((thumbnail, preview))
    derivatives = ThumbnailDerivative.objects.exclude(version__in=excluded)
    names.update(derivatives.values_list("file", flat=True))
    names.discard("")
    return names


def thumbnail_derivatives(version: ThumbnailVersion | None, *, url=None) -> list:
    """Every stored derivative of ``version`` as dicts (kind, format, width, height, bytes,
    has_alpha, url), its two JPEGs first, then the others by kind, width and format; only
    files that exist (rows are written after their files). ``url(name)`` makes the links
    (default: the storage's own URL)."""
    if version is None:
        return []
    url = url or version.thumbnail.storage.url
    rows = [
        ("thumbnail", "JPEG", version.thumbnail.name, version.width, version.height, version.bytes, False),
        (
            "preview",
            "JPEG",
            version.preview_image.name,
            version.preview_width,
            version.preview_height,
            version.preview_bytes,
            False,
        ),
    ]
    extras = getattr(version, "_prefetched_objects_cache", {}).get("derivatives")
    if extras is None:
        extras = version.derivatives.all()
    rows.extend((d.kind, d.format, d.file.name, d.width, d.height, d.bytes, d.has_alpha) for d in extras)
    listed = []
    for kind, image_format, name, width, height, size, has_alpha in rows:
        if size is None:
            try:
                size = version.preview_image.storage.size(name)
            except Exception:  # a version older than preview_bytes, storage trouble: size 0
                size = 0
        listed.append(
            {
                "kind": kind,
                "format": image_format,
                "width": width,
                "height": height,
                "bytes": size,
                "has_alpha": has_alpha,
                "url": url(name),
            }
        )
    return listed


def current_version(asset_id: int) -> ThumbnailVersion | None:
    return ThumbnailVersion.objects.filter(asset_id=asset_id, is_current=True).prefetch_related("derivatives").first()


def picture_sources(assets: Iterable[Asset], *, kind: str = "thumbnail") -> dict:
    """For the public pages' ``<picture>``: per asset id, ``{"webp": srcset, "jpeg": srcset,
    "turntable": url}`` of its current version's ``kind`` derivatives (opaque ones; links signed
    unless public, as ``media.file_url`` makes them) and its turntable preview ("" without one).
    One query for the whole page."""
    visibility = {asset.pk: asset.visibility for asset in assets}
    versions = ThumbnailVersion.objects.filter(asset_id__in=list(visibility), is_current=True).prefetch_related(
        "derivatives"
    )
    sources = {}
    for version in versions:

        def url(name, visibility=visibility[version.asset_id]):
            return media.file_url(name, visibility=visibility)

        listed = thumbnail_derivatives(version, url=url)
        items = sorted((item for item in listed if item["kind"] == kind), key=lambda item: item["width"])
        sources[version.asset_id] = {
            **{
                image_format.lower(): ", ".join(
                    f"{item['url']} {item['width']}w" for item in items if item["format"] == image_format
                )
                for image_format in ("WEBP", "JPEG")
            },
            "turntable": next((item["url"] for item in listed if item["kind"] == "turntable"), ""),
        }
    return sources


def thumbnail_progress() -> dict:
    """Counts an operator checks during a long job."""
    now = timezone.now()
    complete = Asset.objects.filter(state=Asset.State.COMPLETE)
    total = complete.count()
    with_thumbnail = complete.exclude(thumbnail="").count()
    failed = complete.filter(thumbnail="", thumbnail_failure__attempts__gte=settings.THUMBNAIL_MAX_FAILURES).count()
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
