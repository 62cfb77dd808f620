#!/usr/bin/env python
"""Latency of the missing-thumbnails list (and the claim endpoint) at 10k, 100k and 1M assets.

Every request goes through Django's WSGI handler in this process with a real staff JWT, so
middleware, bearer auth, django-ninja validation, the queries and the JSON serialisation all
count. The database grows from one size to the next (10k, then 90k more, ...) and is vacuumed
and analysed after each load, as a running server's would be.

    .venv/bin/python bench/api_list_latency.py            # full run: SQLite and PostgreSQL
    .venv/bin/python bench/api_list_latency.py --quick    # smoke run, well under a minute

    # before/after of the query: interleave requests whose missing_thumbnails() comes from
    # another selectors.py (e.g. `git show COMMIT:admin_tools/selectors.py`) with the current one
    .venv/bin/python bench/api_list_latency.py --ab-baseline /tmp/selectors_before.py

    # before/after of anything else: run this script from a worktree of the older commit

Results: a Markdown table on stdout and bench/results/api_list_latency.json.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "api_list_latency"
TARGET_P95_MS = 20.0
TARGET_ASSETS = 1_000_000
DB_NAME = "icosa_bench_list"


def scenarios(total, ids_sample, deep_after):
    """(label, query string, count cache seconds or None for the setting's) triples;
    ``total`` is the default filter's total_count, ``deep_after`` the id before its last page."""
    ids = ",".join(str(pk) for pk in ids_sample)
    last = max(total - 50, 0)
    rows = [
        ("default (viewer-compatible, no failed)", "", None),
        ("default, total_count not cached", "", 0),
        ("limit=100", "limit=100", None),
        ("viewer_compatible_only=false", "viewer_compatible_only=false", None),
        ("include_failed=true", "include_failed=true", None),
        ("vc_only=false + include_failed", "viewer_compatible_only=false&include_failed=true", None),
    ]
    if total > 10_050:
        rows.append(("offset=10000", "offset=10000", None))
    rows += [
        (f"last page (offset={last})", f"offset={last}", None),
        ("last page (after=id)", f"after={deep_after}", None),
        (f"asset_ids ({len(ids_sample)})", f"asset_ids={ids}", None),
        (f"asset_ids ({len(ids_sample)}) + force", f"asset_ids={ids}&force=true", None),
        ("force=true (all COMPLETE)", "force=true", None),
    ]
    return rows


class Implementations:
    """Which ``missing_thumbnails()`` serves the API. With a baseline file, requests alternate
    between the baseline's ("before") and the working tree's ("after") under the same load, so
    a before/after comparison is not skewed by whatever else the machine is doing."""

    def __init__(self, baseline_path):
        from admin_tools import selectors, services

        self.selectors, self.services = selectors, services
        self.impls = {"after": selectors.missing_thumbnails}
        if baseline_path:
            baseline = common.load_module_from(baseline_path, "bench_baseline_selectors")
            self.impls = {"before": baseline.missing_thumbnails, **self.impls}
        self.names = list(self.impls)

    def use(self, name):
        missing = self.impls[name]
        self.selectors.missing_thumbnails = missing
        self.services.missing_thumbnails = missing  # claim_assets imported it by name

    def order(self, i):
        return self.names if i % 2 == 0 else self.names[::-1]


def child(args):
    """Measure one backend; write raw results as JSON to ``args.out``."""
    backend = args.child
    if not args.reuse:
        common.reset_database(backend, DB_NAME)
    common.configure(backend, DB_NAME, conn_max_age=args.conn_max_age)

    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.urls import reverse
    from django.utils import timezone

    from admin_tools import selectors
    from admin_tools.models import ThumbnailClaim
    from icosa.models import Asset

    impls = Implementations(args.ab_baseline)
    impls.use("after")
    common.migrate()
    user = common.staff_user()
    token = user.generate_jwt_token(minutes=24 * 60, purpose="bench")
    headers = {"Authorization": f"Bearer {token}"}
    app = get_wsgi_application()
    list_url = reverse("api:missing_thumbnails")
    claim_url = reverse("api:claim_thumbnail_jobs")
    release_url = reverse("api:release_thumbnail_jobs")
    timer = common.QueryTimer()
    backend_cpu = common.BackendCPU(connection)
    out = {"backend": backend, "rows": [], "plans": {}, "loads": {}}
    rng = random.Random(7)

    def log(message):
        print(f"[{backend}] {message}", file=sys.stderr, flush=True)

    def call(method, path, query="", body=b""):
        """One timed request: wall ms, this process's CPU ms, SQL ms, COUNT ms, queries."""
        timer.reset()
        backend_before = backend_cpu.read()
        cpu_started = time.process_time()
        started = time.perf_counter()
        status, data = common.wsgi_request(app, method, path, query=query, body=body, headers=headers)
        wall = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu_started) * 1000
        backend_after = backend_cpu.read()
        if status != 200:
            raise SystemExit(f"{method} {path}?{query[:80]} -> {status}: {data[:300]!r}")
        return {
            "wall": wall,
            "cpu": cpu,
            "sql": timer.seconds * 1000,
            "count": timer.count_seconds * 1000,
            "queries": timer.count,
            "backend_cpu": (
                None if backend_before is None or backend_after is None else (backend_after - backend_before) * 1000
            ),
            "data": data,
        }

    def stats(samples):
        result = common.summarize([s["wall"] for s in samples])
        backend_ms = [s["backend_cpu"] for s in samples]
        result.update(
            {
                "db_median_ms": round(common.percentile([s["sql"] for s in samples], 50), 3),
                "count_median_ms": round(common.percentile([s["count"] for s in samples], 50), 3),
                "count_p95_ms": round(common.percentile([s["count"] for s in samples], 95), 3),
                "queries": max(s["queries"] for s in samples),
                "app_cpu_median_ms": round(common.percentile([s["cpu"] for s in samples], 50), 3),
                "pg_backend_cpu_mean_ms": (None if None in backend_ms else round(sum(backend_ms) / len(backend_ms), 2)),
            }
        )
        return result

    def run(one, label):
        """``one()`` -> a sample dict; warmup + requests times per implementation. An
        implementation that has used up ``--budget`` seconds on this scenario stops early
        (its row says how many requests it got), so one pathological plan cannot hold up
        the whole run for hours."""
        busy = common.wait_for_quiet(timeout=args.quiet_wait, log=log)
        samples = {name: [] for name in impls.names}
        warm = {name: [] for name in impls.names}
        spent = {name: 0.0 for name in impls.names}
        for i in range(args.warmup + args.requests):
            for name in impls.order(i):
                if spent[name] > args.budget:
                    continue
                impls.use(name)
                sample = one()
                spent[name] += sample["wall"] / 1000
                (samples if i >= args.warmup else warm)[name].append(sample)
        impls.use("after")
        result = {}
        for name in impls.names:
            measured = samples[name] or warm[name]
            st = stats(measured)
            st["truncated"] = len(samples[name]) < args.requests
            st["warmup_only"] = not samples[name]
            result[name] = (st, measured[0])
            cut = " (stopped at the time budget)" if st["truncated"] else ""
            log(f"{label:<48} {name:<6} median {st['median_ms']:7.2f}  p95 {st['p95_ms']:7.2f} ms  n={st['n']}{cut}")
        return result, busy

    with connection.execute_wrapper(timer):
        for size in args.sizes:
            log(f"growing to {size:,} assets")
            out["loads"][size] = round(common.load_assets(size, log=log), 1)
            # Other runners hold a few leases, as during a real batch.
            ThumbnailClaim.objects.filter(runner_id="other-runner").delete()
            missing = list(selectors.missing_thumbnails().values_list("pk", flat=True)[: size // 5])
            now = timezone.now()
            ThumbnailClaim.objects.bulk_create(
                ThumbnailClaim(
                    asset_id=pk,
                    runner_id="other-runner",
                    claimed_at=now,
                    expires_at=now + timedelta(hours=2),
                )
                for pk in rng.sample(missing, min(200, len(missing)))
            )
            common.analyze()
            total = selectors.count_missing()
            total_all = Asset.objects.count()
            ids_sample = sorted(rng.sample(range(1, total_all + 1), 100))
            out["plans"][size] = {}
            for name in impls.names:
                impls.use(name)
                out["plans"][size][name] = explain(connection, selectors)
            impls.use("after")

            deep_after = (
                selectors.missing_thumbnails().values_list("pk", flat=True)[max(total - 51, 0)]
                if total > 50 else 0
            )  # fmt: skip
            for label, query, cache_seconds in scenarios(total, ids_sample, deep_after):
                configured = settings.THUMBNAIL_COUNT_CACHE_SECONDS
                if cache_seconds is not None:
                    settings.THUMBNAIL_COUNT_CACHE_SECONDS = cache_seconds
                try:
                    result, busy = run(lambda: call("GET", list_url, query), f"{size:>9,} {label}")
                finally:
                    settings.THUMBNAIL_COUNT_CACHE_SECONDS = configured
                for name, (st, first) in result.items():
                    body = json.loads(first["data"])
                    out["rows"].append(
                        {
                            "backend": backend,
                            "assets": size,
                            "endpoint": "list",
                            "scenario": label,
                            "variant": name,
                            "query": query if len(query) < 120 else query[:117] + "...",
                            "total_count": body["total_count"],
                            "page": len(body["assets"]),
                            **st,
                            "cpu_busy_before": busy,
                        }
                    )

            # Claim 10 and give them back (the release timed on its own), so every
            # iteration sees the same pool.
            claim_body = json.dumps({"runner_id": "bench-runner", "count": 10}).encode()
            releases = []

            def claim_and_release():
                sample = call("POST", claim_url, body=claim_body)
                ids = [a["id"] for a in json.loads(sample["data"])["assets"]]
                release = call(
                    "POST",
                    release_url,
                    body=json.dumps({"runner_id": "bench-runner", "asset_ids": ids}).encode(),
                )
                if json.loads(release["data"])["released"] != len(ids):
                    raise SystemExit("release did not give back what was claimed")
                releases.append(release)
                return sample

            result, busy = run(claim_and_release, f"{size:>9,} claim 10")
            for name, (st, first) in result.items():
                body = json.loads(first["data"])
                out["rows"].append(
                    {
                        "backend": backend,
                        "assets": size,
                        "endpoint": "claim",
                        "scenario": "claim count=10 (remaining counted)",
                        "variant": name,
                        "query": "POST {runner_id, count: 10}",
                        "total_count": body["remaining"],
                        "page": len(body["assets"]),
                        **st,
                        "cpu_busy_before": busy,
                    }
                )
            out["rows"].append(
                {
                    "backend": backend,
                    "assets": size,
                    "endpoint": "release",
                    "scenario": "release 10",
                    "variant": "after",
                    "query": "POST {runner_id, asset_ids}",
                    "page": 10,
                    **stats(releases[-args.requests :]),
                    "cpu_busy_before": busy,
                }
            )
    connection.close()
    Path(args.out).write_text(json.dumps(out, default=str))
    if not args.keep:
        common.drop_database(backend, DB_NAME)


def explain(connection, selectors):
    """The count and the first-page query for the default filters, as the planner sees them
    (the count as Django would run it for a plain queryset)."""
    qs = selectors.missing_thumbnails()
    count_sql, count_params = qs.order_by().values("pk").query.sql_with_params()
    page_sql, page_params = qs[:50].query.sql_with_params()
    plans = {}
    with connection.cursor() as cursor:
        for label, sql, params in (
            ("count", f"SELECT COUNT(*) FROM ({count_sql}) subquery", count_params),
            ("page", page_sql, page_params),
        ):
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plans[label] = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
    return plans


COLUMNS = [
    ("backend", "backend"),
    ("assets", "assets"),
    ("endpoint", "endpoint"),
    ("scenario", "scenario"),
    ("code", "variant"),
    ("total_count", "total_count"),
    ("median ms", "median_ms"),
    ("p95 ms", "p95_ms"),
    ("n", "n"),
    ("SQL ms (median)", "db_median_ms"),
    ("COUNT ms (median)", "count_median_ms"),
    ("queries", "queries"),
    ("app CPU ms (median)", "app_cpu_median_ms"),
    ("PG backend CPU ms (mean)", "pg_backend_cpu_mean_ms"),
    ("CPU busy before", "cpu_busy_before"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smoke run: 2,000 assets, 20 requests per scenario.")
    parser.add_argument("--backends", default="sqlite,postgres", help="Comma-separated (default: %(default)s).")
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="Asset counts, ascending (default: %(default)s)."
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="Measured requests per scenario (default: %(default)s)."
    )
    parser.add_argument("--warmup", type=int, default=5, help="Unmeasured requests first (default: %(default)s).")
    parser.add_argument(
        "--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE for the run (default: %(default)s)."
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="Seconds to wait before each scenario for other CPU load to drop below 25%% "
        "(default: %(default)s; the busy fraction is recorded either way).",
    )
    parser.add_argument(
        "--ab-baseline",
        metavar="FILE",
        help="An older admin_tools/selectors.py: alternate requests between it (before) and the working tree (after).",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=90.0,
        help="Seconds one implementation may spend on one scenario before it stops early (default: %(default)s).",
    )
    parser.add_argument("--label", default="", help="Also write bench/results/api_list_latency.LABEL.json.")
    parser.add_argument("--keep", action="store_true", help="Keep the bench databases afterwards.")
    parser.add_argument("--reuse", action="store_true", help="Grow the kept databases instead of starting empty.")
    parser.add_argument("--child", choices=common.BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.requests, args.warmup, args.quiet_wait = "2000", 20, 2, 0.0
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    if args.child:
        return child(args)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgres" in backends and not common.postgres_reachable():
        print(f"PostgreSQL not reachable at {common.PG_ADMIN_URL}; skipping it.", file=sys.stderr)
        backends.remove("postgres")
    started = time.time()
    load_before = os.getloadavg()
    rows, plans, loads = [], {}, {}
    for backend in backends:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out_path = tmp.name
        cmd = [
            common.PYTHON, __file__, "--child", backend, "--out", out_path,
            "--sizes", ",".join(map(str, args.sizes)), "--requests", str(args.requests),
            "--warmup", str(args.warmup), "--conn-max-age", str(args.conn_max_age),
            "--quiet-wait", str(args.quiet_wait), "--budget", str(args.budget),
        ]  # fmt: skip
        cmd += ["--keep"] if args.keep else []
        cmd += ["--reuse"] if args.reuse else []
        cmd += ["--ab-baseline", str(Path(args.ab_baseline).resolve())] if args.ab_baseline else []
        subprocess.run(cmd, check=True, cwd=common.ROOT)
        result = json.loads(Path(out_path).read_text())
        os.unlink(out_path)
        rows += result["rows"]
        plans[backend] = result["plans"]
        loads[backend] = result["loads"]

    table = common.format_table(rows, COLUMNS)
    print(table)
    verdict = []
    for row in rows:
        if (
            row["backend"] == "postgres"
            and row["assets"] == TARGET_ASSETS
            and row["endpoint"] == "list"
            and row["scenario"] == "default (viewer-compatible, no failed)"
        ):
            ok = row["p95_ms"] <= TARGET_P95_MS
            verdict.append(
                f"Target list p95 <= {TARGET_P95_MS:.0f} ms at 1M on PostgreSQL, default filters "
                f"({row['variant']}): {row['p95_ms']:.1f} ms -> {'met' if ok else 'MISSED'}"
            )
    for line in verdict:
        print(line)
    data = {
        "name": NAME,
        "machine": common.machine_info(),
        "config": {
            "sizes": args.sizes,
            "requests": args.requests,
            "warmup": args.warmup,
            "conn_max_age": args.conn_max_age,
            "quiet_wait": args.quiet_wait,
            "budget": args.budget,
            "ab_baseline": args.ab_baseline,
            "quick": args.quick,
            "backends": backends,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "wall_seconds": round(time.time() - started, 1),
        },
        "target": {"list_p95_ms": TARGET_P95_MS, "assets": TARGET_ASSETS, "verdict": verdict},
        "load_seconds": loads,
        "rows": rows,
        "plans": plans,
        "table": table,
    }
    path = common.write_json(NAME, data)
    if args.label:
        common.write_json(f"{NAME}.{args.label}", data)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
