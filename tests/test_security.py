"""Attacks on the gallery, each refused with a clear answer and nothing changed.

Every table row is an attack from the audit (issue 10): stored script in /media/, forged or
stale tokens, throttling bypasses, model URLs that reach inside the network, lease theft,
oversized input. Each asserts the refusal, its message, and that no database row or stored
file changed (``unchanged``). HTTP attacks go through ``live_server`` with real requests.
"""

import http.server as http_server
import io
import json
import os
import runpy
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import TestCase

from admin_tools import runs, services
from admin_tools.management.commands.render_thumbnails import Command as RenderCommand
from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailSelection, ThumbnailVersion
from admin_tools.runner.client import ThumbnailApi
from admin_tools.runner.urlpolicy import UrlPolicy
from icosa import media
from icosa.models import Asset, Format, Resource, User

from .conftest import b64, make_image

PROJECT = Path(settings.BASE_DIR)
SETTINGS_FILE = PROJECT / "config" / "settings.py"
MODELS = (User, Asset, Format, Resource, ThumbnailVersion, ThumbnailClaim, ThumbnailFailure, ThumbnailSelection)
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "prod-like-secret-" + "Zq8#rT2!vL5@" * 5,
    "JWT_SECRET_KEY": "prod-like-jwt-secret-key-of-more-than-32-bytes",
    "DJANGO_DEBUG": "0",
    "DJANGO_HTTPS": "1",
    "DJANGO_ALLOWED_HOSTS": "gallery.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
}


# --- helpers -------------------------------------------------------------------------------


def state(media_root):
    """Every row of every model and every stored file with its bytes."""
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}
    root = Path(media_root)
    files = (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )
    return rows, files


@contextmanager
def unchanged(media_root):
    before = state(media_root)
    yield
    assert state(media_root) == before, "the attack changed a row or a stored file"


def http(method, url, *, body=None, headers=None):
    """A real HTTP request: (status, headers, body bytes); redirects are not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def api_json(live_server, path, body, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, raw = http("POST", live_server.url + "/api/v1" + path, body=body, headers=headers)
    return status, json.loads(raw or b"{}")


def complete_asset(name="Model", *, visibility=Asset.Visibility.PUBLIC, owner=None):
    asset = Asset.objects.create(name=name, state=Asset.State.COMPLETE, visibility=visibility, owner=owner)
    Format.objects.create(asset=asset, format_type="GLB", is_preferred_for_gallery_viewer=True)
    asset.refresh_from_db()
    return asset


def stored(asset, filename, content=b"glTF....", **fields):
    resource = Resource(asset=asset, format=asset.formats.first(), contenttype=fields.pop("contenttype", ""), **fields)
    resource.file.save(filename, ContentFile(content), save=True)
    return resource


def settings_in_child(env):
    """config/settings.py evaluated with exactly these variables (a fresh namespace)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_", "B2_", "SERVE_MEDIA"))}
    with pytest.MonkeyPatch.context() as mp:
        for name in set(os.environ) - set(keep):
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))


def manage(*args, env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_", "B2_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={**base, "DATABASE_URL": f"sqlite:///{PROJECT / 'unused-check.sqlite3'}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- stored script on the admin origin -----------------------------------------------------

MEDIA_CASES = {
    # stored name, content, expected type, disposition
    "glb model": ("scene.glb", b"glTF\x02\x00\x00\x00", "model/gltf-binary", "inline"),
    "gltf json": ("scene.gltf", b'{"asset":{"version":"2.0"}}', "model/gltf+json", "inline"),
    "png texture": ("wood.png", make_image((8, 8), fmt="PNG"), "image/png", "inline"),
    "svg with script": (
        "evil.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "application/octet-stream",
        "attachment",
    ),
    "html page": ("evil.html", b"<script>fetch('/admin/')</script>", "application/octet-stream", "attachment"),
    "html named .bin is still bytes": (
        "evil.bin",
        b"<html><script>alert(1)</script>",
        "application/octet-stream",
        "inline",
    ),
}


def media_get(client, url):
    """/media/ through the project's URLs and middleware. (live_server would answer media
    itself, with its own test-only handler, so these requests use Django's client.)"""
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, response.headers, body


@pytest.mark.django_db
@pytest.mark.parametrize("case", MEDIA_CASES, ids=list(MEDIA_CASES))
def test_media_is_never_active_content(client, media_root, case):
    """Whatever landed in storage, /media/ sends nosniff, a sandbox CSP and the allow-list's type;
    anything that is not a model or an image is an attachment."""
    name, content, content_type, disposition = MEDIA_CASES[case]
    asset = complete_asset()
    path = f"assets/{media.asset_folder(asset.pk)}/{name}"
    default_storage.save(path, ContentFile(content))  # as a sidecar copied by an import would
    with unchanged(media_root):
        status, headers, body = media_get(client, f"/media/{path}")
    assert status == 200 and body == content
    assert headers["Content-Type"] == content_type
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("sandbox")
    assert headers["Content-Disposition"].startswith(disposition)


RESOURCE_REFUSALS = {
    "svg texture": ({"file": "assets/1/x/evil.svg"}, "evil.svg: a resource must be a model, buffer or texture file"),
    "html file": ({"file": "assets/1/x/page.html"}, "page.html: a resource must be a model"),
    "javascript url": ({"external_url": "javascript:alert(1)"}, "Enter a valid URL."),
    "file url": ({"external_url": "file:///etc/passwd"}, "Enter a valid URL."),
    "ftp url": ({"external_url": "ftp://example.com/m.glb"}, "Enter a valid URL."),
    "svg content type": (
        {"file": "assets/1/x/m.glb", "contenttype": "image/svg+xml"},
        "image/svg+xml: a resource's content type",
    ),
    "html content type": (
        {"file": "assets/1/x/m.glb", "contenttype": "text/html"},
        "text/html: a resource's content type",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", RESOURCE_REFUSALS, ids=list(RESOURCE_REFUSALS))
def test_resources_outside_the_allow_list_are_refused(media_root, case):
    fields, message = RESOURCE_REFUSALS[case]
    asset = complete_asset()
    with unchanged(media_root):
        with pytest.raises(ValidationError) as caught:
            Resource(asset=asset, **fields).save()
    assert message in " ".join(caught.value.messages)


@pytest.mark.django_db
def test_media_is_not_served_when_serve_media_is_off(client, settings, media_root):
    asset = complete_asset()
    resource = stored(asset, "scene.glb")
    settings.SERVE_MEDIA = False
    response = client.get(resource.url)
    assert response.status_code == 404


def test_serve_media_defaults_to_debug():
    assert settings_in_child({"DJANGO_DEBUG": "1"})["SERVE_MEDIA"] is True
    assert settings_in_child(PRODUCTION_ENV)["SERVE_MEDIA"] is False


@pytest.mark.django_db
def test_s3_uploads_carry_the_same_type_and_disposition():
    from icosa.storage import GalleryS3Storage

    storage = GalleryS3Storage(bucket_name="b", access_key="k", secret_key="s", endpoint_url="http://127.0.0.1:9")
    assert storage.get_object_parameters("assets/1/x/evil.svg") == {
        "ContentType": "application/octet-stream",
        "ContentDisposition": "attachment; filename*=UTF-8''evil.svg",
    }
    assert storage.get_object_parameters("assets/1/x/m.glb")["ContentType"] == "model/gltf-binary"
    signed = storage.signed_url("assets/1/x/m.glb", expire=60)
    assert "Signature=" in signed and "Expires=" in signed


# --- private files -------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", [Asset.Visibility.PRIVATE, Asset.Visibility.UNLISTED])
def test_private_files_need_a_signed_link_or_access(live_server, client, media_root, staff_user, visibility):
    """The old guessable path does not exist; the stored one needs the listing's signed link."""
    asset = complete_asset(visibility=visibility)
    resource = stored(asset, "scene.glb", b"glTF-private")
    name = resource.file.name
    assert name != f"assets/{asset.pk}/scene.glb" and media.asset_folder(asset.pk) in name
    token = staff_user.generate_jwt_token()
    status, _, raw = http(
        "GET",
        f"{live_server.url}/api/v1/admin/assets/missing-thumbnails?asset_ids={asset.pk}",
        headers={"Authorization": f"Bearer {token}"},
    )
    link = json.loads(raw)["assets"][0]["formats"][0]["resources"][0]["url"]
    assert "?sig=" in link
    with unchanged(media_root):
        attempts = {
            "guessed old path": media_get(client, f"/media/assets/{asset.pk}/scene.glb")[0],
            "stored path, no signature": media_get(client, f"/media/{name}")[0],
            "forged signature": media_get(client, f"/media/{name}?sig=1:abc")[0],
            "another file's signature": media_get(client, f"/media/{name}?sig={media.sign_name('assets/x')}")[0],
        }
        status, headers, body = media_get(client, link)
    assert attempts == dict.fromkeys(attempts, 404)
    assert status == 200 and body == b"glTF-private"
    assert headers["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_the_unlisted_asset_page_links_a_signed_preview(client, staff_user, media_root):
    asset = complete_asset(visibility=Asset.Visibility.UNLISTED)
    services.store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image()), user=staff_user)
    asset.refresh_from_db()
    page = client.get(asset.get_absolute_url()).content.decode()
    link = page.split('class="preview"', 1)[0].rsplit('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "?sig=" in link
    assert media_get(client, link)[0] == 200
    assert media_get(client, link.split("?", 1)[0])[0] == 404


@pytest.mark.django_db
def test_staff_and_owner_sessions_read_private_files(client, staff_user, plain_user):
    asset = complete_asset(visibility=Asset.Visibility.PRIVATE, owner=plain_user)
    path = "/media/" + stored(asset, "scene.glb").file.name
    assert client.get(path).status_code == 404
    client.force_login(plain_user)
    assert client.get(path).status_code == 200
    client.force_login(staff_user)
    assert client.get(path).status_code == 200


# --- keys, tokens, logins ------------------------------------------------------------------


def test_dev_keys_only_with_debug():
    production = settings_in_child(
        {k: v for k, v in PRODUCTION_ENV.items() if "KEY" not in k} | {"DJANGO_INSECURE_DEV_KEYS": "1"}
    )
    assert production["SECRET_KEY"] == "" and production["JWT_SECRET_KEY"] == ""
    debug = settings_in_child({"DJANGO_DEBUG": "1"})
    assert debug["JWT_SECRET_KEY"] == debug["DEV_JWT_SECRET_KEY"]


def test_a_short_jwt_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match="JWT_SECRET_KEY must be at least 32 bytes"):
        settings_in_child({**PRODUCTION_ENV, "JWT_SECRET_KEY": "short-key"})


def test_a_server_without_keys_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if "KEY" not in k} | {"DJANGO_INSECURE_DEV_KEYS": "1"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=PROJECT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY and JWT_SECRET_KEY not set" in result.stderr


def test_check_deploy_is_clean_with_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    missing = manage("check", "--deploy", env={k: v for k, v in PRODUCTION_ENV.items() if k != "JWT_SECRET_KEY"})
    assert "icosa.E001" in missing.stderr and "JWT_SECRET_KEY is not set" in missing.stderr


def forge(user, *, key=None, **claims):
    now = int(time.time())
    payload = {
        "sub": str(user.pk), "iat": now, "exp": now + 600, "jti": "a" * 32, "aud": settings.JWT_AUDIENCE,
        "scope": "thumbnails", "ver": user.token_version, **claims,
    }  # fmt: skip
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key or settings.JWT_SECRET_KEY, algorithm="HS256"
    )


TOKEN_ATTACKS = {
    "three-year token": lambda u: forge(u, exp=int(time.time()) + 3 * 365 * 86400),
    "dev key": lambda u: forge(
        u, key=settings.DEV_JWT_SECRET_KEY if hasattr(settings, "DEV_JWT_SECRET_KEY") else "x" * 40
    ),
    "non-numeric sub": lambda u: forge(u, sub="abc"),
    "sub with sql": lambda u: forge(u, sub="1 OR 1=1"),
    "integer sub": lambda u: forge(u, sub=u.pk),
    "malformed jti": lambda u: forge(u, jti="../../etc"),
    "no version": lambda u: forge(u, ver=None),
    "old version": lambda u: forge(u, ver=u.token_version - 1),
}


@pytest.mark.parametrize("case", TOKEN_ATTACKS, ids=list(TOKEN_ATTACKS))
def test_forged_and_stale_tokens_get_401(live_server, media_root, staff_user, case):
    User.objects.filter(pk=staff_user.pk).update(token_version=5)
    staff_user.refresh_from_db()
    asset = complete_asset()
    with unchanged(media_root):
        status, body = api_json(
            live_server, f"/admin/assets/{asset.pk}/thumbnail",
            {"thumbnail_base64": b64(make_image()), "runner_id": "r"}, token=TOKEN_ATTACKS[case](staff_user),
        )  # fmt: skip
    assert (status, body) == (401, {"detail": "Invalid or expired JWT token"})


@pytest.mark.parametrize("end", ["password change", "deactivation and reactivation"])
def test_password_change_and_deactivation_end_tokens(live_server, media_root, staff_user, end):
    token = staff_user.generate_jwt_token()
    assert api_json(live_server, "/admin/thumbnail-jobs/claim", {"runner_id": "r"}, token=token)[0] == 200
    user = User.objects.get(pk=staff_user.pk)
    if end == "password change":
        user.set_password("a-new-and-long-passphrase")
        user.save()
    else:
        user.is_active = False
        user.save()
        user = User.objects.get(pk=staff_user.pk)
        user.is_active = True
        user.save()
    with unchanged(media_root):
        status, body = api_json(live_server, "/admin/thumbnail-jobs/claim", {"runner_id": "r"}, token=token)
    assert (status, body) == (401, {"detail": "Invalid or expired JWT token"})
    fresh = User.objects.get(pk=staff_user.pk).generate_jwt_token()
    assert api_json(live_server, "/admin/thumbnail-jobs/claim", {"runner_id": "r"}, token=fresh)[0] == 200


@pytest.mark.django_db
def test_create_jwt_refuses_a_lifetime_beyond_the_maximum(staff_user, settings):
    settings.JWT_MAX_TOKEN_MINUTES = 120
    with pytest.raises(CommandError, match="--minutes must be between 1 and 120"):
        call_command("create_jwt", staff_user.username, "--minutes", "121", stdout=io.StringIO())
    with pytest.raises(ValueError, match="Token lifetime must be 1 to 120 minutes"):
        staff_user.generate_jwt_token(minutes=121)


def login(live_server, username, password, **headers):
    return api_json(live_server, "/login/jwt", {"username": username, "password": password}, **headers)


THROTTLE_CASES = {
    # TRUSTED_PROXY_COUNT, headers per attempt (attempt number -> headers)
    "rotating X-Forwarded-For, no proxy": (0, lambda n: {"X-Forwarded-For": f"10.0.{n}.1"}),
    "spoofed left of one proxy": (1, lambda n: {"X-Forwarded-For": f"10.0.{n}.1, 198.51.100.7"}),
    "one username from many addresses": (1, lambda n: {"X-Forwarded-For": f"198.51.100.{n + 10}"}),
}


@pytest.mark.parametrize("case", THROTTLE_CASES, ids=list(THROTTLE_CASES))
def test_login_throttling_cannot_be_bypassed(live_server, media_root, settings, staff_user, case):
    proxies, headers = THROTTLE_CASES[case]
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.AXES_FAILURE_LIMIT = 3
    with unchanged(media_root):
        codes = [login(live_server, "thumbs", "wrong", **headers(n))[0] for n in range(4)]
        status, body = login(live_server, "thumbs", "thumbs-password", **headers(9))
    assert codes == [401, 401, 429, 429]
    assert (status, body) == (429, {"detail": "Too many failed logins; try again later"})


def test_admin_login_is_throttled_in_the_shared_database_cache(live_server, media_root, settings, staff_user):
    """Workers share the counts: the database cache table holds them (Redis with REDIS_URL)."""
    from axes.handlers.proxy import AxesProxyHandler

    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "icosa_shared_cache"},
    }
    caches["shared"].clear()
    AxesProxyHandler.get_implementation(force=True)  # it keeps the cache it was built with
    settings.AXES_FAILURE_LIMIT = 2
    url = live_server.url + "/admin/login/"
    session = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    page = session.open(url).read().decode()
    csrf = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    def attempt(password):
        data = urllib.parse.urlencode(
            {"username": "thumbs", "password": password, "csrfmiddlewaretoken": csrf}
        ).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        try:
            with session.open(request) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    with unchanged(media_root):
        codes = [attempt("wrong")[0] for _ in range(2)]
        status, text = attempt("thumbs-password")
    assert codes == [200, 429] and status == 429
    assert "Too many failed logins" in text
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM icosa_shared_cache")
        assert cursor.fetchone()[0] > 0
    caches["shared"].clear()
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared"},
    }
    AxesProxyHandler.get_implementation(force=True)


@pytest.mark.django_db
def test_logins_without_a_request_still_work(client, staff_user):
    """Client.login and scripts have no address to throttle; they reach the model backend."""
    assert client.login(username="thumbs", password="thumbs-password")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password,message", [("password123", "too common"), ("thumbs12", "too similar to the username")]
)
def test_weak_passwords_are_refused(staff_user, password, message):
    with pytest.raises(ValidationError, match=message):
        validate_password(password, user=staff_user)


# --- a model must not choose what the runner fetches ---------------------------------------

URL_CASES = {
    "cloud metadata": ("http://169.254.169.254/latest/meta-data/", "link-local"),
    "the LAN": ("http://10.0.0.5/model.bin", "private"),
    "ipv6 loopback": ("http://[::1]:8080/x", "loopback"),
    "ipv4-mapped loopback": ("http://[::ffff:127.0.0.1]:22/x", "loopback"),
    "another port on the runner": ("http://127.0.0.1:5432/", "loopback"),
    "file scheme": ("file:///etc/passwd", "only http and https"),
    "ftp scheme": ("ftp://93.184.216.34/m.glb", "only http and https"),
    "the gallery itself": ("http://127.0.0.1:8000/media/assets/1/m.glb", None),
    "a relative gallery path": ("/media/assets/1/m.glb", None),
    "a public address": ("http://93.184.216.34/m.glb", None),
}


@pytest.mark.parametrize("case", URL_CASES, ids=list(URL_CASES))
def test_runner_refuses_internal_model_urls(case):
    url, refusal = URL_CASES[case]
    reason = UrlPolicy("http://127.0.0.1:8000").refused(url)
    if refusal is None:
        assert reason is None
    else:
        assert refusal in reason and url in reason


def test_runner_reports_a_refused_asset_as_fetch_error():
    asset = {
        "id": "7",
        "formats": [{"root_url": "/media/a.gltf", "resources": [{"url": "http://169.254.169.254/x.bin"}]}],
    }
    reason = UrlPolicy("https://gallery.example.com").refused_in(asset)
    assert reason.startswith("http://169.254.169.254/x.bin: refused")


class _Recorder(http_server.BaseHTTPRequestHandler):
    seen = []
    redirect_to = None

    def do_GET(self):
        type(self).seen.append((self.server.server_address[1], self.headers.get("Authorization")))
        if self.redirect_to and self.path.startswith("/api/v1/admin/thumbnail-jobs/status"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@contextmanager
def recording_server():
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where,forwarded", [("another host", False), ("the same origin", True)])
def test_the_runner_client_never_forwards_its_token_to_another_host(where, forwarded):
    _Recorder.seen = []
    with recording_server() as gallery, recording_server() as elsewhere:
        target = elsewhere if where == "another host" else gallery
        _Recorder.redirect_to = f"http://127.0.0.1:{target}/collect"
        try:
            ThumbnailApi(f"http://127.0.0.1:{gallery}/api/v1", "secret-token").status()
        finally:
            _Recorder.redirect_to = None
    assert _Recorder.seen[0] == (gallery, "Bearer secret-token")
    assert _Recorder.seen[1] == (target, "Bearer secret-token" if forwarded else None)


def test_a_remote_runner_needs_no_keys(live_server, staff_user):
    """No DJANGO_SECRET_KEY, no JWT_SECRET_KEY, no DEBUG: a runner signs nothing."""
    result = manage(
        "thumbnail_status", "--server", live_server.url, "--json",
        env={"ICOSA_JWT_TOKEN": staff_user.generate_jwt_token(), "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 0


def test_tokens_are_not_command_line_arguments():
    parser = RenderCommand().create_parser("manage.py", "render_thumbnails")
    with pytest.raises(CommandError, match="unrecognized arguments: --token"):
        parser.parse_args(["--server", "http://x", "--token", "secret"])
    assert parser.parse_args(["--token-file", "/dev/null"]).token_file == "/dev/null"


# --- leases, users, ids, caps --------------------------------------------------------------


@pytest.fixture
def leased(django_user_model, staff_user):
    """An asset leased to runner "owner" of staff_user, and a second staff user's token."""
    asset = complete_asset()
    runs.claim_assets(user=staff_user, runner_id="owner", count=1)
    other = django_user_model.objects.create_user(
        username="other", email="other@example.com", password="x", is_staff=True, is_superuser=True
    )
    return asset, other.generate_jwt_token()


LEASE_ATTACKS = {
    "upload, empty runner_id": (
        "thumbnail",
        {"thumbnail_base64": b64(make_image()), "runner_id": ""},
        422,
        "runner_id",
    ),
    "upload, no runner_id": ("thumbnail", {"thumbnail_base64": b64(make_image())}, 422, "runner_id"),
    "failure, empty runner_id": ("thumbnail-failure", {"reason": "timeout", "runner_id": ""}, 422, "runner_id"),
    "upload, the owner's runner_id from another user": (
        "thumbnail",
        {"thumbnail_base64": b64(make_image()), "runner_id": "owner"},
        409,
        "is leased to another runner",
    ),
    "failure, the owner's runner_id from another user": (
        "thumbnail-failure",
        {"reason": "timeout", "runner_id": "owner"},
        409,
        "is leased to another runner",
    ),
}


@pytest.mark.parametrize("case", LEASE_ATTACKS, ids=list(LEASE_ATTACKS))
def test_leases_belong_to_the_claiming_runner_and_user(live_server, media_root, leased, case):
    asset, other_token = leased
    endpoint, body, status, message = LEASE_ATTACKS[case]
    with unchanged(media_root):
        got, answer = api_json(live_server, f"/admin/assets/{asset.pk}/{endpoint}", body, token=other_token)
    assert got == status
    assert message in answer["detail"] and "owner" not in answer["detail"]


def test_release_ends_only_your_own_leases(live_server, media_root, leased):
    asset, other_token = leased
    with unchanged(media_root):
        got = api_json(
            live_server,
            "/admin/thumbnail-jobs/release",
            {"runner_id": "owner", "asset_ids": [str(asset.pk)]},
            token=other_token,
        )
    assert got == (200, {"released": 0})


@pytest.mark.django_db
def test_users_without_email_are_stored_with_null(admin_client, django_user_model):
    django_user_model.objects.create_user(username="first", password="x")
    response = admin_client.post(
        "/admin/icosa/user/add/",
        {
            "username": "second",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert list(django_user_model.objects.filter(username__in=["first", "second"]).values_list("email", flat=True)) == [
        None,
        None,
    ]


ADMIN_ID_ATTACKS = {
    "letters in the revert url": ("post", "/admin/icosa/asset/abc/thumbnail-versions/1/revert/", 404),
    "unicode digit": ("post", "/admin/icosa/asset/²/thumbnail-versions/1/revert/", 404),
    "overflowing version id": ("post", "/admin/icosa/asset/1/thumbnail-versions/99999999999999999999999/revert/", 404),
    "letters in the change url": ("get", "/admin/icosa/asset/abc/change/", 302),
    "overflowing change url": ("get", "/admin/icosa/asset/99999999999999999999999/change/", 302),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", ADMIN_ID_ATTACKS, ids=list(ADMIN_ID_ATTACKS))
def test_non_numeric_admin_ids_are_not_errors(admin_client, media_root, case):
    method, url, status = ADMIN_ID_ATTACKS[case]
    complete_asset()
    with unchanged(media_root):
        response = getattr(admin_client, method)(url)
    assert response.status_code == status


def _ids(n):
    return ",".join(str(i) for i in range(1, n + 1))


CAP_ATTACKS = {
    "asset_ids in one string": (
        "get",
        "/admin/assets/missing-thumbnails?asset_ids=" + _ids(10001),
        None,
        "asset_ids: at most 10000 ids per request",
    ),
    "claim asset_ids": (
        "post",
        "/admin/thumbnail-jobs/claim",
        {"runner_id": "r", "asset_ids": [_ids(10001)]},
        "asset_ids: at most 10000 ids per request",
    ),
    "render_settings": (
        "post",
        "upload",
        {"thumbnail_base64": b64(make_image()), "runner_id": "r", "render_settings": {"x": "y" * 20000}},
        "render_settings: at most 16384 bytes",
    ),
}


@pytest.mark.parametrize("case", CAP_ATTACKS, ids=list(CAP_ATTACKS))
def test_input_caps(live_server, media_root, staff_user, case):
    method, path, body, message = CAP_ATTACKS[case]
    asset = complete_asset()
    token = staff_user.generate_jwt_token()
    with unchanged(media_root):
        if method == "get":
            status, _, raw = http(
                "GET", live_server.url + "/api/v1" + path, headers={"Authorization": f"Bearer {token}"}
            )
            answer = json.loads(raw)
        else:
            path = f"/admin/assets/{asset.pk}/thumbnail" if path == "upload" else path
            status, answer = api_json(live_server, path, body, token=token)
    assert status == 422
    assert message in answer["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("with_ids", [False, True], ids=["selection", "selection and asset_ids"])
def test_a_big_selection_claims_quickly(client, staff_user, with_ids):
    """300,000 selected ids: more than SQLite takes as parameters; the database expands the
    stored list itself, and intersecting with asset_ids is one set lookup per id."""
    assets = [complete_asset(f"a{i}") for i in range(3)]
    chosen = [str(a.pk) for a in assets] + [str(i) for i in range(10**6, 10**6 + 300000)]
    selection = ThumbnailSelection.objects.create(asset_ids=chosen)
    body = {"runner_id": "r", "selection": str(selection.pk)}
    if with_ids:
        body["asset_ids"] = [",".join(str(a.pk) for a in assets)] + [str(i) for i in range(2 * 10**6, 2 * 10**6 + 9000)]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_user.generate_jwt_token()}"}
    started = time.monotonic()
    response = client.post(
        "/api/v1/admin/thumbnail-jobs/claim", json.dumps(body), content_type="application/json", **auth
    )
    assert response.status_code == 200, response.content[:300]
    assert [a["id"] for a in response.json()["assets"]] == [str(a.pk) for a in assets]
    assert response.json()["remaining"] == 0
    assert time.monotonic() - started < 10


@pytest.mark.django_db
def test_prune_deletes_files_only_after_commit_and_a_late_revert_is_refused(staff_user, media_root):
    asset = complete_asset()
    first = services.store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(shape="red")), user=staff_user)[
        1
    ]
    services.store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(shape="blue")), user=staff_user)
    files = [first.thumbnail.name, first.preview_image.name]
    with TestCase.captureOnCommitCallbacks(execute=False) as callbacks:
        services.prune_versions(keep=0)
    assert all(default_storage.exists(name) for name in files), "files went before the commit"
    with pytest.raises(ThumbnailVersion.DoesNotExist):
        services.revert_thumbnail(version=first, user=staff_user)
    for callback in callbacks:
        callback()
    assert not any(default_storage.exists(name) for name in files)


@pytest.mark.django_db
def test_a_rolled_back_prune_deletes_nothing(staff_user, media_root):
    asset = complete_asset()
    for shape in ("red", "blue"):
        services.store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(shape=shape)), user=staff_user)
    with unchanged(media_root), TestCase.captureOnCommitCallbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.prune_versions(keep=0)
            raise RuntimeError("rollback")


@pytest.mark.django_db
def test_the_asset_form_cannot_replace_a_thumbnail(client, superuser, media_root):
    asset = complete_asset()
    services.store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image()), user=superuser)
    client.force_login(superuser)
    page = client.get(f"/admin/icosa/asset/{asset.pk}/change/").content.decode()
    assert 'name="thumbnail"' not in page and 'name="preview_image"' not in page
    asset.refresh_from_db()
    before = (asset.thumbnail.name, asset.preview_image.name, ThumbnailVersion.objects.count())
    upload = ContentFile(make_image(fmt="PNG"), name="sneaky.png")
    client.post(f"/admin/icosa/asset/{asset.pk}/change/", {"name": "x", "thumbnail": upload, "preview_image": upload})
    asset.refresh_from_db()
    assert (asset.thumbnail.name, asset.preview_image.name, ThumbnailVersion.objects.count()) == before
