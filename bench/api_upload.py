#!/usr/bin/env python
"""Upload cost of a 1280x800 JPEG, per stage, and uploads/s with 8 concurrent clients.

1. In process: each upload is a full POST through Django's WSGI handler with a real staff
   JWT, alternating the two bodies the API takes (``--body``): base64 JSON and the raw JPEG.
   Each request's CPU time is the thread CPU (``time.thread_time``) of the thread that
   answers it: SQLite's work included, PostgreSQL's server process not, and the background
   thread that makes the extra derivatives not (measured separately, also as thread CPU).
   Thin wrappers around the service and image functions split that CPU into stages: base64
   decode, magic sniff, Pillow decode, derivatives (flatten, blank check, resize, JPEG
   encode), storage write, database, the derivative listing, authentication, and the
   HTTP/API layer around them. Wall-clock latency is recorded too (noisy on a shared machine).
2. Against a real server: gunicorn on 127.0.0.1 (not the dev server), a token from
   ``manage.py create_jwt``, 8 client threads with keep-alive connections posting for a fixed
   time.

    .venv/bin/python bench/api_upload.py            # full run: SQLite and PostgreSQL
    .venv/bin/python bench/api_upload.py --quick    # smoke run, well under a minute
    .venv/bin/python bench/api_upload.py --no-server --backends sqlite  # the CPU per upload only
    .venv/bin/python bench/api_upload.py --profile  # adds a cProfile of make_derivatives

    # before/after: alternate uploads between an older images.py and the working tree
    git show 070e2ca:admin_tools/images.py > /tmp/images_before.py
    .venv/bin/python bench/api_upload.py --ab-baseline /tmp/images_before.py

Results: Markdown tables on stdout and bench/results/api_upload.json.
"""

import argparse
import base64
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "api_upload"
# Another name (BENCH_UPLOAD_DB) lets two copies run side by side on one machine.
DB_NAME = os.environ.get("BENCH_UPLOAD_DB", "icosa_bench_upload")
TARGET_MEDIAN_MS = 60.0
# Issue #12: the answer path (checks, the thumbnail and the preview, storage, database) in
# thread CPU per upload, median.
TARGET_CPU_MS = 15.0
BODIES = ("json", "binary")
ASSETS = 5000
STAGES = (
    "base64",
    "magic",
    "pillow_decode",
    "flatten",
    "blank_check",
    "resize",
    "jpeg_encode",
    "storage",
    "db",
    "listing",
    "auth",
    "http_api",
)
SERVER_CONFIGS = (
    # (label, gunicorn arguments)
    ("gunicorn gthread 2 workers x 4 threads", ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]),
    ("gunicorn sync 4 workers", ["--workers", "4", "--worker-class", "sync"]),
)


def render_like_jpeg(size=(1280, 800), quality=85):
    """A JPEG that looks like a capture: a textured, shaded object and a box on a vignetted
    background, with sensor-like noise, so decoder and encoder have real work (a flat test
    card compresses to almost nothing). About 90 KB, like canvas.toDataURL('image/jpeg', 0.85)
    of a textured model. Deterministic."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

    w, h = size
    vignette = Image.radial_gradient("L").resize(size, Image.Resampling.BICUBIC)
    background = ImageOps.colorize(vignette, black="#eef0f3", white="#9aa0a8")
    shade = Image.radial_gradient("L").resize((w // 2, int(h * 0.7)), Image.Resampling.BICUBIC)
    body = ImageOps.colorize(shade, black="#e0553a", white="#3a0d08")
    texture = Image.effect_noise(body.size, 60).filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    body = ImageChops.blend(body, ImageChops.multiply(body, texture), 0.5)
    mask = Image.new("L", body.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, *body.size), fill=255)
    background.paste(body, (w // 4, int(h * 0.15)), mask)
    ImageDraw.Draw(background).rectangle((w * 0.6, h * 0.55, w * 0.8, h * 0.85), fill="#2b6cb0")
    noise = Image.effect_noise(size, 12).convert("RGB")
    image = ImageChops.blend(background, ImageChops.multiply(background, noise), 0.3)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class StageClock:
    """Wraps module functions to add up their thread CPU time; ``exclusive()`` turns the
    nested totals into stage times that add up to the request's CPU."""

    def __init__(self):
        self.totals = {}
        self.patched = []

    def wrap(self, module, attr, key):
        original = getattr(module, attr, None)
        if original is None:
            return False
        totals = self.totals

        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + time.thread_time() - started

        timed.__wrapped__ = original
        setattr(module, attr, timed)
        self.patched.append((module, attr, original))
        return True

    def restore(self):
        for module, attr, original in reversed(self.patched):
            setattr(module, attr, original)
        self.patched.clear()

    def reset(self):
        self.totals.clear()

    def exclusive(self, request_cpu_seconds):
        t = {k: v * 1000 for k, v in self.totals.items()}
        get = lambda k: t.get(k, 0.0)  # noqa: E731
        stages = {
            "base64": get("decode_base64_image"),
            "magic": get("sniff_mime"),
            "pillow_decode": get("open_checked") - get("sniff_mime"),
            "flatten": get("_flatten"),
            "blank_check": get("is_uniform"),
            "jpeg_encode": get("_encode_jpeg"),
            "storage": get("_write_files"),
        }
        stages["resize"] = (
            get("make_derivatives")
            - get("open_checked")
            - stages["flatten"]
            - stages["blank_check"]
            - stages["jpeg_encode"]
        )
        stages["db"] = get("store_thumbnail") - stages["base64"] - get("make_derivatives") - stages["storage"]
        stages["listing"] = get("thumbnail_derivatives")
        stages["auth"] = get("authenticate")
        stages["http_api"] = request_cpu_seconds * 1000 - get("store_thumbnail") - stages["listing"] - stages["auth"]
        return stages


UPLOAD_PATHS = {"json": "thumbnail", "binary": "thumbnail-image"}  # under /admin/assets/{id}/


def upload_requests(jpeg, bodies):
    """Per body kind: (path suffix, query string, content type, body) of one upload."""
    from urllib.parse import urlencode

    meta = {"runner_id": "bench-runner", "renderer": "bench"}
    requests = {
        "json": (
            UPLOAD_PATHS["json"],
            "",
            "application/json",
            json.dumps(
                {"thumbnail_base64": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode(), **meta}
            ).encode(),
        ),
        "binary": (UPLOAD_PATHS["binary"], urlencode(meta), "image/jpeg", jpeg),
    }
    return {kind: requests[kind] for kind in bodies}


def child(args):
    backend = args.child
    warnings.filterwarnings("ignore", message="No directory at")
    common.reset_database(backend, DB_NAME)
    common.configure(backend, DB_NAME, conn_max_age=args.conn_max_age, media_root=args.media_root)

    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from admin_tools import images, selectors, services
    from icosa import jwt_auth

    # "after" is the working tree; with --ab-baseline an older images.py ("before") serves
    # every other upload, so both see the same load on the machine.
    modules = {"after": images}
    if args.ab_baseline:
        modules = {"before": common.load_module_from(args.ab_baseline, "bench_baseline_images"), **modules}
    bodies = [b.strip() for b in args.body.split(",") if b.strip()]
    variants = [(name, body) for name in modules for body in bodies]

    common.migrate()
    user = common.staff_user()
    common.load_assets(ASSETS, log=lambda m: None)
    token = user.generate_jwt_token(minutes=120, purpose="bench")
    app = get_wsgi_application()
    jpeg = render_like_jpeg()
    requests = upload_requests(jpeg, bodies)
    targets = list(selectors.missing_thumbnails().values_list("pk", flat=True))
    clock = StageClock()
    clock.wrap(services, "_write_files", "_write_files")
    clock.wrap(services, "store_thumbnail", "store_thumbnail")
    clock.wrap(selectors, "thumbnail_derivatives", "thumbnail_derivatives")
    clock.wrap(jwt_auth.StaffJWTAuth, "authenticate", "authenticate")
    for module in modules.values():
        for attr in (
            "decode_base64_image", "make_derivatives", "sniff_mime", "open_checked",
            "_flatten", "is_uniform", "_encode_jpeg",
        ):  # fmt: skip
            clock.wrap(module, attr, attr)

    def use(name):
        # services imported these two by name
        services.decode_base64_image = modules[name].decode_base64_image
        services.make_derivatives = modules[name].make_derivatives

    timer = common.QueryTimer()
    busy = common.wait_for_quiet(timeout=args.quiet_wait, log=lambda m: print(f"[{backend}] {m}", file=sys.stderr))
    load_before = os.getloadavg()[0]
    runs = {v: {"latency": [], "cpu": [], "sql": [], "stages": {s: [] for s in STAGES}} for v in variants}
    response = None
    n = 0
    with connection.execute_wrapper(timer):
        for i in range(args.warmup + args.uploads):
            for variant in variants if i % 2 == 0 else variants[::-1]:
                name, body_kind = variant
                use(name)
                asset_id = targets[n % len(targets)]
                n += 1
                suffix, query, content_type, body = requests[body_kind]
                url = f"/api/v1/admin/assets/{asset_id}/{suffix}"
                headers = {"Authorization": f"Bearer {token}"}
                # The previous upload's extra derivatives finish first (untimed): this loop
                # measures the answer; the background part is measure_background's.
                services._background().submit(lambda: None).result()
                clock.reset()
                timer.reset()
                cpu_started = time.thread_time()
                started = time.perf_counter()
                status, data = common.wsgi_request(
                    app, "POST", url, query=query, body=body, headers=headers, content_type=content_type
                )
                elapsed = time.perf_counter() - started
                cpu = time.thread_time() - cpu_started
                if status != 200:
                    raise SystemExit(f"upload ({body_kind}) -> {status}: {data[:300]!r}")
                response = json.loads(data)
                if i < args.warmup:
                    continue
                run = runs[variant]
                run["latency"].append(elapsed * 1000)
                run["sql"].append(timer.seconds * 1000)
                run["cpu"].append(cpu * 1000)
                for stage, ms in clock.exclusive(cpu).items():
                    run["stages"][stage].append(ms)
    use("after")
    clock.restore()
    background = measure_background(services, images, jpeg, targets[0], uploads=max(5, args.uploads // 4))
    print(f"[{backend}] background derivatives: {json.dumps(background)}", file=sys.stderr)
    profile = profile_derivatives(images, jpeg) if args.profile else None
    latency_rows, stage_rows = [], []
    for (name, body_kind), run in runs.items():
        code = f"{name} {body_kind}"
        latency_rows.append(
            {
                "backend": backend,
                "code": code,
                "stage": "total (full request)",
                "cpu_median_ms": round(common.percentile(run["cpu"], 50), 3),
                "cpu_p95_ms": round(common.percentile(run["cpu"], 95), 3),
                "cpu_min_ms": round(min(run["cpu"]), 3),
                **common.summarize(run["latency"]),
                "sql_median_ms": round(common.percentile(run["sql"], 50), 3),
                "cpu_busy_before": busy,
                "loadavg_before": round(load_before, 2),
            }
        )
        for stage in STAGES:
            samples = run["stages"][stage]
            stage_rows.append(
                {
                    "backend": backend,
                    "code": code,
                    "stage": stage,
                    "cpu_median_ms": round(common.percentile(samples, 50), 3),
                    "cpu_p95_ms": round(common.percentile(samples, 95), 3),
                    "n": len(samples),
                }
            )
    result = {
        "backend": backend,
        "input": {
            "width": 1280,
            "height": 800,
            "jpeg_bytes": len(jpeg),
            "request_bytes": {kind: len(r[3]) for kind, r in requests.items()},
        },
        "output": {k: response[k] for k in ("width", "height", "bytes")},
        "latency": latency_rows,
        "stages": stage_rows,
        "profile": profile,
        "background": background,
    }
    connection.close()
    Path(args.out).write_text(json.dumps(result, default=str))


def measure_background(services, images, jpeg, asset_id, *, uploads):
    """What the extra derivatives cost after the answer, in thread CPU: encode (card widths
    as JPEG and WebP, the preview as WebP) and the whole job (encode, storage writes, one
    transaction), per upload, with the upload loop's own background jobs finished first."""
    from admin_tools.models import ThumbnailVersion

    services._background().submit(lambda: None).result()
    version = ThumbnailVersion.objects.filter(asset_id=asset_id, is_current=True).first()
    version.derivatives.all().delete()  # its own background job made them already
    derivatives = images.make_derivatives(jpeg)
    encode, job, sizes = [], [], []
    for _ in range(uploads):
        started = time.thread_time()
        extras = images.extra_derivatives(derivatives)
        encode.append((time.thread_time() - started) * 1000)
        started = time.thread_time()
        rows = services.store_extra_derivatives(asset_id=asset_id, version_id=version.pk, derivatives=derivatives)
        job.append((time.thread_time() - started) * 1000)
        sizes = [(e.kind, e.format, e.width, e.size) for e in extras]
        type(rows[0]).objects.filter(pk__in=[r.pk for r in rows]).delete()
    return {
        "encode": common.summarize(encode),
        "job": common.summarize(job),
        "files": len(sizes),
        "bytes": sum(s[3] for s in sizes),
        "derivatives": sizes,
    }


def profile_derivatives(images, jpeg, repeat=50):
    """cProfile of make_derivatives: where the image time goes."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        images.make_derivatives(jpeg)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(15)
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in sorted(stats.stats.items(), key=lambda item: -item[1][2])[
        :15
    ]:
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({func})",
                "calls_per_upload": round(nc / repeat, 2),
                "own_ms_per_upload": round(tt * 1000 / repeat, 3),
                "cumulative_ms_per_upload": round(ct * 1000 / repeat, 3),
            }
        )
    return {"repeat": repeat, "top_by_own_time": rows, "text": stream.getvalue()}


# --------------------------------------------------------------------------- server run


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port, token, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/admin/thumbnail-jobs/status", headers={"Authorization": f"Bearer {token}"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer on port {port} within {timeout}s")


def server_run(backend, label, gunicorn_args, *, media_root, clients, seconds, conn_max_age, quiet_wait, body_kind):
    env = common.child_env(backend, DB_NAME, conn_max_age=conn_max_age, media_root=media_root)
    token = subprocess.run(
        [common.PYTHON, "manage.py", "create_jwt", common.BENCH_USERNAME, "--minutes", "120"],
        cwd=common.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ids = (
        subprocess.run(
            [
                common.PYTHON,
                "-c",
                (
                    "import django; django.setup();"
                    "from admin_tools.selectors import missing_thumbnails;"
                    "print(','.join(str(pk) for pk in missing_thumbnails(force=True).values_list('pk', flat=True)))"
                ),
            ],
            cwd=common.ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .split(",")
    )
    port = free_port()
    log_path = Path(media_root) / f"gunicorn-{backend}-{port}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                common.PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
                "--log-level",
                "warning",
                *gunicorn_args,
            ],
            cwd=common.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(port, token)
        busy = common.wait_for_quiet(timeout=quiet_wait, log=lambda m: print(f"[{backend}] {m}", file=sys.stderr))
        # The body the page sends (api-client.js): the raw JPEG, unless --body leaves it out.
        suffix, query, content_type, body = upload_requests(render_like_jpeg(), [body_kind])[body_kind]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        stop_at = [None]
        results = [[] for _ in range(clients)]
        errors = [[] for _ in range(clients)]
        barrier = threading.Barrier(clients + 1)

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine = ids[n::clients]
            barrier.wait()
            i = 0
            while time.perf_counter() < stop_at[0]:
                path = f"/api/v1/admin/assets/{mine[i % len(mine)]}/{suffix}" + (f"?{query}" if query else "")
                i += 1
                started = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    if response.status == 200:
                        results[n].append((time.perf_counter() - started) * 1000)
                    else:
                        errors[n].append(f"{response.status} {payload[:120]!r}")
                    if response.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    errors[n].append(repr(exc))
                    conn.close()
            conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        started = time.perf_counter()
        stop_at[0] = started + seconds
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    latencies = [ms for per in results for ms in per]
    failures = [e for per in errors for e in per]
    row = {
        "backend": backend,
        "server": label,
        "clients": clients,
        "seconds": round(elapsed, 1),
        "uploads": len(latencies),
        "errors": len(failures),
        "body": body_kind,
        "uploads_per_s": round(len(latencies) / elapsed, 1),
        **(common.summarize(latencies) if latencies else {}),
        "cpu_busy_before": busy,
    }
    if failures:
        row["first_errors"] = failures[:5]
    return row


LATENCY_COLUMNS = [
    ("backend", "backend"),
    ("code", "code"),
    ("stage", "stage"),
    ("CPU ms (median)", "cpu_median_ms"),
    ("CPU p95 ms", "cpu_p95_ms"),
    ("CPU min ms", "cpu_min_ms"),
    ("wall median ms", "median_ms"),
    ("wall p95 ms", "p95_ms"),
    ("n", "n"),
    ("SQL wall ms (median)", "sql_median_ms"),
    ("CPU busy before", "cpu_busy_before"),
    ("load before", "loadavg_before"),
]
BACKGROUND_COLUMNS = [
    ("backend", "backend"),
    ("part", "part"),
    ("CPU ms (median)", "median_ms"),
    ("CPU p95 ms", "p95_ms"),
    ("n", "n"),
    ("files", "files"),
    ("bytes", "bytes"),
]
SERVER_COLUMNS = [
    ("backend", "backend"),
    ("server", "server"),
    ("clients", "clients"),
    ("body", "body"),
    ("uploads/s", "uploads_per_s"),
    ("median ms", "median_ms"),
    ("p95 ms", "p95_ms"),
    ("uploads", "uploads"),
    ("errors", "errors"),
    ("CPU busy before", "cpu_busy_before"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smoke run: 20 uploads, one 4 s server run per backend.")
    parser.add_argument("--backends", default="sqlite,postgres", help="Comma-separated (default: %(default)s).")
    parser.add_argument("--uploads", type=int, default=200, help="Measured in-process uploads (default: %(default)s).")
    parser.add_argument("--warmup", type=int, default=5, help="Unmeasured uploads first (default: %(default)s).")
    parser.add_argument(
        "--clients", type=int, default=8, help="Concurrent clients against gunicorn (default: %(default)s)."
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each server run (default: %(default)s).")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE (default: %(default)s).")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="Seconds to wait before each measurement for other CPU load to drop below 25%% (default: %(default)s; the busy fraction is recorded either way).",
    )
    parser.add_argument(
        "--profile", action="store_true", help="Add a cProfile of make_derivatives to the JSON and stdout."
    )
    parser.add_argument(
        "--ab-baseline",
        metavar="FILE",
        help="An older admin_tools/images.py: alternate in-process uploads between it (before) "
        "and the working tree (after). The gunicorn runs always use the working tree.",
    )
    parser.add_argument(
        "--body",
        default=",".join(BODIES),
        help="Upload bodies to alternate in process: json (base64), binary (raw JPEG) (default: %(default)s).",
    )
    parser.add_argument("--no-server", action="store_true", help="Skip the gunicorn runs.")
    parser.add_argument(
        "--label", default="", help="Also write bench/results/api_upload.LABEL.json (e.g. before/after)."
    )
    parser.add_argument("--child", choices=common.BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--media-root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.uploads, args.warmup, args.seconds, args.quiet_wait = 20, 2, 4.0, 0.0
    if args.child:
        return child(args)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgres" in backends and not common.postgres_reachable():
        print(f"PostgreSQL not reachable at {common.PG_ADMIN_URL}; skipping it.", file=sys.stderr)
        backends.remove("postgres")
    started = time.time()
    load_before = os.getloadavg()
    latency_rows, stage_rows, server_rows, background_rows, details = [], [], [], [], {}
    configs = SERVER_CONFIGS[:1] if args.quick else SERVER_CONFIGS
    for backend in backends:
        media_root = tempfile.mkdtemp(prefix=f"icosa-bench-media-{backend}-")
        try:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
                out_path = tmp.name
            cmd = [
                common.PYTHON,
                __file__,
                "--child",
                backend,
                "--out",
                out_path,
                "--media-root",
                media_root,
                "--uploads",
                str(args.uploads),
                "--warmup",
                str(args.warmup),
                "--conn-max-age",
                str(args.conn_max_age),
                "--quiet-wait",
                str(args.quiet_wait),
                "--body",
                args.body,
            ]
            cmd += ["--profile"] if args.profile else []
            cmd += ["--ab-baseline", str(Path(args.ab_baseline).resolve())] if args.ab_baseline else []
            print(f"[{backend}] in-process uploads", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, cwd=common.ROOT)
            result = json.loads(Path(out_path).read_text())
            os.unlink(out_path)
            latency_rows += result["latency"]
            stage_rows += result["stages"]
            details[backend] = {k: result[k] for k in ("input", "output", "profile", "background")}
            for part in ("encode", "job"):
                background_rows.append(
                    {
                        "backend": backend,
                        "part": f"background {part}",
                        **result["background"][part],
                        "files": result["background"]["files"],
                        "bytes": result["background"]["bytes"],
                    }
                )
            if not args.no_server:
                for label, gunicorn_args in configs:
                    print(
                        f"[{backend}] {label}: {args.clients} clients for {args.seconds:.0f}s",
                        file=sys.stderr,
                        flush=True,
                    )
                    row = server_run(
                        backend,
                        label,
                        gunicorn_args,
                        media_root=media_root,
                        clients=args.clients,
                        seconds=args.seconds,
                        conn_max_age=args.conn_max_age,
                        quiet_wait=args.quiet_wait,
                        body_kind="binary" if "binary" in args.body else "json",
                    )
                    server_rows.append(row)
                    print(
                        f"[{backend}]   {row['uploads_per_s']} uploads/s, {row['errors']} errors",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            shutil.rmtree(media_root, ignore_errors=True)
            common.drop_database(backend, DB_NAME)

    latency_table = common.format_table(latency_rows + stage_rows, LATENCY_COLUMNS)
    background_table = common.format_table(background_rows, BACKGROUND_COLUMNS)
    server_table = common.format_table(server_rows, SERVER_COLUMNS) if server_rows else ""
    print(latency_table)
    print()
    print(background_table)
    if server_table:
        print()
        print(server_table)
    verdict = [
        f"Target upload median <= {TARGET_MEDIAN_MS:.0f} ms wall ({row['backend']}, {row['code']}): {row['median_ms']:.1f} ms -> "
        f"{'met' if row['median_ms'] <= TARGET_MEDIAN_MS else 'MISSED'}"
        for row in latency_rows
    ] + [
        f"Target upload CPU median <= {TARGET_CPU_MS:.0f} ms ({row['backend']}, {row['code']}): {row['cpu_median_ms']:.1f} ms -> "
        f"{'met' if row['cpu_median_ms'] <= TARGET_CPU_MS else 'MISSED'}"
        for row in latency_rows
    ]
    for line in verdict:
        print(line)
    for backend, detail in details.items():
        if detail.get("profile"):
            print(f"\n[{backend}] cProfile of make_derivatives (per upload):")
            print(detail["profile"]["text"])
    data = {
        "name": NAME,
        "machine": common.machine_info(),
        "config": {
            "uploads": args.uploads,
            "warmup": args.warmup,
            "clients": args.clients,
            "seconds": args.seconds,
            "conn_max_age": args.conn_max_age,
            "quiet_wait": args.quiet_wait,
            "ab_baseline": args.ab_baseline,
            "bodies": args.body,
            "quick": args.quick,
            "backends": backends,
            "server_configs": [label for label, _ in configs],
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "wall_seconds": round(time.time() - started, 1),
        },
        "target": {"upload_median_ms": TARGET_MEDIAN_MS, "upload_cpu_median_ms": TARGET_CPU_MS, "verdict": verdict},
        "latency": latency_rows,
        "stages": stage_rows,
        "background": background_rows,
        "server": server_rows,
        "details": details,
        "tables": {"latency": latency_table, "background": background_table, "server": server_table},
    }
    path = common.write_json(NAME, data)
    if args.label:
        common.write_json(f"{NAME}.{args.label}", data)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
