"""The one NinjaAPI object. Every error reaches clients as JSON ``{"detail": ...}``."""

import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

logger = logging.getLogger("admin_tools")

api = NinjaAPI(
    title="Icosa thumbnails API",
    version="1",
    urls_namespace="api",
    docs_decorator=staff_member_required,
)
api.add_router("/login/", "icosa.api.router")
api.add_router("/admin/", "admin_tools.api.router")


@api.exception_handler(AuthenticationError)
def authentication_failed(request, exc):
    header = request.headers.get("Authorization", "")
    if not header.strip():
        detail = "JWT token required"
    elif not header.lower().startswith("bearer "):
        detail = "JWT token required: use 'Authorization: Bearer <token>'"
    else:
        detail = "Invalid or expired JWT token"
    return api.create_response(request, {"detail": detail}, status=401)


@api.exception_handler(ValidationError)
def validation_failed(request, exc):
    messages = []
    for error in exc.errors:
        where = ".".join(
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "payload", "filters")
        )
        messages.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return api.create_response(
        request, {"detail": "; ".join(messages) or "Invalid request", "errors": exc.errors}, status=422
    )


@api.exception_handler(RequestDataTooBig)
def request_too_big(request, exc):
    return api.create_response(request, {"detail": "Request body too large"}, status=413)


@api.exception_handler(DatabaseError)
def database_unavailable(request, exc):
    logger.exception("Database error on %s", request.path)
    return api.create_response(
        request, {"detail": "The database is unavailable; nothing was changed, try again later"}, status=503
    )


@api.exception_handler(Exception)
def unexpected_error(request, exc):
    logger.exception("Unhandled API error on %s", request.path)
    return api.create_response(request, {"detail": "Internal server error"}, status=500)
