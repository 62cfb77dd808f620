"""WSGI entry point."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from icosa.security import require_keys  # noqa: E402 (needs DJANGO_SETTINGS_MODULE)

require_keys()  # a server never starts without real keys
application = get_wsgi_application()
