"""Login: trade a username and password for a short-lived JWT."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from ninja import Router, Schema
from ninja.errors import HttpError

from .security import LOCKED_OUT, login_locked

router = Router(tags=["auth"])


class LoginIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Message(Schema):
    detail: str


@router.post(
    "/jwt",
    response={200: TokenOut, 401: Message, 429: Message},
    auth=None,
    url_name="login_jwt",
)
def login_jwt(request, payload: LoginIn):
    """Failures count per client address and per username in the shared cache (django-axes,
    the same counters as /admin/login/); a locked-out client gets 429 whatever it sends."""
    if login_locked(request, payload.username):
        raise HttpError(429, LOCKED_OUT)
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None or not user.is_active:
        raise HttpError(401, "Invalid username or password")
    # As a session login does: django-axes clears this client's failures, last_login is set.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    minutes = settings.JWT_ACCESS_TOKEN_MINUTES
    return TokenOut(access_token=user.generate_jwt_token(minutes=minutes), expires_in=minutes * 60)
