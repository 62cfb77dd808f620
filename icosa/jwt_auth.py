"""HS256 access tokens for the thumbnail API and the bearer authenticator that reads them."""

import functools
import re
import uuid
from datetime import timedelta

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from .models import THUMBNAIL_PERMISSION

ALGORITHM = "HS256"
SCOPE = "thumbnails"
_SUB = re.compile(r"[1-9][0-9]{0,18}")
_JTI = re.compile(r"[0-9a-f]{32}")


def _key():
    if not settings.JWT_SECRET_KEY:
        raise ImproperlyConfigured("JWT_SECRET_KEY is not set; this process cannot sign or check tokens.")
    return settings.JWT_SECRET_KEY


def mint_token(*, user, minutes=None, purpose="api"):
    """Sign a token for ``user``; ``purpose`` ("api", "page", "runner") is recorded, not trusted.

    ``ver`` is the user's token version: a password change or deactivation bumps it, which
    ends every token minted before.
    """
    if minutes is None:
        minutes = settings.JWT_ACCESS_TOKEN_MINUTES
    if not 0 < minutes <= settings.JWT_MAX_TOKEN_MINUTES:
        raise ValueError(
            f"Token lifetime must be 1 to {settings.JWT_MAX_TOKEN_MINUTES} minutes (JWT_MAX_TOKEN_MINUTES)"
        )
    now = timezone.now()
    payload = {
        "sub": str(user.pk),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "jti": uuid.uuid4().hex,
        "aud": settings.JWT_AUDIENCE,
        "scope": SCOPE,
        "ver": user.token_version,
        "purpose": purpose,
    }
    return jwt.encode(payload, _key(), algorithm=ALGORITHM)


def decode_token(token):
    """Return the claims of a valid token or raise ``jwt.InvalidTokenError``.

    Beyond the signature: a numeric ``sub``, a well-formed ``jti``, an integer ``ver`` and a
    lifetime within JWT_MAX_TOKEN_MINUTES (a leaked key's three-year token is still refused).
    """
    claims = jwt.decode(
        token,
        _key(),
        algorithms=[ALGORITHM],
        audience=settings.JWT_AUDIENCE,
        options={"require": ["exp", "iat", "sub", "jti", "aud"]},
    )
    if claims.get("scope") != SCOPE:
        raise jwt.InvalidTokenError("token is not scoped for thumbnail work")
    if not (isinstance(claims["sub"], str) and _SUB.fullmatch(claims["sub"])):
        raise jwt.InvalidTokenError("sub is not a user id")
    if not (isinstance(claims["jti"], str) and _JTI.fullmatch(claims["jti"])):
        raise jwt.InvalidTokenError("jti is malformed")
    if type(claims.get("ver")) is not int:
        raise jwt.InvalidTokenError("ver is missing")
    lifetime = claims["exp"] - claims["iat"]
    if not isinstance(lifetime, int) or lifetime > settings.JWT_MAX_TOKEN_MINUTES * 60:
        raise jwt.InvalidTokenError("token lifetime is longer than JWT_MAX_TOKEN_MINUTES")
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
        user = self.users().filter(pk=int(claims["sub"]), is_active=True, token_version=claims["ver"]).first()
        if user is None:
            return None
        request.jwt_claims = claims
        return user


@functools.cache
def _permission_sql():
    """EXISTS: the outer user row holds the permission directly or through a group."""
    user = get_user_model()
    q = connection.ops.quote_name

    def m2m(model, name):
        through = model._meta.get_field(name).remote_field.through
        source, target = (f for f in through._meta.fields if f.is_relation)
        return q(through._meta.db_table), q(source.column), q(target.column)

    user_perms, up_user, up_perm = m2m(user, "user_permissions")
    user_groups, ug_user, ug_group = m2m(user, "groups")
    group_perms, gp_group, gp_perm = m2m(Group, "permissions")
    outer = f"{q(user._meta.db_table)}.{q(user._meta.pk.column)}"
    return (
        f"EXISTS (SELECT 1 FROM {q(Permission._meta.db_table)} p"
        f" JOIN {q(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id"
        " WHERE p.codename = %s AND ct.app_label = %s AND ("
        f" p.id IN (SELECT {up_perm} FROM {user_perms} WHERE {up_user} = {outer})"
        f" OR p.id IN (SELECT gp.{gp_perm} FROM {group_perms} gp JOIN {user_groups} ug"
        f" ON ug.{ug_group} = gp.{gp_group} WHERE ug.{ug_user} = {outer})))"
    )


class StaffJWTAuth(JWTAuth):
    """Authenticated and allowed to change thumbnails, else 403."""

    permission = THUMBNAIL_PERMISSION

    def users(self):
        """Users with the permission looked up in the same query: one round trip per request
        instead of three. Written as SQL because building the equivalent Exists() subqueries
        cost 3 ms a request, a third of the listing's budget (bench/README.md)."""
        app_label, codename = self.permission.split(".")
        return super().users().annotate(has_thumbnail_permission=RawSQL(_permission_sql(), [codename, app_label]))

    def authenticate(self, request, token):
        user = super().authenticate(request, token)
        if user is None:
            return None
        if not user.is_staff:
            raise AuthorizationError(message="Admin access required")
        # has_perm() only when the shortcut says no: other auth backends may still grant it.
        if not (user.is_superuser or user.has_thumbnail_permission or user.has_perm(self.permission)):
            raise AuthorizationError(message="Admin access required: missing permission to change asset thumbnails")
        return user
