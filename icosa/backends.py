"""The login throttle as an authentication backend (first in AUTHENTICATION_BACKENDS)."""

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes with a request (the API login,
    /admin/login/). Calls without one (``Client.login`` in tests, scripts) have no client
    address to throttle and go on to the model backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
