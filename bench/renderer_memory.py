#!/usr/bin/env python
"""Does the renderer leak? Memory of one reused headless page after 50 and after 500 models.

Loads a mix of generated demo models and the shared sample models (Draco, textures, a
metallic PBR fox), then renders them round-robin in one page with ``headless.js`` ``floor()``
(load, render, capture; no upload) and samples, at 1, 50, 100, … models:

- three.js ``renderer.info.memory`` (live geometries and textures) and programs,
- the page's JS heap (``performance.memory``),
- the resident memory (RSS) of every Chromium process this script started.

Target: growth ≤ 10 % from model 50 to model 500 (RSS and JS heap). A last sample after 50
more models in a fresh page (what the runner does every ``--recycle-after`` models) shows
whether the growth belongs to the page.

    .venv/bin/python bench/renderer_memory.py             # 500 models
    .venv/bin/python bench/renderer_memory.py --quick     # 60 models, smoke run

``--runner`` measures the real run loop instead (``render_thumbnails``' Runner: claim, render,
upload) over ``--models`` generated models, each its own asset, with ``--workers`` (each its
own Chromium unless ``--browsers shared``) and the runner's own recycling
(``--recycle-after``, ``--recycle-browser-after``): RSS by process type, summed over every
Chromium and the largest single process, every ``--sample-every`` results.

    .venv/bin/python bench/renderer_memory.py --runner --workers 2 --models 1200

Results: a table on stdout and bench/results/renderer_memory[.runner].json.
"""

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

sys.path.insert(0, str(common.ROOT))
from admin_tools.runner.options import RECYCLE_AFTER, RECYCLE_BROWSER_AFTER  # noqa: E402

NAME = "renderer_memory"
DB_NAME = f"icosa_bench_memory_{os.getpid()}"  # several benches may run on one machine
TARGET_GROWTH = 0.10


def rss_mb(pid):
    """Resident memory of one process in MB (/proc), None when it has none (a zombie)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def chromium_rss_mb(largest=None):
    """RSS in MB of this script's Chromium processes, by process type (browser, gpu, renderer…).

    ``largest``, a dict, also gets the RSS of the largest single process of each type."""
    by_type = {}
    for pid in common.descendants(os.getpid()):
        try:
            # Chromium rewrites its children's argv into one space-separated string.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"chrom" not in cmdline.split(b" ", 1)[0]:
                continue
            match = re.search(rb"--type=([\w-]+)", cmdline)
            kind = match.group(1).decode() if match else "browser"
            mb = rss_mb(pid)
            if mb is not None:
                by_type[kind] = by_type.get(kind, 0) + mb
                if largest is not None:
                    largest[kind] = round(max(largest.get(kind, 0), mb), 1)
        except OSError:
            continue
    return {kind: round(mb, 1) for kind, mb in sorted(by_type.items())}


def setup_database(media_root, generated=None):
    """The distinct mixed models; or, with ``generated``, that many generated models."""
    common.fresh_sqlite(DB_NAME, media_root)
    from icosa.demo import write_demo_models
    from icosa.importing import import_model

    user = common.staff_user()
    if generated:
        paths = write_demo_models(Path(media_root).parent / "models", count=generated)
        return user, [import_model(path, owner=user, name=f"model {n}").pk for n, path in enumerate(paths)]
    paths = write_demo_models(Path(media_root).parent / "models")
    fixtures_ok = common.shared_fixtures("models", "ok")
    paths += sorted(p for p in fixtures_ok.iterdir() if p.is_file()) if fixtures_ok else []
    return user, [import_model(path, owner=user).pk for path in paths]


async def sample(page, label, started):
    """Collect garbage first: the question is what stays alive, not when V8 runs."""
    cdp = await page.context.new_cdp_session(page.page)
    await cdp.send("HeapProfiler.collectGarbage")
    await cdp.detach()
    memory = await page.memory()
    rss = chromium_rss_mb()
    return {
        "models": label,
        "geometries": memory.get("geometries"),
        "textures": memory.get("textures"),
        "programs": memory.get("programs"),
        "js_heap_mb": round((memory.get("jsHeapUsed") or 0) / 2**20, 1),
        "chromium_rss_mb": round(sum(rss.values()), 1),
        "renderer_rss_mb": rss.get("renderer"),
        "gpu_rss_mb": rss.get("gpu-process"),
        "browser_rss_mb": rss.get("browser"),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


async def measure(options, assets, total, checkpoints, recycle_every=0):
    from pages import FloorPage

    from admin_tools.runner.browser import BrowserSession

    session = BrowserSession(executable_path=options.chromium, gpu=options.gpu)
    await session.start()
    rows = []
    try:
        page = FloorPage(
            session,
            index=0,
            page_url=options.page_url,
            module_url=options.module_url,
            config=options.page_config(0),
        )
        info = await page.open()
        failed = 0
        started = time.perf_counter()
        for n in range(1, total + 1):
            if recycle_every and n > 1 and (n - 1) % recycle_every == 0:
                await page.open()
            result = await page.floor(assets[(n - 1) % len(assets)], timeout=options.timeout + 30)
            failed += result.get("status") != "done"
            if n in checkpoints:
                rows.append(await sample(page, n, started))
                print(f"   {rows[-1]}", flush=True)
        # What the runner does every --recycle-after models: a fresh page. If the creep
        # belongs to the page, it goes with it.
        await page.open()
        for n in range(1, 51):
            result = await page.floor(assets[(n - 1) % len(assets)], timeout=options.timeout + 30)
            failed += result.get("status") != "done"
        rows.append(await sample(page, f"{total} + fresh page + 50", started))
        print(f"   {rows[-1]}", flush=True)
        await page.close()
        return info, rows, failed
    finally:
        await session.stop()


def python_rss_mb():
    """RSS in MB of this process: the runner, the embedded server and its derivatives worker."""
    return round(rss_mb("self"), 1)


class SamplingListener:
    """Samples Chromium's memory (and this process's) every ``every`` results of a real run."""

    def __init__(self, every, started):
        self.every = every
        self.started = started
        self.count = 0
        self.rows = []

    def sample(self, label):
        largest = {}
        rss = chromium_rss_mb(largest)
        self.rows.append(
            {
                "models": label,
                "chromium_rss_mb": round(sum(rss.values()), 1),
                "renderer_rss_mb": rss.get("renderer"),
                "gpu_rss_mb": rss.get("gpu-process"),
                "browser_rss_mb": rss.get("browser"),
                "largest_renderer_mb": largest.get("renderer"),
                "largest_gpu_mb": largest.get("gpu-process"),
                "python_rss_mb": python_rss_mb(),
                "elapsed_s": round(time.perf_counter() - self.started, 1),
            }
        )
        print(f"   {self.rows[-1]}", flush=True)

    def announce(self, message):
        if message.startswith("WebGL renderer"):
            self.sample(0)

    def total(self, count):
        pass

    def warning(self, message):
        print(f"   warning: {message}", flush=True)

    def result(self, result):
        self.count += 1
        if self.count == 1 or self.count % self.every == 0:
            self.sample(self.count)


def measure_runner(options, every):
    from admin_tools.runner import Runner

    listener = SamplingListener(every, time.perf_counter())
    summary = Runner(options, listener=listener).run()
    if summary.error:
        raise SystemExit(f"The run could not work: {summary.error}")
    return summary, listener.rows


def runner_main(args):
    media_root = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    started = time.perf_counter()
    user, ids = setup_database(media_root, generated=args.models)
    print(f"== {len(ids)} generated models imported in {time.perf_counter() - started:.0f} s", flush=True)

    from pages import bench_options

    from admin_tools.runner import EmbeddedServer, find_chromium
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=240, purpose="bench")
    load = os.getloadavg()
    with EmbeddedServer() as server:
        options = bench_options(
            server.url,
            token,
            runner_name="bench-memory",
            chromium=find_chromium(args.chromium),
            gpu=args.gpu,
            workers=args.workers,
            browsers=args.browsers,
            batch_size=10,
        )
        options.recycle_after = args.recycle_after
        options.recycle_browser_after = args.recycle_browser_after
        summary, rows = measure_runner(options, args.sample_every)
    print()
    print(
        common.format_table(
            rows,
            [
                ("models", "models"),
                ("Chromium RSS MB", "chromium_rss_mb"),
                ("renderer MB (all)", "renderer_rss_mb"),
                ("GPU process MB (all)", "gpu_rss_mb"),
                ("browser MB (all)", "browser_rss_mb"),
                ("largest renderer MB", "largest_renderer_mb"),
                ("largest GPU process MB", "largest_gpu_mb"),
                ("Python RSS MB", "python_rss_mb"),
                ("elapsed s", "elapsed_s"),
            ],
        )
    )
    result = {
        "renderer": summary.renderer,
        "workers": args.workers,
        "browsers": args.browsers,
        "recycle_after": args.recycle_after,
        "recycle_browser_after": args.recycle_browser_after,
        "done": summary.done,
        "failed": summary.failed,
        "models_per_minute": round(summary.models_per_minute, 1),
        "page_recycles": summary.page_recycles,
        "browser_recycles": summary.browser_recycles,
        "page_restarts": summary.page_restarts,
        "load_average_at_start": load,
        "machine": common.machine_info(),
        "samples": rows,
    }
    print(
        f"\n{summary.done} done, {summary.failed} failed, {summary.models_per_minute:.0f} models/min; "
        f"{summary.page_recycles} page recycles, {summary.browser_recycles} browser recycles"
    )
    print(f"Load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"Results: {common.write_json(NAME + '.runner', result)}")
    if args.label:
        common.write_json(f"{NAME}.runner.{args.label}", result)
    common.drop_database("sqlite", DB_NAME)


def growth(rows, key, start=50, last=None):
    """Relative change from the ``start`` sample to ``last`` (default: the last one-page sample)."""
    base = next((r[key] for r in rows if r["models"] == start), None)
    if last is None:
        last = max(r["models"] for r in rows if isinstance(r["models"], int))
    last = next(r[key] for r in rows if r["models"] == last)
    if not base:
        return None
    return round((last - base) / base, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500, help="Models to render (default: %(default)s).")
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument("--chromium", default=None, help="Chromium executable.")
    parser.add_argument("--quick", action="store_true", help="A 60-model smoke run.")
    parser.add_argument(
        "--recycle-every",
        type=int,
        default=0,
        metavar="N",
        help="Open a fresh page every N models, as the runner's --recycle-after does (default: never).",
    )
    parser.add_argument("--label", default="", help="Also write bench/results/renderer_memory.LABEL.json.")
    parser.add_argument("--runner", action="store_true", help="Measure the real run loop (see above).")
    parser.add_argument("--workers", type=int, default=2, help="With --runner (default: %(default)s).")
    parser.add_argument("--browsers", default="per-worker", help="With --runner (default: %(default)s).")
    parser.add_argument(
        "--recycle-after", type=int, default=RECYCLE_AFTER, help="With --runner (default: %(default)s)."
    )
    parser.add_argument(
        "--recycle-browser-after",
        type=int,
        default=RECYCLE_BROWSER_AFTER,
        help="With --runner (default: %(default)s).",
    )
    parser.add_argument("--sample-every", type=int, default=100, help="With --runner (default: %(default)s).")
    args = parser.parse_args()
    if args.runner:
        if args.quick:
            args.models, args.sample_every = 60, 20
        return runner_main(args)
    total = 60 if args.quick else args.models
    checkpoints = {1, 50, total} | set(range(100, total + 1, 50))

    media_root = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    user, ids = setup_database(media_root)

    from pages import bench_options

    from admin_tools.runner import EmbeddedServer, ThumbnailApi, find_chromium
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=240, purpose="bench")
    with EmbeddedServer() as server:
        options = bench_options(
            server.url, token, runner_name="bench-memory", chromium=find_chromium(args.chromium), gpu=args.gpu
        )
        api = ThumbnailApi(options.api_base, token, runner_id="bench")
        assets = api.missing(limit=100, force=True, asset_ids=[str(pk) for pk in ids])["assets"]
        print(f"== {len(assets)} distinct models, {total} renders in one page", flush=True)
        info, rows, failed = asyncio.run(measure(options, assets, total, checkpoints, args.recycle_every))

    print()
    print(
        common.format_table(
            rows,
            [
                ("models", "models"),
                ("geometries", "geometries"),
                ("textures", "textures"),
                ("programs", "programs"),
                ("JS heap MB", "js_heap_mb"),
                ("Chromium RSS MB", "chromium_rss_mb"),
                ("renderer MB", "renderer_rss_mb"),
                ("GPU process MB", "gpu_rss_mb"),
                ("browser MB", "browser_rss_mb"),
                ("elapsed s", "elapsed_s"),
            ],
        )
    )
    summary = {
        "renderer": info.get("rendererString", ""),
        "distinct_models": len(assets),
        "renders": total,
        "recycle_every": args.recycle_every,
        "failed": failed,
        "rss_growth_50_to_last": growth(rows, "chromium_rss_mb"),
        "renderer_rss_growth_50_to_last": growth(rows, "renderer_rss_mb"),
        "gpu_rss_growth_50_to_last": growth(rows, "gpu_rss_mb"),
        "js_heap_growth_50_to_last": growth(rows, "js_heap_mb"),
        "rss_growth_50_to_fresh_page": growth(rows, "chromium_rss_mb", last=rows[-1]["models"]),
        "renderer_rss_growth_50_to_fresh_page": growth(rows, "renderer_rss_mb", last=rows[-1]["models"]),
        "target_growth": TARGET_GROWTH,
        "machine": common.machine_info(),
        "samples": rows,
    }
    print(f"\nWebGL renderer: {summary['renderer']}")
    for key in (
        "rss_growth_50_to_last", "renderer_rss_growth_50_to_last", "gpu_rss_growth_50_to_last",
        "js_heap_growth_50_to_last", "rss_growth_50_to_fresh_page", "renderer_rss_growth_50_to_fresh_page",
    ):  # fmt: skip
        value = summary[key]
        verdict = "n/a" if value is None else ("within" if value <= TARGET_GROWTH else "OVER")
        print(f"{key}: {value if value is None else f'{value:+.1%}'} ({verdict} the {TARGET_GROWTH:.0%} target)")
    print(f"Results: {common.write_json(NAME, summary)}")
    if args.label:
        common.write_json(f"{NAME}.{args.label}", summary)
    common.drop_database("sqlite", DB_NAME)


if __name__ == "__main__":
    main()
