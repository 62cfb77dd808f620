#!/usr/bin/env python
"""Where a model's time goes inside the page, and what the texture cap saves.

One reused headless page (``FloorPage.floor()``: ``processOne`` without upload or report, the
render floor) renders each model a few times with the texture cap off (``textureCap: 0``)
and on (the page's default, texture-cap.js), alternating, so both see the same load. It
prints the per-stage medians of ``result.timings`` (pipeline.js) per model and cap setting,
and how far the capped capture is from the uncapped one (PSNR and mean absolute difference
over the 1280×800 RGB pixels).

Models: generated boxes with a 1024², 2048², 4096² and 8192² JPEG texture
(tests/fixtures/textures.py), a few generated untextured demo models, and the shared sample
models (../shared/fixtures/models/ok) when present.

    .venv/bin/python bench/page_costs.py             # ~3 min on 2 CPU cores (SwiftShader)
    .venv/bin/python bench/page_costs.py --quick     # smoke run
    .venv/bin/python bench/page_costs.py --gpu       # on a machine with a GPU

Results: tables on stdout and bench/results/page_costs[-gpu].json.
"""

import argparse
import asyncio
import base64
import io
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "page_costs"
DB_NAME = "icosa_bench_pagecosts"
TEXTURE_SIZES = (1024, 2048, 4096, 8192)
CAP_SETTINGS = {"off": {"textureCap": 0}, "on": {}}
STAGES = ("load", "decode", "cap", "textures", "compile", "draw", "encode", "sample", "render")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="Renders per model and cap setting (default: %(default)s)."
    )
    parser.add_argument("--demo", type=int, default=4, help="Generated untextured models (default: %(default)s).")
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).")
    parser.add_argument("--quick", action="store_true", help="One render each, fewer models: a smoke run.")
    parser.add_argument(
        "--sets",
        default="textures,demo,shared",
        help="Model sets: textures, demo, shared, brushes (shared brush sketches, slow) (default: %(default)s).",
    )
    return parser.parse_args()


def setup_models(media_root, args):
    """Import the models into a fresh SQLite database; returns [(label, asset id)]."""
    common.fresh_sqlite(DB_NAME, media_root)
    from icosa.demo import write_demo_models
    from icosa.importing import import_model
    from tests.fixtures.textures import write_textured_box

    user = common.staff_user()
    folder = Path(media_root).parent / "models"
    sets = args.sets.split(",")
    sizes = TEXTURE_SIZES[1:3] if args.quick else TEXTURE_SIZES
    paths = []
    if "textures" in sets:
        paths += [(f"box {size}² JPEG", write_textured_box(folder / f"texture-{size}.glb", size)) for size in sizes]
    if "demo" in sets:
        paths += [
            (f"demo {p.stem}", p) for p in write_demo_models(folder / "demo", count=1 if args.quick else args.demo)
        ]
    samples = common.shared_fixtures("models", "ok")
    if samples and "shared" in sets and not args.quick:
        paths += [(f"shared {p.name}", p) for p in sorted(samples.iterdir()) if p.is_file()]
    formats = common.shared_fixtures("formats")
    if formats and "brushes" in sets:
        paths += [
            (f"sketch {p.name}", p)
            for p in (formats / "tilt-gltf2" / "snowman" / "snowman.gltf", formats / "tilt-gltf2" / "all_brushes.glb")
        ]
    return user, [(label, import_model(path, owner=user, name=label).pk) for label, path in paths]


def decode(data_url):
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.float64)


def difference(a_url, b_url):
    """PSNR (dB, inf when identical) and mean absolute difference (0–255) of two captures."""
    a, b = decode(a_url), decode(b_url)
    mse = float(np.mean((a - b) ** 2))
    return (math.inf if mse == 0 else 10 * math.log10(255**2 / mse)), float(np.mean(np.abs(a - b)))


# A cold page without headless.js's renderer: the same setup (page config → loaders), then
# renderer.js warmUp() or not, then the first asset. Bench-only, like pages.FloorPage.
COLD_SCRIPT = """async ({base, asset, warm, width, height}) => {
    const [r, p, g, f, c, b, q, pr, cfg] = await Promise.all([
        'renderer.js', 'pipeline.js', 'loaders/gltf.js', 'loaders/format-table.js', 'loaders/context.js',
        'brushes.js', 'capture.js', 'presentation.js', 'config.js'].map((name) => import(base + name)));
    const page = cfg.readPageConfig();
    const context = r.createRenderer({width, height});
    const decoders = page.decoders || {};
    g.configureDecoders({draco: decoders.draco, basis: decoders.basis, renderer: context.renderer});
    f.configureFormats(page.formats);
    c.configureFetchPolicy(page);
    b.configureBrushes({url: page.brushAssetsUrl});
    q.configureQuality(page.quality || null);
    pr.configurePresentation({upAxis: page.upAxis});
    const warmed = warm && r.warmUp ? await r.warmUp(context) : null;
    const result = await p.processAsset({asset, renderer: context, options: {width, height, upload: false, report: false}});
    return {warmed, result};
}"""


def measure_cold(options, assets, repeat):
    """First asset of a fresh page, without and with warmUp() first."""
    from admin_tools.runner.browser import BrowserSession

    async def main():
        session = BrowserSession(executable_path=options.chromium, gpu=options.gpu)
        browser = await session.start()
        base = options.module_url.rsplit("/", 1)[0] + "/"
        rows = []
        try:
            for n in range(repeat):
                for label, asset in assets:
                    for warm in (False, True):
                        context = await browser.new_context(viewport={"width": 800, "height": 600})
                        page = await context.new_page()
                        await page.goto(options.page_url, wait_until="load")
                        payload = {"base": base, "asset": asset, "warm": warm, "width": 1280, "height": 800}
                        out = await page.evaluate(COLD_SCRIPT, payload)
                        await context.close()
                        result = out["result"]
                        rows.append({"label": label, "warm": warm, "n": n, "warm_up": out["warmed"], **result})
            return rows
        finally:
            await session.stop()

    return asyncio.run(main())


def summarise_cold(rows):
    out = []
    for label in dict.fromkeys(r["label"] for r in rows):
        for warm in (False, True):
            mine = [r for r in rows if r["label"] == label and r["warm"] == warm and r.get("status") == "done"]
            if not mine:
                continue
            warm_ups = [r["warm_up"]["ms"] for r in mine if r.get("warm_up")]
            row = {"model": label, "warm_up": "yes" if warm else "no", "n": len(mine)}
            row["warm_up_ms"] = statistics.median(warm_ups) if warm_ups else None
            row["first_ms"] = statistics.median(r["ms"] for r in mine)
            for stage in ("load", "compile", "draw", "render"):
                row[stage] = statistics.median(r["timings"].get(stage, 0) for r in mine)
            out.append(row)
    return out


def measure(options, assets, repeat):
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
            first = await page.floor(assets[-1][1], timeout=options.timeout + 30)  # warms the page
            runs = []
            for n in range(repeat):
                for label, asset in assets:
                    for cap, extra in CAP_SETTINGS.items():
                        result = await page.floor(
                            asset, options={**extra, "returnImage": n == 0}, timeout=options.timeout + 30
                        )
                        runs.append({"label": label, "cap": cap, "n": n, **result})
            await page.close()
            return info, first, runs
        finally:
            await session.stop()

    return asyncio.run(main())


def summarise(assets, runs):
    rows, quality = [], []
    for label, _ in assets:
        images = {}
        for cap in CAP_SETTINGS:
            mine = [r for r in runs if r["label"] == label and r["cap"] == cap]
            failed = [r for r in mine if r.get("status") != "done"]
            if failed:
                print(f"   {label} (cap {cap}): {failed[0].get('reason')}: {failed[0].get('detail')}", flush=True)
            done = [r for r in mine if r.get("status") == "done"]
            row = {
                "model": label,
                "setting": cap,
                "n": len(done),
                "capped": max((r.get("texturesCapped") or 0) for r in mine),
            }
            row["total"] = statistics.median(r["ms"] for r in done) if done else None
            for stage in STAGES:
                values = [r["timings"][stage] for r in done if stage in r.get("timings", {})]
                row[stage] = statistics.median(values) if values else None
            rows.append(row)
            images[cap] = next((r.get("dataUrl") for r in done if r.get("dataUrl")), None)
        if images["off"] and images["on"]:
            psnr, mad = difference(images["off"], images["on"])
            quality.append({"model": label, "psnr_db": round(psnr, 1), "mean_abs_diff": round(mad, 3)})
    return rows, quality


def main():
    args = parse_args()
    if args.quick:
        args.repeat, args.demo = 1, 1
    media_root = Path(tempfile.mkdtemp(prefix="bench-pagecosts-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    brushes = common.shared_fixtures("brushes")
    if "brushes" in args.sets and brushes:
        os.environ["BRUSH_ASSETS_DIR"] = str(brushes)
    user, models = setup_models(media_root, args)

    from pages import bench_options

    from admin_tools.pageconfig import api_base
    from admin_tools.runner import EmbeddedServer, ThumbnailApi, find_chromium
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=240, purpose="bench")
    busy = common.wait_for_quiet(timeout=30, log=print)
    load = os.getloadavg()
    with EmbeddedServer() as server:
        api = ThumbnailApi(server.url + api_base(), token, runner_id="bench")
        listed = api.missing(limit=100, force=True, asset_ids=[str(pk) for _, pk in models])["assets"]
        by_id = {asset["id"]: asset for asset in listed}
        assets = [(label, by_id[str(pk)]) for label, pk in models]
        options = bench_options(
            server.url,
            token,
            runner_name="bench-page-costs",
            chromium=find_chromium(args.chromium),
            gpu=args.gpu,
            filters={"force": True},
        )
        info, first, runs = measure(options, assets, args.repeat)
        cold_assets = [asset for asset in assets if asset[0].startswith(("box 2048", "demo"))][:2]
        cold = summarise_cold(measure_cold(options, cold_assets, 1 if args.quick else 2)) if cold_assets else []

    rows, quality = summarise(assets, runs)
    columns = [("model", "model"), ("texture cap", "setting"), ("n", "n"), ("capped", "capped"), ("total ms", "total")]
    columns += [(stage, stage) for stage in STAGES]
    print()
    print(common.format_table(rows, columns))
    print()
    print(
        common.format_table(
            quality, [("model", "model"), ("PSNR dB (off vs on)", "psnr_db"), ("mean |diff|", "mean_abs_diff")]
        )
    )
    print()
    cold_columns = [
        ("first asset of a page", "model"),
        ("warmUp()", "warm_up"),
        ("n", "n"),
        ("warm-up ms", "warm_up_ms"),
    ]
    cold_columns += [("asset ms", "first_ms")] + [(stage, stage) for stage in ("load", "compile", "draw", "render")]
    print(common.format_table(cold, cold_columns))
    renderer = info.get("rendererString", "")
    print(f"\nWebGL renderer: {renderer}; first model of the page: {first.get('ms')} ms {first.get('timings')}")
    print(
        f"Load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, CPU busy {busy:.0%} ({os.cpu_count()} CPUs)"
    )
    for run in runs:
        run.pop("dataUrl", None)
    path = common.write_json(
        NAME + ("-gpu" if args.gpu else ""),
        {
            "machine": common.machine_info(),
            "load_average_at_start": load,
            "cpu_busy_at_start": busy,
            "renderer": renderer,
            "rows": rows,
            "quality": quality,
            "cold": cold,
            "runs": runs,
        },
    )
    print(f"Wrote {path}")
    common.drop_database("sqlite", DB_NAME)


if __name__ == "__main__":
    main()
