#!/usr/bin/env python
"""The claim's priority order at 100k and 1M assets: is the first batch still cheap?

Grows the same gallery as api_list_latency.py, then queues 1,000 missing assets as WANTED and
10,000 as RECENT (spread over the id range) and times, in this process, on SQLite and
PostgreSQL:

- the claim's locking query alone (first 10 rows in ``runs.CLAIM_ORDER``, FOR UPDATE SKIP
  LOCKED on PostgreSQL), next to the same query in plain id order (the order before
  priorities), and
- ``runs.claim(count=10)`` as the API runs it (locks, leases, run memory, ``remaining``),
  each claim released again so every sample sees the same queue.

It also checks that the first claim hands out WANTED assets, and records the plans.

    .venv/bin/python bench/claim_priority.py            # 100k and 1M, both databases
    .venv/bin/python bench/claim_priority.py --quick    # 20k assets, well under a minute

Results: a Markdown table on stdout and bench/results/claim_priority.json.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "claim_priority"
DB_NAME = "icosa_bench_priority"
WANTED, RECENT = 1_000, 10_000


def child(args):
    backend = args.child
    common.reset_database(backend, DB_NAME)
    common.configure(backend, DB_NAME)

    from django.db import connection, transaction
    from django.utils import timezone

    from admin_tools import runs, selectors
    from icosa.models import Asset, ThumbnailPriority

    common.migrate()
    user = common.staff_user()
    rng = random.Random(7)
    out = {"backend": backend, "rows": [], "plans": {}}

    def lock_query(order):
        rows = selectors.missing_thumbnails(exclude_claimed=True).order_by(*order)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        return rows

    def time_it(fn, n):
        for _ in range(5):
            fn()
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        return common.summarize(samples)

    for size in args.sizes:
        print(f"[{backend}] growing to {size:,} assets", file=sys.stderr)
        common.load_assets(size, log=lambda m: print(f"[{backend}] {m}", file=sys.stderr))
        missing = list(selectors.missing_thumbnails().values_list("pk", flat=True))
        Asset.objects.update(thumbnail_priority=ThumbnailPriority.BACKLOG, thumbnail_queued_at=None)
        picked = rng.sample(missing, min(len(missing), WANTED + RECENT))
        now = timezone.now()
        for priority, ids in ((ThumbnailPriority.WANTED, picked[:WANTED]), (ThumbnailPriority.RECENT, picked[WANTED:])):
            for start in range(0, len(ids), 5000):
                Asset.objects.filter(pk__in=ids[start : start + 5000]).update(
                    thumbnail_priority=priority, thumbnail_queued_at=now
                )
        common.analyze()
        first = runs.claim(user=user, runner_id="bench-check", count=10).asset_ids
        wanted = set(picked[:WANTED])
        assert all(pk in wanted for pk in first), "the first claim did not hand out WANTED assets"
        runs.release_claims(runner_id="bench-check", user=user)

        def locked(order):
            def run():
                with transaction.atomic():
                    list(lock_query(order).values_list("pk", flat=True)[:10])

            return run

        def claim_and_release():
            runs.claim(user=user, runner_id="bench", count=10)
            runs.release_claims(runner_id="bench", user=user)

        for label, fn in (
            ("lock 10, priority order", locked(runs.CLAIM_ORDER)),
            ("lock 10, id order (before)", locked(("id",))),
            ("runs.claim(count=10), with remaining", claim_and_release),
        ):
            st = time_it(fn, args.requests)
            out["rows"].append({"backend": backend, "assets": size, "scenario": label, **st})
            timing = f"median {st['median_ms']:7.2f}  p95 {st['p95_ms']:7.2f} ms"
            print(f"[{backend}] {size:>9,} {label:<40} {timing}", file=sys.stderr)
        with transaction.atomic(), connection.cursor() as cursor:
            sql, params = lock_query(runs.CLAIM_ORDER)[:10].query.sql_with_params()
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            out["plans"][size] = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
    connection.close()
    Path(args.out).write_text(json.dumps(out, default=str))
    common.drop_database(backend, DB_NAME)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="20k assets, 50 samples.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=list(common.BACKENDS), choices=common.BACKENDS)
    parser.add_argument("--child", choices=common.BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.requests = [20_000], 50
    if args.child:
        return child(args)
    backends = [b for b in args.backends if b != "postgres" or common.postgres_reachable()]
    rows, plans = [], {}
    for backend in backends:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = [common.PYTHON, __file__, "--child", backend, "--out", out.name,
                   "--requests", str(args.requests), "--sizes", *map(str, args.sizes)]  # fmt: skip
            subprocess.run(cmd, check=True, cwd=common.ROOT)
            result = json.loads(Path(out.name).read_text())
        rows += result["rows"]
        plans[backend] = result["plans"]
    columns = [("backend", "backend"), ("assets", "assets"), ("scenario", "scenario"),
               ("median ms", "median_ms"), ("p95 ms", "p95_ms")]  # fmt: skip
    print(common.format_table(rows, columns))
    path = common.write_json(NAME, {"machine": common.machine_info(), "rows": rows, "plans": plans})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
