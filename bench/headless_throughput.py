#!/usr/bin/env python
"""Throughput of the headless runner against its in-page render floor.

For two sets of models (generated demo models, and the shared sample models in
../shared/fixtures/models/ok repeated a few times) it measures, against a fresh SQLite
database and the runner's own embedded server:

- the render floor: ``headless.js`` ``floor()`` in one reused page (load, render, capture;
  no upload, no claims), per model;
- full runs of the runner (claim → render → upload) with 1 and 2 workers: models per
  minute, ms per model (median, p95) and the latency to the first result from a cold start;
- the same run with a fixed 500 ms wait per model, the way a naive runner waits for a model
  to "settle", for comparison.

The target is a run within 1.3x of the floor (wall time per model).

    .venv/bin/python bench/headless_throughput.py              # CPU (SwiftShader)
    .venv/bin/python bench/headless_throughput.py --gpu        # on a machine with a GPU
    .venv/bin/python bench/headless_throughput.py --quick      # smoke run

Results: a table on stdout and bench/results/headless_throughput[-gpu].json.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "headless_throughput"
DB_NAME = "icosa_bench_headless"
TARGET_RATIO = 1.3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--generated",
        type=int,
        default=24,
        help="Generated demo models (default: %(default)s).",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=4,
        help="Copies of each shared sample model (default: %(default)s).",
    )
    parser.add_argument("--workers", default="1,2", help="Worker counts to run (default: %(default)s).")
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument(
        "--chromium",
        help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).",
    )
    parser.add_argument(
        "--no-wait-run",
        action="store_true",
        help="Skip the fixed 500 ms wait comparison.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Few models, one worker count: a smoke run.",
    )
    return parser.parse_args()


def setup_database(media_root, args):
    """A fresh SQLite database with the two model sets; returns {set name: [asset ids]}."""
    common.reset_database("sqlite", DB_NAME)
    common.configure("sqlite", DB_NAME, media_root=media_root, conn_max_age=0)
    common.migrate()
    from icosa.demo import write_demo_models
    from icosa.importing import import_model

    user = common.staff_user()
    generated = write_demo_models(Path(media_root).parent / "models", count=args.generated)
    sets = {"generated": [import_model(path, owner=user).pk for path in generated]}
    fixtures_ok = common.shared_fixtures("models", "ok")
    samples = sorted(p for p in fixtures_ok.iterdir() if p.is_file()) if fixtures_ok else []
    sets["fixtures-ok"] = [
        import_model(path, owner=user, name=f"{path.stem} {n}").pk for n in range(args.repeat) for path in samples
    ]
    return user, sets


def run_options(server, token, asset_ids, args, *, workers, fixed_wait_ms=0):
    from pages import bench_options

    from admin_tools.runner import find_chromium

    options = bench_options(
        server,
        token,
        runner_name=f"bench-{workers}w{'-wait' if fixed_wait_ms else ''}",
        chromium=find_chromium(args.chromium),
        gpu=args.gpu,
        workers=workers,
        batch_size=10,
        filters={"force": True, "asset_ids": [str(pk) for pk in asset_ids]},
    )
    options.fixed_wait_ms = fixed_wait_ms
    return options


def measure_floor(options, assets):
    """``floor()`` for every asset in one fresh, reused page; wall and in-page ms."""
    from pages import FloorPage

    from admin_tools.runner.browser import BrowserSession

    async def main():
        session = BrowserSession(executable_path=options.chromium, gpu=options.gpu)
        await session.start()
        try:
            page = FloorPage(
                session,
                index=0,
                page_url=options.page_url,
                module_url=options.module_url,
                config=options.page_config(0),
            )
            info = await page.open()
            wall, inpage, stages, failed = [], [], [], 0
            started = time.perf_counter()
            for asset in assets:
                t0 = time.perf_counter()
                result = await page.floor(asset, timeout=options.timeout + 30)
                wall.append((time.perf_counter() - t0) * 1000)
                inpage.append(float(result.get("ms") or 0))
                stages.append(result.get("timings") or {})
                failed += result.get("status") != "done"
            total = time.perf_counter() - started
            await page.close()
            return info, wall, inpage, stages, failed, total
        finally:
            await session.stop()

    info, wall, inpage, stages, failed, total = asyncio.run(main())
    n = len(assets)
    return {
        "label": "floor (in-page, 1 page)",
        "n": n,
        "failed": failed,
        "renderer": info.get("rendererString", ""),
        "models_per_minute": round(60 * n / total, 1),
        "wall_ms_per_model": round(1000 * total / n, 1),
        "median_ms": round(statistics.median(inpage), 1),
        "p95_ms": round(common.percentile(inpage, 95), 1),
        "first_ms": round(wall[0], 1),
        "steady_ms_per_model": round(sum(wall[1:]) / (n - 1), 1) if n > 1 else None,
        "interval_median_ms": round(statistics.median(wall[1:]), 1) if n > 1 else None,
        "warm_median_ms": round(statistics.median(inpage[1:]), 1) if n > 1 else None,
        "per_model_wall_ms": [round(v, 1) for v in wall],
        "stages_median_ms": stage_medians(stages[1:]),
    }


def measure_run(options, label):
    from pages import WaitingRunner

    runner = WaitingRunner(options)
    runner.fixed_wait_ms = getattr(options, "fixed_wait_ms", 0)
    summary = runner.run()
    if summary.error:
        raise SystemExit(f"{label}: the run could not work: {summary.error}")
    n = summary.processed
    ms = [r.ms for r in summary.results if r.ms]
    return {
        "label": label,
        "n": n,
        "failed": summary.failed,
        "renderer": summary.renderer,
        "models_per_minute": round(summary.models_per_minute, 1),
        "wall_ms_per_model": round(1000 * summary.work_seconds / n, 1) if n else None,
        "median_ms": summary.median_ms,
        "p95_ms": summary.p95_ms,
        "first_result_s": round(summary.first_result_seconds or 0, 2),
        "first_ms": ms[0] if ms else None,
        "steady_ms_per_model": round(summary.steady_ms_per_model, 1) if n > 1 else None,
        "interval_median_ms": interval_median(summary.results),
        "stages_median_ms": stage_medians([r.timings for r in summary.results[1:]]),
    }


def interval_median(results):
    """Median time between consecutive results (robust to bursts of load from elsewhere)."""
    stamps = [r.at for r in results]
    gaps = [1000 * (b - a) for a, b in zip(stamps, stamps[1:], strict=False)]
    return round(statistics.median(gaps), 1) if gaps else None


def add_ratios(row, floor):
    """Run time over floor time, cold (everything) and warm (after the first model)."""
    row["ratio_to_floor"] = round(row["wall_ms_per_model"] / floor["wall_ms_per_model"], 2)
    if row.get("steady_ms_per_model") and floor.get("steady_ms_per_model"):
        row["steady_ratio"] = round(row["steady_ms_per_model"] / floor["steady_ms_per_model"], 2)
    if row.get("interval_median_ms") and floor.get("interval_median_ms"):
        row["median_ratio"] = round(row["interval_median_ms"] / floor["interval_median_ms"], 2)


def stage_medians(timings):
    """Median ms per pipeline stage (load, frame, render, upload) over warm models."""
    stages = {}
    for each in timings:
        for stage, ms in (each or {}).items():
            stages.setdefault(stage, []).append(ms)
    return {stage: statistics.median(values) for stage, values in stages.items()}


def main():
    args = parse_args()
    if args.quick:
        args.generated, args.repeat, args.workers = 6, 1, "1"
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    media_root = Path(tempfile.mkdtemp(prefix="bench-headless-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    user, sets = setup_database(media_root, args)

    from admin_tools.pageconfig import api_base
    from admin_tools.runner import EmbeddedServer, ThumbnailApi
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=240, purpose="bench")
    load = os.getloadavg()
    rows = []
    with EmbeddedServer() as server:
        api = ThumbnailApi(server.url + api_base(), token, runner_id="bench")
        for set_name, ids in sets.items():
            assets = api.missing(limit=100, force=True, asset_ids=[str(pk) for pk in ids])["assets"]
            print(f"== {set_name}: {len(assets)} models", flush=True)
            floor_options = run_options(server.url, token, ids, args, workers=1)
            floor = measure_floor(floor_options, assets)
            floor["set"] = set_name
            rows.append(floor)
            print(f"   floor: {floor['steady_ms_per_model']} ms/model warm", flush=True)
            for count in workers:
                row = measure_run(
                    run_options(server.url, token, ids, args, workers=count),
                    f"run, {count} worker{'s' if count > 1 else ''}",
                )
                row["set"] = set_name
                add_ratios(row, floor)
                rows.append(row)
                print(
                    f"   {row['label']}: {row['steady_ms_per_model']} ms/model warm, "
                    f"x{row['steady_ratio']} of the floor",
                    flush=True,
                )
            if not args.no_wait_run:
                row = measure_run(
                    run_options(server.url, token, ids, args, workers=1, fixed_wait_ms=500),
                    "run, 1 worker, fixed 500 ms wait",
                )
                row["set"] = set_name
                add_ratios(row, floor)
                rows.append(row)
                print(
                    f"   {row['label']}: {row['steady_ms_per_model']} ms/model warm",
                    flush=True,
                )

    columns = [
        ("set", "set"),
        ("mode", "label"),
        ("models", "n"),
        ("failed", "failed"),
        ("models/min", "models_per_minute"),
        ("wall ms/model", "wall_ms_per_model"),
        ("median ms", "median_ms"),
        ("p95 ms", "p95_ms"),
        ("first result s", "first_result_s"),
        ("first model ms", "first_ms"),
        ("warm ms/model", "steady_ms_per_model"),
        ("x floor (all)", "ratio_to_floor"),
        ("x floor (warm)", "steady_ratio"),
        ("median gap ms", "interval_median_ms"),
        ("x floor (median)", "median_ratio"),
    ]
    print()
    print(common.format_table(rows, columns))
    renderer = next((row["renderer"] for row in rows if row.get("renderer")), "")
    print(f"\nWebGL renderer: {renderer}")
    print(f"Load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    for row in rows:
        if row.get("median_ratio") and "wait" not in row["label"]:
            verdict = "within" if row["median_ratio"] <= TARGET_RATIO else "OVER"
            print(
                f"{row['set']}, {row['label']}: x{row['median_ratio']} of the floor per model "
                f"(medians; x{row['steady_ratio']} on warm means) — {verdict} the x{TARGET_RATIO} target"
            )
    path = common.write_json(
        NAME + ("-gpu" if args.gpu else ""),
        {
            "machine": common.machine_info(),
            "load_average_at_start": load,
            "gpu": args.gpu,
            "renderer": renderer,
            "target_ratio": TARGET_RATIO,
            "rows": rows,
        },
    )
    print(f"Wrote {path}")
    common.drop_database("sqlite", DB_NAME)


if __name__ == "__main__":
    main()
