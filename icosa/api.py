"""Login: trade a username and password for a short-lived JWT."""
from django.conf import settings
from django.contrib.auth import authenticate
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.throttling import AnonRateThrottle

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


class LoginThrottle(AnonRateThrottle):
    """Read the rate when the request arrives, so settings overrides apply in tests."""

    def __init__(self):
        super().__init__("10/m")

    def allow_request(self, request):
        self.rate = f"{settings.LOGIN_RATE_LIMIT}/m"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)


@router.post(
    "/jwt",
    response={200: TokenOut, 401: Message, 429: Message},
    auth=None,
    throttle=[LoginThrottle()],
    url_name="login_jwt",
)
def login_jwt(request, payload: LoginIn):
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None or not user.is_active:
        raise HttpError(401, "Invalid username or password")
    minutes = settings.JWT_ACCESS_TOKEN_MINUTES
    return TokenOut(access_token=user.generate_jwt_token(minutes=minutes), expires_in=minutes * 60)
