#!/usr/bin/env python
"""Throughput and start-up of the headless runner, against its in-page render floor.

For two sets of models (generated demo models; the real models: ../shared/fixtures/models/ok
repeated a few times plus the real glTF/GLB files under ../shared/fixtures/formats) it
measures, against a fresh SQLite database and the runner's own embedded server:

- the render floor: ``headless.js`` ``floor()`` in one reused page (load, render, capture;
  no upload, no claims), per model;
- full runs of the runner (claim → render → upload) with 1 and 2 workers, each worker with
  its own Chromium (``--browsers per-worker``, the default) and, for comparison, all pages in
  one (``shared``): models per minute, ms per model (median, p95), the latency to the first
  result, and 2 workers' speed-up over 1 (target: ≥ 1.6× on the real models, 2 cores);
- the same run with a fixed 500 ms wait per model, the way a naive runner waits for a model
  to "settle", for comparison;
- start-up (``--startup N``): ``manage.py render_thumbnails --limit 1`` as its own process, N
  times after one warm-up run (warm disk cache): process start → first stored thumbnail
  (target ≤ 1.5 s), and when each start-up phase ended (the run's JSON report).

The target is a run within 1.3x of the floor (wall time per model).

    .venv/bin/python bench/headless_throughput.py              # CPU (SwiftShader)
    .venv/bin/python bench/headless_throughput.py --gpu        # on a machine with a GPU
    .venv/bin/python bench/headless_throughput.py --quick      # smoke run
    .venv/bin/python bench/headless_throughput.py --startup 5 --only-startup

Results: a table on stdout and bench/results/headless_throughput[-gpu].json.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "headless_throughput"
DB_NAME = f"icosa_bench_headless_{os.getpid()}"  # several benches may run on one machine
TARGET_RATIO = 1.3
TARGET_SCALING = 1.6  # 2 workers over 1, real models, 2 cores
TARGET_FIRST_THUMBNAIL_S = 1.5
REAL_SET = "real"


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
    parser.add_argument(
        "--formats-repeat",
        type=int,
        default=1,
        help="Copies of each real glTF/GLB under ../shared/fixtures/formats; 0 for none (default: %(default)s).",
    )
    parser.add_argument("--workers", default="1,2", help="Worker counts to run (default: %(default)s).")
    parser.add_argument(
        "--browsers",
        default="per-worker,shared",
        help="Browser modes for runs of more than one worker (default: %(default)s).",
    )
    parser.add_argument(
        "--sets",
        default=f"generated,{REAL_SET}",
        help="Model sets to run (default: %(default)s).",
    )
    parser.add_argument(
        "--startup",
        type=int,
        default=3,
        metavar="N",
        help="Start-up runs of the command after one warm-up; 0 for none (default: %(default)s).",
    )
    parser.add_argument("--only-startup", action="store_true", help="Measure the start-up only.")
    parser.add_argument(
        "--command-root",
        type=Path,
        default=common.ROOT,
        help="Run the start-up command from this checkout, e.g. a `git worktree` of an older "
        "commit for a before/after (default: this one).",
    )
    parser.add_argument(
        "--startup-workers",
        default="1,2",
        help="Worker counts of the start-up runs (default: %(default)s).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Rounds of the runs, interleaved (1 worker, 2 workers…, again); speed-ups compare medians.",
    )
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument(
        "--chromium",
        help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="Skip the render floor (no ratios to it).",
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


def real_models(args):
    """The real sample models (../shared): models/ok and the glTF/GLB files under formats/."""
    fixtures_ok = common.shared_fixtures("models", "ok")
    samples = sorted(p for p in fixtures_ok.iterdir() if p.is_file()) if fixtures_ok else []
    formats = common.shared_fixtures("formats")
    in_formats = (
        sorted(
            p
            for p in formats.rglob("*")
            if p.suffix.lower() in {".glb", ".gltf"} and "bad" not in p.relative_to(formats).parts
        )
        if formats
        else []
    )
    return [p for _ in range(args.repeat) for p in samples] + [
        p for _ in range(args.formats_repeat) for p in in_formats
    ]


def setup_database(media_root, args):
    """A fresh SQLite database with the two model sets; returns {set name: [asset ids]}."""
    common.fresh_sqlite(DB_NAME, media_root)
    from icosa.demo import write_demo_models
    from icosa.importing import import_model

    user = common.staff_user()
    generated = write_demo_models(Path(media_root).parent / "models", count=args.generated)
    sets = {"generated": [import_model(path, owner=user).pk for path in generated]}
    sets[REAL_SET] = [
        import_model(path, owner=user, name=f"{path.stem} {n}").pk for n, path in enumerate(real_models(args))
    ]
    return user, sets


def run_options(server, token, asset_ids, args, *, workers, browsers="per-worker", fixed_wait_ms=0):
    from pages import bench_options

    from admin_tools.runner import find_chromium

    options = bench_options(
        server,
        token,
        runner_name=f"bench-{workers}w-{browsers}{'-wait' if fixed_wait_ms else ''}",
        chromium=find_chromium(args.chromium),
        gpu=args.gpu,
        workers=workers,
        browsers=browsers,
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

    from admin_tools.runner import RunListener

    stamps = []  # (results so far, tree CPU seconds) at each result

    class CpuAtResults(RunListener):
        def result(self, result):
            tree.sample()
            stamps.append(tree.seconds)

    runner = WaitingRunner(options, listener=CpuAtResults())
    runner.fixed_wait_ms = getattr(options, "fixed_wait_ms", 0)
    with TreeCpu() as tree:
        summary = runner.run()
    cpu = tree.seconds
    warm_cpu = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None
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
        "models_per_minute_from_start": round(60 * n / summary.elapsed_seconds, 1) if n else None,
        # This process (server, runner) and its reaped children (the Playwright driver and
        # every Chromium of the run): what a run costs whatever else the machine is doing.
        "cpu_s_per_model": round(cpu / n, 3) if n else None,
        # After the first result: no browser start, no first compiles.
        "warm_cpu_s_per_model": round(warm_cpu, 3) if warm_cpu else None,
        # The CPU the run got while warm (cores): on a machine of its own, what it could use.
        "warm_cores_used": round(warm_cpu / (summary.steady_ms_per_model / 1000), 2)
        if warm_cpu and summary.steady_ms_per_model
        else None,
        "wall_ms_per_model": round(1000 * summary.work_seconds / n, 1) if n else None,
        "median_ms": summary.median_ms,
        "p95_ms": summary.p95_ms,
        "first_result_s": round(summary.first_result_seconds or 0, 2),
        "first_ms": ms[0] if ms else None,
        "steady_ms_per_model": round(summary.steady_ms_per_model, 1) if n > 1 else None,
        "interval_median_ms": interval_median(summary.results),
        "stages_median_ms": stage_medians([r.timings for r in summary.results[1:]]),
    }


class TreeCpu:
    """CPU seconds of this process and every process below it (the Playwright driver, each
    Chromium and its GPU and renderer processes), sampled from /proc while the run goes:
    Chromium's children are not reaped by anyone who reports to us, so ``os.times()``
    would miss them."""

    def __init__(self, interval=0.25):
        self.interval = interval
        self.seen = {}  # pid -> (start time, CPU seconds last seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._base = self._self_seconds()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.sample()

    @staticmethod
    def _self_seconds():
        times = os.times()
        return times.user + times.system

    def sample(self):
        tick = os.sysconf("SC_CLK_TCK")
        for pid in common.descendants(os.getpid()):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime (fields 14, 15 of stat), and the start time to tell reused pids apart.
            self.seen[(pid, fields[19])] = (int(fields[11]) + int(fields[12])) / tick

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.sample()

    @property
    def seconds(self):
        return self._self_seconds() - self._base + sum(self.seen.values())


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


def measure_startup(media_root, asset_id, args, workers=1):
    """``render_thumbnails --limit 1`` as its own process, once to warm the disk cache and
    then ``args.startup`` times: process start → first stored thumbnail, and its phases."""
    env = common.child_env(
        "sqlite",
        DB_NAME,
        media_root=media_root,
        conn_max_age=0,
        extra={"DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"},
    )
    report = Path(media_root).parent / "startup.json"
    command = [
        common.PYTHON, "manage.py", "render_thumbnails", "--user", common.BENCH_USERNAME,
        "--force", "--asset-ids", str(asset_id), "--limit", "1", "--json-report", str(report),
        "--recycle-after", "0", "--workers", str(workers),
    ]  # fmt: skip
    if args.gpu:
        command.append("--gpu")
    if args.chromium:
        command += ["--chromium", args.chromium]
    runs = []
    for attempt in range(args.startup + 1):
        busy = common.cpu_busy(0.5)
        started = time.monotonic()
        child = subprocess.Popen(command, cwd=args.command_root, env=env, stdout=subprocess.PIPE, text=True)
        first = None
        for line in child.stdout:
            if first is None and ": done in " in line:
                first = time.monotonic() - started
        child.wait()
        if child.returncode != 0 or first is None:
            raise SystemExit(f"start-up run failed (exit {child.returncode})")
        data = json.loads(report.read_text())
        # A checkout from before the start-up phases were recorded (--command-root) has none.
        phases = data.get("startup") or {"first thumbnail stored": data.get("first_result_seconds") or first}
        # The report counts from the command's handle(); the rest is Python, Django and the
        # command's imports.
        before_handle = first - phases["first thumbnail stored"]
        row = {
            "workers": workers,
            "run": attempt,
            "cpu_busy_before": busy,
            "first_thumbnail_s": round(first, 3),
            "python_and_django_s": round(before_handle, 3),
            **{phase: round(before_handle + at, 3) for phase, at in phases.items()},
            "first_model_timings": data["assets"][0].get("timings") or {},
        }
        if attempt:
            runs.append(row)
        print(
            f"   start-up, {workers} worker(s), {'warm-up' if not attempt else attempt}: first thumbnail {first:.2f} s "
            f"(CPU {busy:.0%} busy before)",
            flush=True,
        )
    return runs


def startup_table(runs):
    """Median over the runs of when each phase ended, from the process start."""
    phases = sorted(
        {key for run in runs for key in run if key not in ("workers", "run", "cpu_busy_before", "first_model_timings")},
        key=lambda key: statistics.median(run.get(key, 0) for run in runs),
    )
    rows, previous = [], 0.0
    for phase in phases:
        at = statistics.median(run[phase] for run in runs if phase in run)
        if phase == "first_thumbnail_s":
            continue
        rows.append({"phase": phase.replace("_s", "").replace("_", " "), "ends_s": round(at, 3)})
        rows[-1]["step_s"] = round(at - previous, 3)
        previous = at
    timings = [run["first_model_timings"] for run in runs]
    first_model = {stage: statistics.median(t[stage] for t in timings if stage in t) for stage in timings[0]}
    return rows, first_model


def main():
    args = parse_args()
    if args.quick:
        args.generated, args.repeat, args.formats_repeat, args.workers, args.startup = 6, 1, 0, "1", 1
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    modes = [m.strip() for m in args.browsers.split(",") if m.strip()]
    wanted_sets = {name.strip() for name in args.sets.split(",")}
    media_root = Path(tempfile.mkdtemp(prefix="bench-headless-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    user, sets = setup_database(media_root, args)

    from admin_tools.pageconfig import api_base
    from admin_tools.runner import EmbeddedServer, ThumbnailApi
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=240, purpose="bench")
    load = os.getloadavg()
    rows, startup = [], []
    if args.startup:
        print("== start-up: render_thumbnails --limit 1, its own process", flush=True)
        for count in (int(w) for w in args.startup_workers.split(",") if w.strip()):
            startup += measure_startup(media_root, sets["generated"][0], args, workers=count)
    with EmbeddedServer() as server:
        api = ThumbnailApi(server.url + api_base(), token, runner_id="bench")
        for set_name, ids in sets.items():
            if args.only_startup or set_name not in wanted_sets or not ids:
                continue
            assets = api.missing(limit=100, force=True, asset_ids=[str(pk) for pk in ids])["assets"]
            print(f"== {set_name}: {len(assets)} models", flush=True)
            floor = None
            if not args.no_floor:
                floor = measure_floor(run_options(server.url, token, ids, args, workers=1), assets)
                floor["set"] = set_name
                rows.append(floor)
                print(f"   floor: {floor['steady_ms_per_model']} ms/model warm", flush=True)
            configs = [(count, mode) for count in workers for mode in (modes if count > 1 else modes[:1])]
            for rnd, (count, mode) in ((r, c) for r in range(1, args.rounds + 1) for c in configs):
                busy = common.cpu_busy(0.5)
                label = f"run, {count} worker{'s' if count > 1 else ''}" + (f", {mode} browsers" if count > 1 else "")
                row = measure_run(run_options(server.url, token, ids, args, workers=count, browsers=mode), label)
                row.update({"set": set_name, "workers": count, "browsers": mode, "round": rnd, "cpu_busy_before": busy})
                if floor:
                    add_ratios(row, floor)
                rows.append(row)
                print(
                    f"   {row['label']}: {row['models_per_minute']} models/min, {row['steady_ms_per_model']} "
                    f"ms/model warm (CPU {busy:.0%} busy before)",
                    flush=True,
                )
            if not args.no_wait_run:
                row = measure_run(
                    run_options(server.url, token, ids, args, workers=1, fixed_wait_ms=500),
                    "run, 1 worker, fixed 500 ms wait",
                )
                row["set"] = set_name
                if floor:
                    add_ratios(row, floor)
                rows.append(row)
                print(f"   {row['label']}: {row['steady_ms_per_model']} ms/model warm", flush=True)

    columns = [
        ("set", "set"),
        ("mode", "label"),
        ("models", "n"),
        ("failed", "failed"),
        ("models/min", "models_per_minute"),
        ("models/min from start", "models_per_minute_from_start"),
        ("CPU s/model", "cpu_s_per_model"),
        ("warm CPU s/model", "warm_cpu_s_per_model"),
        ("warm cores used", "warm_cores_used"),
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
        ("CPU busy before", "cpu_busy_before"),
    ]
    print()
    if rows:
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
    scaling = speedups(rows)
    for entry in scaling:
        verdict = "met" if entry["set"] == REAL_SET and (entry["speedup"] or 0) >= TARGET_SCALING else ""
        print(
            f"{entry['set']}: {entry['workers']} workers, {entry['browsers']} browsers: x{entry['speedup']} "
            f"one worker's models/min (x{entry['warm_speedup']} warm, x{entry['speedup_from_start']} start-up "
            f"included; medians of {entry['rounds']} rounds)"
            + (
                f" — target x{TARGET_SCALING} on the real models {verdict or 'NOT met'}"
                if entry["set"] == REAL_SET
                else ""
            )
        )
    startup_tables = {}
    for count in sorted({run["workers"] for run in startup}):
        runs = [run for run in startup if run["workers"] == count]
        table, first_model = startup_table(runs)
        startup_tables[count] = {"phases": table, "first_model_ms": first_model}
        print(f"\nStart-up, {count} worker(s), medians of {len(runs)} runs:")
        print(common.format_table(table, [("phase", "phase"), ("ends at s", "ends_s"), ("step s", "step_s")]))
        first = statistics.median(run["first_thumbnail_s"] for run in runs)
        print(f"First model in the page: {first_model} (ms)")
        print(
            f"First thumbnail stored {first:.2f} s after the process started — "
            f"{'within' if first <= TARGET_FIRST_THUMBNAIL_S else 'OVER'} the {TARGET_FIRST_THUMBNAIL_S} s target"
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
            "scaling": scaling,
            "startup_runs": startup,
            "startup": startup_tables,
        },
    )
    print(f"Wrote {path}")
    common.drop_database("sqlite", DB_NAME)


def speedups(rows):
    """Multi-worker runs' models per minute over the same set's 1-worker runs (medians over
    the rounds, which interleave, so a burst of load from elsewhere hits both sides)."""

    def median_of(group, key):
        values = [row[key] for row in group if row.get(key)]
        return statistics.median(values) if values else None

    groups = {}
    for row in rows:
        if "workers" in row:
            groups.setdefault((row["set"], row["workers"], row["browsers"]), []).append(row)
    out = []
    for (set_name, count, mode), group in groups.items():
        base = next((g for (s, c, _), g in groups.items() if s == set_name and c == 1), None)
        if count == 1 or not base:
            continue
        rate, base_rate = median_of(group, "models_per_minute"), median_of(base, "models_per_minute")
        warm, base_warm = median_of(group, "steady_ms_per_model"), median_of(base, "steady_ms_per_model")
        whole = median_of(group, "models_per_minute_from_start")
        base_whole = median_of(base, "models_per_minute_from_start")
        out.append(
            {
                "set": set_name,
                "workers": count,
                "browsers": mode,
                "rounds": len(group),
                "models_per_minute": rate,
                "one_worker_models_per_minute": base_rate,
                "speedup": round(rate / base_rate, 2) if rate and base_rate else None,
                "warm_speedup": round(base_warm / warm, 2) if warm and base_warm else None,
                "speedup_from_start": round(whole / base_whole, 2) if whole and base_whole else None,
            }
        )
    return out


if __name__ == "__main__":
    main()
