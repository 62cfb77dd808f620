"""Which missing thumbnails come first: "wanted" marks and "Render now".

A visitor who sees an asset without a thumbnail, or an admin who picks "Render now", moves it
to ``ThumbnailPriority.WANTED``; the claim (``runs.CLAIM_ORDER``) hands those out first. A
page view must stay cheap and bots or reloads must not pile up work, so a mark is:

- deduplicated per asset for ``THUMBNAIL_WANTED_DEDUP_SECONDS`` (one ``cache.add`` in the
  shared cache; an asset marked a moment ago costs no query at all),
- rate-limited per client to ``THUMBNAIL_WANTED_PER_CLIENT_PER_MINUTE`` (one cache counter),
- one UPDATE for all the assets of a page, touching only rows that are still missing a
  thumbnail and not yet wanted (an asset keeps its place in the queue when viewed again).
"""

import re
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from icosa.models import Asset, ThumbnailPriority

#: User agents that never count as someone wanting a thumbnail.
_BOT = re.compile(r"bot|crawl|spider|slurp|fetch|preview|monitor|curl|wget|python-", re.IGNORECASE)


def _cache():
    return caches["shared"]


def client_key(request) -> str:
    """Who is asking, for the rate limit: the address the request came from."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def is_bot(request) -> bool:
    return bool(_BOT.search(request.META.get("HTTP_USER_AGENT", "")))


def _within_rate(client: str, wanted: int) -> int:
    """How many of ``wanted`` marks this client may still make this minute."""
    limit = settings.THUMBNAIL_WANTED_PER_CLIENT_PER_MINUTE
    key = f"thumb-wanted-rate:{client}:{int(timezone.now().timestamp() // 60)}"
    cache = _cache()
    cache.add(key, 0, 61)
    try:
        used = cache.incr(key, wanted)
    except ValueError:  # expired between add and incr
        cache.set(key, wanted, 61)
        used = wanted
    return max(0, min(wanted, limit - (used - wanted)))


def mark_wanted(asset_ids: Iterable[int], *, client: str) -> int:
    """Record that someone looked at these assets without a thumbnail; how many rows changed.

    Callers pass only assets shown without a thumbnail; the UPDATE checks it again.
    """
    ids = list(dict.fromkeys(asset_ids))
    if not ids:
        return 0
    seconds = settings.THUMBNAIL_WANTED_DEDUP_SECONDS
    cache = _cache()
    fresh = [pk for pk in ids if cache.add(f"thumb-wanted:{pk}", 1, seconds)]
    if not fresh:
        return 0
    allowed = _within_rate(client, len(fresh))
    if allowed < len(fresh):
        # Not recorded: let a later view (or another client) mark them.
        cache.delete_many([f"thumb-wanted:{pk}" for pk in fresh[allowed:]])
        fresh = fresh[:allowed]
    if not fresh:
        return 0
    return _prioritise(fresh)


def render_now(asset_ids: Iterable[int]) -> int:
    """An admin's "Render now": the assets that still lack a thumbnail go to the queue's front."""
    return _prioritise(list(asset_ids))


def _prioritise(ids: list) -> int:
    return (
        Asset.objects.filter(pk__in=ids, thumbnail="", state=Asset.State.COMPLETE)
        .exclude(thumbnail_priority=ThumbnailPriority.WANTED)
        .update(thumbnail_priority=ThumbnailPriority.WANTED, thumbnail_queued_at=timezone.now())
    )


__all__ = ["client_key", "is_bot", "mark_wanted", "render_now"]
