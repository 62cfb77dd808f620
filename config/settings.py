"""Settings for the gallery. Everything configurable comes from environment variables."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


DEBUG = env_bool("DJANGO_DEBUG", False)

# Keys come from the environment. Published dev-only keys exist for DEBUG alone; without
# DEBUG an unset key stays empty: anything that signs then fails, and a web server refuses
# to start (icosa.security's system check, config/wsgi.py). A remote runner signs nothing,
# so it needs neither key.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
DEV_JWT_SECRET_KEY = "dev-only-insecure-jwt-key-change-me-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or (DEV_SECRET_KEY if DEBUG else "")
JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY", "") or (DEV_JWT_SECRET_KEY if DEBUG else "")
JWT_MIN_KEY_BYTES = 32  # HS256 keys shorter than the hash are brute-forceable (RFC 7518 3.2)
if JWT_SECRET_KEY and len(JWT_SECRET_KEY.encode()) < JWT_MIN_KEY_BYTES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"JWT_SECRET_KEY must be at least {JWT_MIN_KEY_BYTES} bytes "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
    )

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "icosa",
    "admin_tools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out admin login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "icosa.backends.LoginThrottleBackend",  # django-axes' AxesStandaloneBackend
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so concurrent work
    # claims on SQLite are serialised instead of racing (PostgreSQL uses SKIP LOCKED).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    # A file, not shared-cache memory: threads (live server, concurrent claims) then get
    # SQLite's normal busy-wait locking instead of "database table is locked".
    import tempfile

    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
        "SQLITE_TEST_NAME", os.path.join(tempfile.gettempdir(), f"icosa-test-{os.getpid()}.sqlite3")
    )

AUTH_USER_MODEL = "icosa.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = os.environ.get("STATIC_URL", "/static/")
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/three", BASE_DIR / "node_modules" / "three"),
    ("vendor/spark", BASE_DIR / "node_modules" / "@sparkjsdev" / "spark" / "dist"),
]

# Serve static files straight from the finders (static/ and the pinned three.js and Spark in
# node_modules), so the demo, the tests and the embedded headless server need no collectstatic.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
WHITENOISE_AUTOREFRESH = DEBUG

MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Django serves uploads (through icosa.media's checked view) only where asked, and by default
# only in development: in production serve media from a separate domain or bucket.
SERVE_MEDIA = env_bool("SERVE_MEDIA", DEBUG)
# How long a signed link to a PRIVATE or UNLISTED asset's file stays valid.
MEDIA_SIGNED_URL_SECONDS = env_int("MEDIA_SIGNED_URL_SECONDS", 3600)

B2_BUCKET_NAME = os.environ.get("B2_BUCKET_NAME", "")
if B2_BUCKET_NAME:
    from botocore.config import Config as BotoConfig

    if not os.environ.get("B2_ENDPOINT_URL"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "B2_BUCKET_NAME is set but B2_ENDPOINT_URL is not (e.g. https://s3.us-west-004.backblazeb2.com)."
        )

    _b2_options = {
        "bucket_name": B2_BUCKET_NAME,
        "access_key": os.environ.get("B2_KEY_ID", ""),
        "secret_key": os.environ.get("B2_APPLICATION_KEY", ""),
        "endpoint_url": os.environ.get("B2_ENDPOINT_URL", ""),
        "region_name": os.environ.get("B2_REGION", "us-west-004"),
        "custom_domain": os.environ.get("B2_CUSTOM_DOMAIN") or None,
        "file_overwrite": False,
        "querystring_auth": env_bool("B2_QUERYSTRING_AUTH", False),
        "default_acl": None,
        # B2 rejects the CRC checksum headers boto3 sends by default.
        "client_config": BotoConfig(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    }
    # S3Storage plus per-file ContentType/ContentDisposition (icosa.storage).
    _default_storage = {"BACKEND": "icosa.storage.GalleryS3Storage", "OPTIONS": _b2_options}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Thumbnail pipeline (issue 2): sizes, caps and token lifetimes.
THUMBNAIL_MAX_UPLOAD_BYTES = env_int("THUMBNAIL_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
THUMBNAIL_SIZE = (env_int("THUMBNAIL_WIDTH", 512), env_int("THUMBNAIL_HEIGHT", 320))
PREVIEW_IMAGE_MAX_SIZE = (env_int("PREVIEW_MAX_WIDTH", 1280), env_int("PREVIEW_MAX_HEIGHT", 800))
THUMBNAIL_JPEG_QUALITY = env_int("THUMBNAIL_JPEG_QUALITY", 85)
# Extra widths of the card crop (THUMBNAIL_SIZE's aspect), each stored as JPEG and WebP, plus
# the preview as WebP; widths above the capture are skipped. Made after the upload's commit.
THUMBNAIL_DERIVATIVE_WIDTHS = tuple(
    int(w) for w in os.environ.get("THUMBNAIL_DERIVATIVE_WIDTHS", "256,512,1024").split(",") if w.strip()
)
THUMBNAIL_WEBP_QUALITY = env_int("THUMBNAIL_WEBP_QUALITY", 80)
# A PNG upload with alpha keeps it in its WebP derivatives and gets a transparent preview PNG.
THUMBNAIL_KEEP_ALPHA = env_bool("THUMBNAIL_KEEP_ALPHA", True)
# 1: the extra sizes are made in a background thread after the commit (the upload answers
# first); 0: after the commit, before the answer (the answer lists them all).
THUMBNAIL_DERIVATIVES_ASYNC = env_bool("THUMBNAIL_DERIVATIVES_ASYNC", True)
THUMBNAIL_MAX_PIXELS = env_int("THUMBNAIL_MAX_PIXELS", 4096 * 4096)
THUMBNAIL_MAX_FAILURES = env_int("THUMBNAIL_MAX_FAILURES", 3)
THUMBNAIL_CLAIM_SECONDS = env_int("THUMBNAIL_CLAIM_SECONDS", 300)
# The listing's total_count is reused for this long per filter set (per process): an exact
# count walks every missing asset, ~30 ms at 1M assets. 0 counts on every request.
THUMBNAIL_COUNT_CACHE_SECONDS = env_int("THUMBNAIL_COUNT_CACHE_SECONDS", 5)
THUMBNAIL_RENDER_SIZE = (env_int("THUMBNAIL_RENDER_WIDTH", 1280), env_int("THUMBNAIL_RENDER_HEIGHT", 800))
THUMBNAIL_RENDER_TIMEOUT_SECONDS = env_int("THUMBNAIL_RENDER_TIMEOUT_SECONDS", 60)
THUMBNAIL_BACKGROUND = os.environ.get("THUMBNAIL_BACKGROUND", "#e8eaed")
# Tilt Brush / Open Brush sketches are painted in a dark room: their light and additive
# brushes vanish on the light default. Used for brush sketches unless the asset names its own.
THUMBNAIL_SKETCH_BACKGROUND = os.environ.get("THUMBNAIL_SKETCH_BACKGROUND", "#16181c")
# "Wanted" marks (a visitor saw an asset without a thumbnail): one per asset per window, and
# at most this many per client and minute (admin_tools.priority; kept in the "shared" cache).
THUMBNAIL_WANTED_DEDUP_SECONDS = env_int("THUMBNAIL_WANTED_DEDUP_SECONDS", 600)
THUMBNAIL_WANTED_PER_CLIENT_PER_MINUTE = env_int("THUMBNAIL_WANTED_PER_CLIENT_PER_MINUTE", 120)
# The fleet (admin_tools.fleet): runners heartbeat this often; one silent for STALE seconds
# loses its leases at the next claim, one silent for GONE seconds is listed as gone.
THUMBNAIL_HEARTBEAT_SECONDS = env_int("THUMBNAIL_HEARTBEAT_SECONDS", 15)
THUMBNAIL_RUNNER_STALE_SECONDS = env_int("THUMBNAIL_RUNNER_STALE_SECONDS", 60)
THUMBNAIL_RUNNER_GONE_SECONDS = env_int("THUMBNAIL_RUNNER_GONE_SECONDS", 3600)
# Bytes the renderer downloads for one asset (all its files together), counted while streaming.
THUMBNAIL_MAX_ASSET_BYTES = env_int("THUMBNAIL_MAX_ASSET_BYTES", 512 * 1024 * 1024)
# Longest texture side the renderer uploads; larger images are downscaled after decoding.
# None: the next power of two at or above the render size's longest side; 0: no cap.
THUMBNAIL_TEXTURE_CAP = env_int("THUMBNAIL_TEXTURE_CAP", None)
# Thumbnail quality (issue 13): a capture below these is stored but flagged for review.
# Subject = pixels that differ from the background; brightness (its brightest channel) and
# contrast (against the background) are 0..1.
THUMBNAIL_QUALITY_DARK_BRIGHTNESS = float(os.environ.get("THUMBNAIL_QUALITY_DARK_BRIGHTNESS") or 0.12)
THUMBNAIL_QUALITY_MIN_CONTRAST = float(os.environ.get("THUMBNAIL_QUALITY_MIN_CONTRAST") or 0.08)
THUMBNAIL_QUALITY_MIN_COVERAGE = float(os.environ.get("THUMBNAIL_QUALITY_MIN_COVERAGE") or 0.02)
# Up axis of formats whose files do not say (STL, 3MF and AMF are Z-up by specification and
# always turned upright): "PLY:Z,OBJ:Y". An asset's presentation_params.upAxis wins.
THUMBNAIL_UP_AXIS = {
    "PLY": "Y",
    "OBJ": "Y",
    **{
        key.strip().upper(): value.strip().upper()
        for key, _, value in (
            item.partition(":") for item in os.environ.get("THUMBNAIL_UP_AXIS", "").split(",") if ":" in item
        )
    },
}
# Turntable previews (issue 13): the page renders this many frames on an orbit after the
# still and the server stores them as one animated WebP (derivative kind "turntable") of
# TURNTABLE_SIZE, FRAME_MS per frame. 0 = off; the generator page and --turntable N ask per run.
THUMBNAIL_TURNTABLE_FRAMES = env_int("THUMBNAIL_TURNTABLE_FRAMES", 0)
THUMBNAIL_TURNTABLE_SIZE = (env_int("THUMBNAIL_TURNTABLE_WIDTH", 512), env_int("THUMBNAIL_TURNTABLE_HEIGHT", 320))
THUMBNAIL_TURNTABLE_FRAME_MS = env_int("THUMBNAIL_TURNTABLE_FRAME_MS", 125)
# Open Brush brush shaders/textures: a hosted copy's base URL, or a local folder this app serves
# at /brush-assets/ (the URL wins when both are set). Neither: brush materials use the fallback.
BRUSH_ASSETS_URL = os.environ.get("BRUSH_ASSETS_URL", "").strip()
BRUSH_ASSETS_DIR = os.environ.get("BRUSH_ASSETS_DIR", "").strip()
JWT_ACCESS_TOKEN_MINUTES = env_int("JWT_ACCESS_TOKEN_MINUTES", 60)
JWT_PAGE_TOKEN_MINUTES = env_int("JWT_PAGE_TOKEN_MINUTES", 10)
# No token lives longer than this, whoever mints it (create_jwt --minutes included).
JWT_MAX_TOKEN_MINUTES = env_int("JWT_MAX_TOKEN_MINUTES", 24 * 60)
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "icosa-thumbnails")

# Base64 inflates by 4/3; leave room for the JSON envelope. Bigger bodies are refused
# before they are read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = THUMBNAIL_MAX_UPLOAD_BYTES * 4 // 3 + 64 * 1024

# "default" is per process (the listing's count cache). "shared" is seen by every worker:
# login throttling lives there. Redis when REDIS_URL is set, else a database table
# (created by manage.py createcachetable; the test database gets it by itself).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "icosa_shared_cache"}
    ),
}

# Login throttling (django-axes) for the API login and /admin/login/: after
# LOGIN_FAILURE_LIMIT failures from one client address, or for one username, further
# attempts are refused for LOGIN_COOLOFF_MINUTES.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "shared"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "icosa.security.client_ip"
AXES_LOCKOUT_CALLABLE = "icosa.security.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Proxies in front of the app that append to X-Forwarded-For; 0 = the header is not trusted.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# HTTPS deployments (manage.py check --deploy is clean with DJANGO_HTTPS=1 and real keys).
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
# e.g. "HTTP_X_FORWARDED_PROTO" when a proxy terminates TLS and sets X-Forwarded-Proto.
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["DJANGO_SECURE_PROXY_SSL_HEADER"], "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "admin_tools": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}
