"""HS256 access tokens for the thumbnail API and the bearer authenticator that reads them."""
import uuid
from datetime import timedelta

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef
from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

ALGORITHM = "HS256"
SCOPE = "thumbnails"


def mint_token(*, user, minutes=None, purpose="api"):
    """Sign a token for ``user``; ``purpose`` ("api", "page", "runner") is recorded, not trusted."""
    if minutes is None:
        minutes = settings.JWT_ACCESS_TOKEN_MINUTES
    now = timezone.now()
    payload = {
        "sub": str(user.pk),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "jti": uuid.uuid4().hex,
        "aud": settings.JWT_AUDIENCE,
        "scope": SCOPE,
        "purpose": purpose,
    }
    return jwt.encode(payload, settings.JWT_SECRET_KEY, algorithm=ALGORITHM)


def decode_token(token):
    """Return the claims of a valid token or raise ``jwt.InvalidTokenError``."""
    claims = jwt.decode(
        token,
        settings.JWT_SECRET_KEY,
        algorithms=[ALGORITHM],
        audience=settings.JWT_AUDIENCE,
        options={"require": ["exp", "iat", "sub", "jti", "aud"]},
    )
    if claims.get("scope") != SCOPE:
        raise jwt.InvalidTokenError("token is not scoped for thumbnail work")
    return claims


class JWTAuth(HttpBearer):
    """Bearer authentication: a valid token for an active user, else 401."""

    def users(self):
        return get_user_model().objects.all()

    def authenticate(self, request, token):
        try:
            claims = decode_token(token)
        except jwt.InvalidTokenError:
            return None
        user = self.users().filter(pk=claims["sub"], is_active=True).first()
        if user is None:
            return None
        request.jwt_claims = claims
        return user


class StaffJWTAuth(JWTAuth):
    """Authenticated and allowed to change thumbnails, else 403."""

    permission = "icosa.change_asset_thumbnail"

    def users(self):
        """Users with the permission looked up in the same query (one round trip per request
        instead of three; the API's own latency budget is ~10 ms)."""
        app_label, codename = self.permission.split(".")
        granted = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
        return super().users().annotate(
            has_thumbnail_permission=Exists(granted.filter(user=OuterRef("pk")))
            | Exists(granted.filter(group__user=OuterRef("pk")))
        )

    def authenticate(self, request, token):
        user = super().authenticate(request, token)
        if user is None:
            return None
        if not user.is_staff:
            raise AuthorizationError(message="Admin access required")
        # has_perm() only when the shortcut says no: other auth backends may still grant it.
        if not (user.is_superuser or user.has_thumbnail_permission or user.has_perm(self.permission)):
            raise AuthorizationError(
                message="Admin access required: missing permission to change asset thumbnails"
            )
        return user
