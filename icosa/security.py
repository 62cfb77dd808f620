"""Security glue: the client address behind trusted proxies, the startup key check, login locks.

Login throttling itself is django-axes (settings ``AXES_*``); this module only tells it which
address a request comes from and lets the JSON login ask whether a client is locked out.
"""

import ipaddress

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, JsonResponse

LOCKED_OUT = "Too many failed logins; try again later"


def client_ip(request):
    """The address that reached the first trusted proxy, or the socket's peer.

    ``X-Forwarded-For`` is read only when ``TRUSTED_PROXY_COUNT`` proxies are configured,
    and then from the right: each trusted proxy appends the address it saw, so the entry
    ``count`` places from the end is the client as the outermost proxy saw it. Entries to
    its left are whatever the client wrote, and rotating them changes nothing.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def missing_keys():
    """Names of signing keys a server needs but does not have."""

    def present(setting):
        try:
            return bool(getattr(settings, setting))
        except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
            return False

    return [
        name
        for name, setting in (("DJANGO_SECRET_KEY", "SECRET_KEY"), ("JWT_SECRET_KEY", "JWT_SECRET_KEY"))
        if not present(setting)
    ]


def require_keys():
    """Refuse to serve without real keys (called by config/wsgi.py and config/asgi.py)."""
    missing = missing_keys()
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} not set: a server needs real keys (dev-only keys exist for DJANGO_DEBUG=1 alone)."
        )


@checks.register(checks.Tags.security, deploy=True)
def check_keys(app_configs=None, **kwargs):
    """`check --deploy` reports a missing key (a server refuses to start: require_keys)."""
    return [
        checks.Error(
            f"{name} is not set.",
            hint="Set it in the environment; dev-only keys are used with DJANGO_DEBUG=1 alone.",
            id="icosa.E001",
        )
        for name in missing_keys()
    ]


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out client: the API's ``{"detail"}`` shape under
    /api/, a plain page elsewhere (the admin login); 429 either way."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": LOCKED_OUT}, status=429)
    return HttpResponse(f"{LOCKED_OUT}.", status=429, content_type="text/plain; charset=utf-8")


def login_locked(request, username):
    """True when django-axes refuses this client address or username right now."""
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, {"username": username})
