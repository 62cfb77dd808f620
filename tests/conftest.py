"""Shared fixtures: users, tokens, big asset ids, sample models and image bytes."""

import base64
import io
import os
import tempfile

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.db import connection
from PIL import Image, ImageDraw

from tests.fixtures import models as fixture_models

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Tests sign with their own keys: without DEBUG the settings hold none (a server would
# refuse to start), and the published dev-only keys exist for DJANGO_DEBUG=1 alone.
if not django_settings._wrapped.SECRET_KEY:  # reading settings.SECRET_KEY raises when empty
    django_settings.SECRET_KEY = "tests-only-django-secret-key-" + "k" * 40
if not django_settings.JWT_SECRET_KEY:
    django_settings.JWT_SECRET_KEY = "tests-only-jwt-secret-key-0123456789abcdef"
# Extra derivatives are made right after each upload's commit, not in a thread that could
# outlive its test's database (tests/test_derivatives.py covers the background path).
django_settings.THUMBNAIL_DERIVATIVES_ASYNC = False


BIG_ID = 2**53 + 1  # JavaScript numbers cannot hold this exactly; ids must travel as strings


def start_ids_above_2_53(start=BIG_ID):
    """Make the next Asset id at least ``start`` on SQLite and PostgreSQL."""
    from icosa.models import Asset

    table = Asset._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            cursor.execute(
                "SELECT setval(%s, GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM " + table + ")))",
                [sequence, start - 1],
            )
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT MAX(id) FROM " + table)
            (current,) = cursor.fetchone()
            if (current or 0) < start - 1:
                # AUTOINCREMENT hands out max(sqlite_sequence, MAX(id)) + 1: set the counter
                # exactly, so an empty table starts at ``start`` whatever ran before.
                Asset.objects.create(id=start - 1, name="id placeholder")
                Asset.objects.filter(id=start - 1).delete()
                cursor.execute(
                    "UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [max(current or 0, start - 1), table]
                )


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory) -> fixture_models.SampleModels:
    """Generated models (written once per session) and, after them, the shared real ones."""
    return fixture_models.sample_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def ok_models(sample_models):
    """Model files that must render, generated first (``ok_models[:n]`` is the same anywhere)."""
    return list(sample_models.ok)


@pytest.fixture(scope="session")
def bad_models(sample_models):
    """Model files that must fail cleanly, each with its reason in ``fixture_models.FAILURES``."""
    return list(sample_models.bad)


@pytest.fixture
def big_ids(db):
    start_ids_above_2_53()


@pytest.fixture
def staff_user(django_user_model):
    """Staff with the thumbnail permission (the role the generator is for)."""
    user = django_user_model.objects.create_user(
        username="thumbs",
        email="thumbs@example.com",
        password="thumbs-password",
        is_staff=True,
        displayname="Thumb Staff",
    )
    user.user_permissions.add(Permission.objects.get(codename="change_asset_thumbnail"))
    user.user_permissions.add(Permission.objects.get(codename="view_asset"))
    user.user_permissions.add(Permission.objects.get(codename="change_asset"))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="root-password"
    )


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(
        username="visitor", email="visitor@example.com", password="visitor-password"
    )


@pytest.fixture
def staff_without_permission(django_user_model):
    return django_user_model.objects.create_user(
        username="helpdesk", email="helpdesk@example.com", password="helpdesk-password", is_staff=True
    )


@pytest.fixture
def staff_token(staff_user):
    return staff_user.generate_jwt_token()


@pytest.fixture
def auth(staff_token):
    return {"HTTP_AUTHORIZATION": f"Bearer {staff_token}"}


def make_image(size=(1280, 800), *, fmt="JPEG", background="white", shape="red", uniform=False):
    """An image with a shape in the middle, like a render of a model."""
    image = Image.new("RGB", size, background)
    if not uniform:
        w, h = size
        ImageDraw.Draw(image).ellipse((w * 0.25, h * 0.2, w * 0.75, h * 0.8), fill=shape)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def b64(content, *, data_url=True, mime="image/jpeg"):
    encoded = base64.b64encode(content).decode()
    return f"data:{mime};base64,{encoded}" if data_url else encoded


@pytest.fixture(autouse=True)
def exact_counts(settings):
    """Counts are exact in tests unless a test turns the cache on (test_api covers it)."""
    from django.core.cache import cache

    settings.THUMBNAIL_COUNT_CACHE_SECONDS = 0
    cache.clear()


@pytest.fixture(autouse=True)
def served_media_and_fresh_logins(settings):
    """Django serves uploads in tests (live servers, browser tests), and login throttling
    counts start at zero: the shared cache is per-test memory unless a test asks for the
    database cache (tests/test_security.py does)."""
    from django.core.cache import caches

    settings.SERVE_MEDIA = True
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared"},
    }
    caches["shared"].clear()
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.get_implementation(force=True)  # it keeps the cache object it was built with


def token_file(token):
    """A file holding ``token``, for --token-file (tokens are never command-line values)."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".jwt", delete=False)
    with handle:
        handle.write(token)
    return handle.name


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes uploads into its own folder, never the project's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return settings.MEDIA_ROOT


def import_fixture(path, **kwargs):
    from icosa.importing import import_model

    return import_model(path, **kwargs)
