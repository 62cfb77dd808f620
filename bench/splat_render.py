#!/usr/bin/env python
"""Render time per splat file in the headless page (Spark on SwiftShader by default).

Each file becomes one asset of a fresh SQLite database; one page (as the runner keeps it)
renders every asset ``--repeat`` times with ``processOne`` minus the upload, at the production
render size. The first splat of a page also pays for Spark itself (parsing the module and
compiling its WebAssembly); later ones are what a long run sees per model. Files: the
generated two-blob scene of tests/fixtures/splats.py in every format, and the real files of
../shared/fixtures/formats/splat when that folder exists.

    .venv/bin/python bench/splat_render.py              # CPU (SwiftShader)
    .venv/bin/python bench/splat_render.py --gpu        # on a machine with a GPU
    .venv/bin/python bench/splat_render.py --quick      # generated files only, one repeat

Results: a table on stdout and bench/results/splat_render[-gpu].json.
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
import headless_throughput  # noqa: E402

sys.path.insert(0, str(common.ROOT))
from tests.fixtures import splats  # noqa: E402

NAME = "splat_render"
DB_NAME = "icosa_bench_splats"
REAL = {
    "fruit_drops_minimal.ply": "SPLAT_PLY",
    "pc_short.ply": "SPLAT_PLY",
    "guitar.compressed.ply": "SPLAT_PLY",
    "biker.spz": "SPZ",
    "minimal-v2.spz": "SPZ",
    "luma-seal.splat": "SPLAT",
    "minimal.ksplat": "KSPLAT",
    "wave_0001.sog": "SOG",
    "playbot-lod6-sog/meta.json": "SOG",
}
GENERATED = {"splat": "SPLAT", "ply": "SPLAT_PLY", "spz": "SPZ", "v4.spz": "SPZ"}
PROCESS_SCRIPT = """async ({module, asset}) => {
    const headless = await import(module);
    return headless.processOne(asset, {upload: false, report: false});
}"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Renders per file (default: %(default)s).")
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument(
        "--chromium",
        help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).",
    )
    parser.add_argument("--quick", action="store_true", help="Generated files only, one repeat.")
    return parser.parse_args()


def setup_database(media_root, args):
    """A fresh SQLite database with one asset per file; returns (user, [(label, id)])."""
    common.fresh_sqlite(DB_NAME, media_root)
    user = common.staff_user()
    files = splats.write_all(Path(media_root).parent / "generated")
    entries = [(f"generated two-blobs.{suffix} ({GENERATED[suffix]})", files[suffix], []) for suffix in GENERATED]
    shared = common.shared_fixtures("formats", "splat")
    if shared and not args.quick:
        for name, format_type in REAL.items():
            path = shared / name
            others = sorted(path.parent.glob("*.webp")) if path.suffix == ".json" else []
            entries.append((f"{name} ({format_type})", path, others))
    assets = []
    for label, path, others in entries:
        format_type = label.rsplit("(", 1)[1].rstrip(")")
        asset = splats.create_asset(label, format_type, path, *others)
        assets.append(
            (
                label,
                asset.pk,
                path.stat().st_size + sum(p.stat().st_size for p in others),
            )
        )
    return user, assets


def measure(options, assets, repeat):
    """processOne without upload for every asset, ``repeat`` times, in one reused page."""
    from admin_tools.runner.browser import BrowserSession, PageWorker

    async def main():
        session = BrowserSession(executable_path=options.chromium, gpu=options.gpu)
        await session.start()
        try:
            page = PageWorker(
                session,
                index=0,
                page_url=options.page_url,
                module_url=options.module_url,
                config=options.page_config("bench-splats"),
            )
            info = await page.open()
            runs = {asset["id"]: [] for asset in assets}
            for round_index in range(repeat):
                for asset in assets:
                    t0 = time.perf_counter()
                    result = await page.page.evaluate(PROCESS_SCRIPT, {"module": page.module_url, "asset": asset})
                    wall = (time.perf_counter() - t0) * 1000
                    runs[asset["id"]].append((round_index, wall, result))
            await page.close()
            return info, runs
        finally:
            await session.stop()

    return asyncio.run(main())


def main():
    args = parse_args()
    if args.quick:
        args.repeat = 1
    media_root = Path(tempfile.mkdtemp(prefix="bench-splats-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    user, created = setup_database(media_root, args)

    from django.conf import settings

    from admin_tools.runner import EmbeddedServer, ThumbnailApi
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=60, purpose="bench")
    ids = [pk for _, pk, _ in created]
    with EmbeddedServer() as server:
        api = ThumbnailApi(server.url + "/api/v1", token, runner_id="bench")
        listed = api.missing(
            limit=100,
            force=True,
            viewer_compatible_only=False,
            asset_ids=[str(pk) for pk in ids],
        )["assets"]
        by_id = {asset["id"]: asset for asset in listed}
        assets = [by_id[str(pk)] for pk in ids]
        options = headless_throughput.run_options(server.url, token, ids, args, workers=1)
        info, runs = measure(options, assets, args.repeat)

    rows = []
    width, height = settings.THUMBNAIL_RENDER_SIZE
    timeout_ms = settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS * 1000
    for label, pk, size in created:
        samples = runs[str(pk)]
        results = [result for _, _, result in samples]
        failed = [r for r in results if r.get("status") != "done"]
        warm = [r["ms"] for i, _, r in samples if i > 0 and r.get("status") == "done"]
        first = results[0]
        rows.append(
            {
                "file": label,
                "kb": round(size / 1024),
                "status": "ok" if not failed else f"{failed[0].get('reason')}",
                "first_ms": first.get("ms"),
                "warm_median_ms": round(statistics.median(warm)) if warm else None,
                "load_ms": statistics.median(r["timings"].get("load", 0) for r in results if r.get("timings")),
                "render_ms": statistics.median(r["timings"].get("render", 0) for r in results if r.get("timings")),
                "share_of_timeout": round(max(r.get("ms") or 0 for r in results) / timeout_ms, 2),
            }
        )
    columns = [
        ("file", "file"),
        ("KiB", "kb"),
        ("result", "status"),
        ("first ms", "first_ms"),
        ("warm median ms", "warm_median_ms"),
        ("load ms", "load_ms"),
        ("render ms", "render_ms"),
        ("worst / timeout", "share_of_timeout"),
    ]
    print(f"\n{info.get('rendererString', '')}, {width}x{height}, {args.repeat} renders per file\n")
    print(common.format_table(rows, columns))
    common.write_json(
        NAME + ("-gpu" if args.gpu else ""),
        {
            "machine": common.machine_info(),
            "renderer": info.get("rendererString", ""),
            "size": [width, height],
            "repeat": args.repeat,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
