"""A small client for the thumbnail work API, on the standard library's urllib.

It sends the bearer token, keeps asset ids as strings, surfaces the server's ``detail``, and
retries what may pass (network errors, 5xx, 429) with exponential backoff. A 401 or 403 is
final and raised as :class:`AuthError`, so a run with a bad token stops at once.
"""

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request

ADMIN_PREFIX = "/admin"


class ApiError(Exception):
    """The API answered with an error, or could not be reached (``status`` 0)."""

    def __init__(self, message, *, status=0, body=None):
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def retryable(self):
        return self.status == 0 or self.status == 429 or self.status >= 500


class AuthError(ApiError):
    """The token was refused (401) or lacks the thumbnail permission (403)."""


def read_token(token_file, env_name):
    """A token from ``token_file``, else from the environment: never a command-line value,
    which every user of the machine can read in ``ps``. Raises OSError for an unreadable file."""
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            return handle.read().strip()
    return os.environ.get(env_name, "").strip()


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but carry the bearer token only to the origin it was meant for.

    urllib copies a request's headers onto the redirected one; the token is therefore sent
    as an "unredirected" header and put back only when the target has the same scheme,
    host and port.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token and _origin(newurl) == _origin(req.full_url):
            new.add_unredirected_header("Authorization", token)
        return new


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class ThumbnailApi:
    """Claim, release, report and count thumbnail work on one gallery."""

    retries = 4
    base_delay = 0.5
    max_delay = 8.0
    timeout = 30.0

    def __init__(self, api_base, token, *, runner_id="", user_agent="icosa-render-thumbnails"):
        self.api_base = api_base.rstrip("/")
        self.token = token
        self.runner_id = runner_id
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_SameOriginRedirects)

    # -- operations ---------------------------------------------------------------------------

    def claim(self, *, count, run_id=None, **filters):
        """Lease up to ``count`` assets for ``run_id``: ``{"assets", "lease_seconds", "remaining"}``."""
        body = {"runner_id": self.runner_id, "count": count, **_clean(filters)}
        if run_id:
            body["run_id"] = run_id
        return self.request("POST", f"{ADMIN_PREFIX}/thumbnail-jobs/claim", body=body)

    def release(self, asset_ids=None):
        """End the leases on ``asset_ids``, or every lease of this runner; how many ended."""
        body = {"runner_id": self.runner_id}
        if asset_ids is not None:
            body["asset_ids"] = [str(pk) for pk in asset_ids]
            if not body["asset_ids"]:
                return 0
        answer = self.request("POST", f"{ADMIN_PREFIX}/thumbnail-jobs/release", body=body)
        return answer.get("released", 0)

    def heartbeat(self, *, stopping=False, **state):
        """Tell the fleet this runner lives (``host``, ``version``, ``renderer``, ``done``,
        ``failed``, ``rate_per_minute``); ``stopping`` says goodbye. One try, no retries: the
        next beat is the retry."""
        body = {"runner_id": self.runner_id, "stopping": stopping, **state}
        return self.request("POST", f"{ADMIN_PREFIX}/thumbnail-jobs/heartbeat", body=body, retry=False)

    def report_failure(self, asset_id, *, reason, detail=""):
        """Record why an asset could not be rendered (ends its lease)."""
        return self.request(
            "POST",
            f"{ADMIN_PREFIX}/assets/{urllib.parse.quote(str(asset_id))}/thumbnail-failure",
            body={
                "reason": str(reason)[:64] or "runner_error",
                "detail": str(detail)[:4000],
                "runner_id": self.runner_id,
            },
        )

    def missing(self, *, limit=100, offset=0, **filters):
        """One page of the read-only listing: ``{"assets", "total_count", "has_more"}``."""
        query = {"limit": limit, "offset": offset, **_clean(filters)}
        return self.request("GET", f"{ADMIN_PREFIX}/assets/missing-thumbnails", query=query)

    def status(self):
        """Progress counts (``GET /thumbnail-jobs/status``)."""
        return self.request("GET", f"{ADMIN_PREFIX}/thumbnail-jobs/status")

    def fleet(self):
        """The runners and the backlog's ETA (``GET /thumbnail-jobs/runners``)."""
        return self.request("GET", f"{ADMIN_PREFIX}/thumbnail-jobs/runners")

    # -- transport ----------------------------------------------------------------------------

    def request(self, method, path, *, body=None, query=None, retry=True):
        url = self.api_base + path + _query_string(query)
        for attempt in range(self.retries + 1):
            try:
                return self._once(method, url, body)
            except AuthError:
                raise
            except ApiError as error:
                if not retry or not error.retryable or attempt >= self.retries:
                    raise
                time.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def _once(self, method, url, body):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", self.user_agent)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_unredirected_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _parse(response.read())
        except urllib.error.HTTPError as error:
            payload = _parse(error.read(), strict=False)
            detail = payload.get("detail") if isinstance(payload, dict) else None
            message = detail if isinstance(detail, str) else f"HTTP {error.code} {error.reason}"
            cls = AuthError if error.code in (401, 403) else ApiError
            raise cls(message, status=error.code, body=payload) from None
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(f"Cannot reach {url}: {reason}", status=0) from None

    def _backoff(self, attempt):
        delay = min(self.max_delay, self.base_delay * 2**attempt)
        return delay * (0.75 + random.random() * 0.5)


def _clean(filters):
    """Drop unset filters, so the server's defaults apply."""
    return {key: value for key, value in filters.items() if value not in (None, "", [])}


def _query_string(query):
    if not query:
        return ""
    pairs = []
    for key, value in query.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return "?" + urllib.parse.urlencode(pairs)


def _parse(raw, *, strict=True):
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        if strict:
            raise ApiError("The server answered with something that is not JSON") from None
        return {}
