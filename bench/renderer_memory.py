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

Results: a table on stdout and bench/results/renderer_memory.json.
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

NAME = "renderer_memory"
DB_NAME = "icosa_bench_memory"
TARGET_GROWTH = 0.10


def descendants(pid):
    """Process ids below ``pid`` (Chromium's browser, GPU and renderer processes)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def chromium_rss_mb():
    """RSS in MB of this script's Chromium processes, by process type (browser, gpu, renderer…)."""
    by_type = {}
    for pid in descendants(os.getpid()):
        try:
            # Chromium rewrites its children's argv into one space-separated string.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"chrom" not in cmdline.split(b" ", 1)[0]:
                continue
            match = re.search(rb"--type=([\w-]+)", cmdline)
            kind = match.group(1).decode() if match else "browser"
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    by_type[kind] = by_type.get(kind, 0) + int(line.split()[1]) / 1024
        except OSError:
            continue
    return {kind: round(mb, 1) for kind, mb in sorted(by_type.items())}


def setup_database(media_root):
    common.reset_database("sqlite", DB_NAME)
    common.configure("sqlite", DB_NAME, media_root=media_root, conn_max_age=0)
    common.migrate()
    from icosa.demo import write_demo_models
    from icosa.importing import import_model

    user = common.staff_user()
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
    args = parser.parse_args()
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
