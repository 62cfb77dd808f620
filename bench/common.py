"""Shared helpers for the bench scripts.

Each bench process talks to exactly one database: ``configure()`` sets the environment that
``config/settings.py`` reads and then calls ``django.setup()``. The scripts run one child
process per backend and merge what the children write.

Nothing here is imported by the application or the test suite.
"""

import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fixtures.processes import descendants  # noqa: E402, F401  (the scripts use common.descendants)

RESULTS_DIR = ROOT / "bench" / "results"
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SQLITE_DIR = Path(os.environ.get("BENCH_SQLITE_DIR", "/tmp"))
BENCH_USERNAME = "bench-staff"
BACKENDS = ("sqlite", "postgres")

# The asset mix (see README "Performance"): 92 % COMPLETE, and of those 76 % already have a
# thumbnail (70 % of all assets); formats weighted as a Poly-style gallery, 80 % of them
# drawable by the viewer; 15 % of assets carry a second format.
STATES = (("COMPLETE", 0.92), ("UPLOADING", 0.03), ("FAILED", 0.03), ("BARE", 0.02))
THUMBNAIL_SHARE_OF_COMPLETE = 0.76
FORMATS = (
    ("GLB", 0.40),
    ("GLTF2", 0.20),
    ("OBJ", 0.15),
    ("FBX", 0.03),
    ("STL", 0.01),
    ("PLY", 0.01),
    ("TILT", 0.10),
    ("BLOCKS", 0.05),
    ("VOX", 0.03),
    ("USDZ", 0.02),
)
VIEWER_FORMATS = {"GLB", "GLTF2", "OBJ", "FBX", "STL", "PLY"}
FORMAT_FILES = {
    "GLB": [("model.glb", "model/gltf-binary")],
    "GLTF2": [
        ("scene.gltf", "model/gltf+json"),
        ("scene.bin", "application/octet-stream"),
        ("textures/base.png", "image/png"),
        ("textures/normal.png", "image/png"),
    ],
    "OBJ": [("model.obj", "model/obj"), ("model.mtl", "model/mtl")],
    "FBX": [("model.fbx", "application/octet-stream")],
    "STL": [("model.stl", "model/stl")],
    "PLY": [("model.ply", "application/octet-stream")],
    "TILT": [("sketch.tilt", "application/octet-stream")],
    "BLOCKS": [("model.blocks", "application/octet-stream")],
    "VOX": [("model.vox", "application/octet-stream")],
    "USDZ": [("model.usdz", "model/vnd.usdz+zip")],
}
SECOND_FORMAT_SHARE = 0.15
FAILURE_SHARE_OF_MISSING = 0.03  # attempts 1..5, so about 60 % of them are hidden by default
OWNERS = 500
EPOCH = datetime(2018, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- environment


def database_url(backend, name):
    if backend == "sqlite":
        return f"sqlite:///{SQLITE_DIR / (name + '.sqlite3')}"
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def child_env(backend, name, *, conn_max_age=60, media_root=None, extra=None):
    """The environment a bench process (or gunicorn) needs to talk to ``name``."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Bench-only keys: DEBUG stays off (production-like), so the dev keys do not apply.
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY") or "bench-only-django-secret-key-" + "b" * 40,
            "JWT_SECRET_KEY": env.get("JWT_SECRET_KEY") or "bench-only-jwt-secret-key-0123456789abcdef",
            "DJANGO_DEBUG": "0",
            "DATABASE_URL": database_url(backend, name),
            "DATABASE_CONN_MAX_AGE": str(conn_max_age),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    if media_root:
        env["MEDIA_ROOT"] = str(media_root)
    if extra:
        env.update(extra)
    return env


def shared_fixtures(*parts):
    """The real sample files under ../shared/fixtures (or $ICOSA_SHARED_FIXTURES), or None:
    the tests' one rule for finding them (tests/fixtures/shared.py)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.fixtures.shared import shared_fixtures as locate

    return locate(*parts)


def configure(backend, name, **kwargs):
    """Point config.settings at the bench database and set Django up (once per process)."""
    os.environ.update(child_env(backend, name, **kwargs))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load_module_from(path, name):
    """Import a file as a module (a baseline copy of an app module, for before/after runs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def postgres_reachable():
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        return True
    except Exception:
        return False


def reset_database(backend, name):
    """Drop and recreate the bench database (before ``configure``)."""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = SQLITE_DIR / f"{name}.sqlite3{suffix}"
            if path.exists():
                path.unlink()
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(backend, name):
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = SQLITE_DIR / f"{name}.sqlite3{suffix}"
            if path.exists():
                path.unlink()
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate():
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def staff_user():
    """The user the scripts act as: staff with the thumbnail permission."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=BENCH_USERNAME,
        defaults={"email": "bench@example.com", "is_staff": True, "displayname": "Bench"},
    )
    if created:
        user.set_password("bench-password-not-secret")
        user.save()
        user.user_permissions.add(Permission.objects.get(codename="change_asset_thumbnail"))
    return User.objects.get(pk=user.pk)


# --------------------------------------------------------------------------- bulk data


def _weighted(rng, table):
    x = rng.random()
    for value, weight in table:
        x -= weight
        if x < 0:
            return value
    return table[-1][0]


def _ensure_owners(count=OWNERS):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    have = User.objects.filter(username__startswith="owner-").count()
    if have < count:
        User.objects.bulk_create(
            User(
                username=f"owner-{i:05d}",
                email=f"owner-{i:05d}@example.com",
                displayname=f"Owner {i}",
                password="!",
            )
            for i in range(have, count)
        )
    return list(User.objects.filter(username__startswith="owner-").values_list("pk", flat=True))


def _max_id(cursor, table, column="id"):
    cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
    return cursor.fetchone()[0]


ASSET_COLUMNS = (
    "id", "url", "name", "owner_id", "visibility", "state", "is_viewer_compatible",
    "thumbnail", "preview_image", "thumbnail_contenttype", "thumbnail_width",
    "thumbnail_height", "thumbnail_bytes", "thumbnail_generated_at", "presentation_params",
    "create_time", "update_time",
)  # fmt: skip
FORMAT_COLUMNS = ("id", "asset_id", "format_type", "root_resource_id", "is_preferred_for_gallery_viewer")
RESOURCE_COLUMNS = ("id", "asset_id", "format_id", "file", "external_url", "contenttype")
FAILURE_COLUMNS = (
    "asset_id", "attempts", "reason", "detail", "runner_id", "first_failed_at", "last_failed_at",
)  # fmt: skip


def _generate(start_id, stop_id, first_format_id, first_resource_id, owners, seed):
    """Rows for assets [start_id, stop_id): (assets, formats, resources, failures)."""
    rng = random.Random(f"{seed}:{start_id}:{stop_id}")
    assets, formats, resources, failures = [], [], [], []
    format_id, resource_id = first_format_id, first_resource_id
    for asset_id in range(start_id, stop_id):
        created = EPOCH + timedelta(seconds=asset_id * 13)
        state = _weighted(rng, STATES)
        kinds = [_weighted(rng, FORMATS)]
        if rng.random() < SECOND_FORMAT_SHARE:
            kinds.append("OBJ" if kinds[0] != "OBJ" else "GLB")
        compatible = any(kind in VIEWER_FORMATS for kind in kinds)
        has_thumb = state == "COMPLETE" and rng.random() < THUMBNAIL_SHARE_OF_COMPLETE
        stem = f"thumbnails/{asset_id}/{rng.getrandbits(64):016x}"
        assets.append(
            (
                asset_id,
                f"bench-{asset_id:x}",
                f"Bench asset {asset_id}",
                owners[asset_id % len(owners)] if rng.random() < 0.9 else None,
                "PUBLIC" if rng.random() < 0.85 else "UNLISTED",
                state,
                compatible,
                f"{stem}-thumb-512x320.jpg" if has_thumb else "",
                f"{stem}-preview-1280x800.jpg" if has_thumb else "",
                "image/jpeg" if has_thumb else "",
                512 if has_thumb else None,
                320 if has_thumb else None,
                rng.randint(15000, 60000) if has_thumb else None,
                created + timedelta(days=30) if has_thumb else None,
                '{"backgroundColor": "#202020"}' if rng.random() < 0.3 else "{}",
                created,
                created,
            )
        )
        for n, kind in enumerate(kinds):
            files = FORMAT_FILES[kind]
            formats.append((format_id, asset_id, kind, resource_id, n == 0))
            for filename, contenttype in files:
                resources.append(
                    (
                        resource_id,
                        asset_id,
                        format_id,
                        f"assets/{asset_id}/{kind.lower()}/{filename}",
                        "",
                        contenttype,
                    )
                )
                resource_id += 1
            format_id += 1
        if state == "COMPLETE" and not has_thumb and rng.random() < FAILURE_SHARE_OF_MISSING:
            failures.append(
                (
                    asset_id,
                    rng.randint(1, 5),
                    rng.choice(["timeout", "load_error", "blank_render"]),
                    "bench",
                    "bench-runner",
                    created + timedelta(days=1),
                    created + timedelta(days=2),
                )
            )
    return assets, formats, resources, failures


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, bool):
        return int(value)
    return value


def load_assets(target, *, seed=1, chunk=50_000, log=print):
    """Grow the asset table to ``target`` rows (COPY on PostgreSQL, executemany on SQLite).

    Growing, not rebuilding: the 100k database is the 10k one plus 90k more, so one run
    measures every size without reloading. Returns the seconds spent.
    """
    from django.db import connection, transaction

    started = time.perf_counter()
    owners = _ensure_owners()
    with connection.cursor() as cursor:
        have = _max_id(cursor, "icosa_asset")
        next_format = _max_id(cursor, "icosa_format") + 1
        next_resource = _max_id(cursor, "icosa_resource") + 1
    if have >= target:
        return 0.0
    tables = (
        ("icosa_asset", ASSET_COLUMNS),
        ("icosa_format", FORMAT_COLUMNS),
        ("icosa_resource", RESOURCE_COLUMNS),
        ("admin_tools_thumbnailfailure", FAILURE_COLUMNS),
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            for start in range(have + 1, target + 1, chunk):
                stop = min(start + chunk, target + 1)
                rows = _generate(start, stop, next_format, next_resource, owners, seed)
                next_format += len(rows[1])
                next_resource += len(rows[2])
                for (table, columns), table_rows in zip(tables, rows, strict=False):
                    if not table_rows:
                        continue
                    if connection.vendor == "postgresql":
                        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                        with cursor.cursor.copy(sql) as copy:
                            for row in table_rows:
                                copy.write_row(row)
                    else:
                        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                        cursor.executemany(sql, [tuple(map(_sqlite_value, row)) for row in table_rows])
                log(f"    loaded assets {start}..{stop - 1}")
    analyze()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("icosa_asset", "icosa_format", "icosa_resource"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    return time.perf_counter() - started


def analyze():
    """What a running server would have: statistics, and on PostgreSQL a set visibility map
    (autovacuum's job in production; index-only scans need it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")


# --------------------------------------------------------------------------- requests


def wsgi_request(app, method, path, *, query="", body=b"", headers=None, content_type="application/json"):
    """One request through Django's WSGI handler (middleware, auth, ninja, serialisation).

    Returns (status, body bytes).
    """
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in (headers or {}).items():
        environ["HTTP_" + key.upper().replace("-", "_")] = value
    status = []

    def start_response(line, response_headers, exc_info=None):
        status.append(int(line.split(" ", 1)[0]))

    result = app(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return status[0], data


class QueryTimer:
    """Adds up SQL time and statement count per request (connection.execute_wrapper)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.count = 0
        self.seconds = 0.0
        self.count_seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.seconds += elapsed
            if "COUNT(" in sql[:300].upper():
                self.count_seconds += elapsed


class BackendCPU:
    """CPU seconds used by this connection's PostgreSQL backend process (/proc, same host).

    Wall-clock latency on a shared machine includes time spent waiting for a CPU; CPU time
    does not, so the scripts report both. Resolution is one clock tick (usually 10 ms), so
    only totals over many requests mean anything. Parallel query workers are not included.
    """

    def __init__(self, connection):
        self.pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
        self.start = self.read()

    def read(self):
        return None if self.pid is None else process_cpu_seconds(self.pid)

    def seconds(self):
        end = self.read()
        if end is None or self.start is None:
            return None
        return end - self.start


# --------------------------------------------------------------------------- numbers


def percentile(samples, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(samples_ms):
    return {
        "n": len(samples_ms),
        "median_ms": round(statistics.median(samples_ms), 3),
        "p95_ms": round(percentile(samples_ms, 95), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
        "min_ms": round(min(samples_ms), 3),
        "max_ms": round(max(samples_ms), 3),
    }


def format_table(rows, columns):
    """A GitHub-flavoured Markdown table (prints fine in a terminal too)."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return "" if value is None else str(value)

    header = [title for title, _ in columns]
    body = [[cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    for r in body:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |")
    return "\n".join(lines)


def write_json(name, data):
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def _run(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine_info():
    """What the numbers were measured on."""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    pg_version = ""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        pass
    import sqlite3

    import django
    import PIL

    return {
        "lscpu": "\n".join(_run(["lscpu"]).splitlines()[:10]),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "pillow": PIL.__version__,
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def children_cpu_seconds():
    """CPU seconds (user + system) of every process this one has waited for, and of theirs.

    The difference around one tool run is the whole CPU of that run, whatever processes it
    started (a browser's GPU and renderer processes, xvfb-run's X server), as long as each was
    waited for, by its parent or, after :func:`become_subreaper`, by :func:`reap_orphans`."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper():
    """Make this process the reaper of its orphaned descendants (Linux ``prctl``): a browser's
    helper processes whose parent exits without waiting for them are then waited for here
    (:func:`reap_orphans`), and their CPU is counted by :func:`children_cpu_seconds`."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_orphans(*, idle=0.5, timeout=10.0):
    """Wait for the children that have exited or are exiting (after a command, the descendants
    it orphaned): until none is left, none exited for ``idle`` seconds (a live child such as a
    shared X server is left alone), or ``timeout``. Returns how many were reaped."""
    reaped, now = 0, time.monotonic()
    deadline, last = now + timeout, now
    while now < deadline and now - last < idle:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            reaped, last = reaped + 1, time.monotonic()
        else:
            time.sleep(0.05)
        now = time.monotonic()
    return reaped


def process_cpu_seconds(pid):
    """CPU seconds (user + system) of one live process so far (/proc), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy(interval=1.0):
    """Fraction of all CPUs busy over ``interval`` seconds, whoever is using them (/proc/stat)."""

    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = snapshot()
        time.sleep(interval)
        idle1, total1 = snapshot()
    except OSError:
        return float("nan")
    return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 3)


def wait_for_quiet(*, max_busy=0.25, timeout=0.0, log=None):
    """Before a measurement: wait up to ``timeout`` s for other work on the machine to calm
    down (CPU busy <= ``max_busy`` over a second). Returns the busy fraction last seen, which
    the scripts store with each result so noisy rows can be told apart."""
    busy = cpu_busy(1.0 if timeout else 0.2)
    deadline = time.time() + timeout
    warned = False
    while busy > max_busy and time.time() < deadline:
        if log and not warned:
            log(f"machine busy ({busy:.0%} CPU); waiting up to {timeout:.0f}s for it to calm down")
            warned = True
        busy = cpu_busy()
    return busy


# --------------------------------------------------------------------------- images

#: A pixel belongs to the subject when one channel differs from the background by more than this.
SUBJECT_THRESHOLD = 24
#: Below this mean luminance (0-255) the subject is a black silhouette, not a picture of it.
DARK_SUBJECT_LUMA = 28
#: Less of the frame than this is not a usable thumbnail (a speck, or nothing at all).
MIN_COVERAGE = 0.005


def image_quality(path):
    """What a thumbnail shows, the same test for every tool's image: whether it exists, is
    not one uniform colour, how much of it differs from the background (estimated as the
    median colour of the border) and how bright that subject is. Transparent pixels are
    laid on mid grey first. Read on a 160-pixel-wide copy, so it costs a few ms per image."""
    from PIL import Image, ImageChops, ImageStat

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return {"exists": False, "ok": False, "problem": "missing"}
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
    except OSError as error:
        return {"exists": True, "ok": False, "problem": f"unreadable: {error}"}
    flat = Image.new("RGB", image.size, (128, 128, 128))
    flat.paste(image, mask=image.getchannel("A"))
    small = flat.resize((160, max(1, round(160 * flat.height / flat.width))), Image.Resampling.BOX)
    w, h = small.size
    border = [small.getpixel((x, y)) for x in range(w) for y in (0, h - 1)]
    border += [small.getpixel((x, y)) for y in range(h) for x in (0, w - 1)]
    background = tuple(int(statistics.median(p[c] for p in border)) for c in range(3))
    r, g, b = ImageChops.difference(small, Image.new("RGB", small.size, background)).split()
    mask = ImageChops.lighter(ImageChops.lighter(r, g), b).point(lambda v: 255 if v > SUBJECT_THRESHOLD else 0)
    subject = mask.histogram()[255]
    coverage = subject / (w * h)
    uniform = all(high - low <= 2 for low, high in small.getextrema())
    luma = ImageStat.Stat(small.convert("L"), mask).mean[0] if subject else None
    problem = ""
    if uniform:
        problem = "uniform"
    elif coverage < MIN_COVERAGE:
        problem = "no subject"
    elif luma < DARK_SUBJECT_LUMA:
        problem = "black silhouette"
    return {
        "exists": True,
        "ok": not problem,
        "problem": problem,
        "width": image.width,
        "height": image.height,
        "non_blank": not uniform,
        "coverage": round(coverage, 4),
        "subject_luma": round(luma, 1) if luma is not None else None,
        "background": "#" + "".join(f"{c:02x}" for c in background),
    }


def fresh_sqlite(name, media_root):
    """An empty, migrated SQLite project database ``name`` with media under ``media_root``:
    what every headless bench starts from (no persistent connections, the runner's embedded
    server shares the file)."""
    reset_database("sqlite", name)
    configure("sqlite", name, media_root=media_root, conn_max_age=0)
    migrate()
