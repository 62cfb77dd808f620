#!/usr/bin/env python
"""What a turntable preview costs per model (issue 13): page render time of N frames and the
server's assembly into an animated WebP.

Generated models (the demo set and the tests' lopsided model) plus, when ../shared/fixtures
exists, its sample models go into a fresh SQLite database. One reused headless page (as the
runner keeps it) renders each model with ``processOne`` (upload included, against the
runner's embedded server) at the production render size, once without a turntable and once
per frame count; the cost of N frames is the difference in wall time per model, split into
the page's orbit render (``timings.turntable``) and the frames' upload round trip
(``timings.turntableUpload``: the request, the server's checks and WebP assembly, the write).
The server's assembly alone is then timed in-process on frames like the page's (the stored
WebP's frames re-encoded as JPEG at the capture quality).

    .venv/bin/python bench/turntable.py                 # ~3 min on 2 CPU cores (SwiftShader)
    .venv/bin/python bench/turntable.py --gpu           # on a machine with a GPU
    .venv/bin/python bench/turntable.py --quick         # smoke run: 2 models, 8 frames, once

Results: a table on stdout and bench/results/turntable[-gpu].json.
"""

import argparse
import asyncio
import base64
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import headless_throughput  # noqa: E402

NAME = "turntable"
DB_NAME = "icosa_bench_turntable"
PROCESS_SCRIPT = """async ({module, asset, options}) => {
    const headless = await import(module);
    return headless.processOne(asset, options);
}"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="8,24,36", help="Frame counts to measure (default: %(default)s).")
    parser.add_argument("--models", type=int, default=6, help="Generated demo models (default: %(default)s).")
    parser.add_argument("--repeat", type=int, default=2, help="Renders per model and count (default: %(default)s).")
    parser.add_argument("--gpu", action="store_true", help="GPU flags instead of SwiftShader.")
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).")
    parser.add_argument("--quick", action="store_true", help="Two models, 8 frames, one render each.")
    return parser.parse_args()


def setup_database(media_root, args):
    """A fresh SQLite database; returns (user, [asset id])."""
    common.fresh_sqlite(DB_NAME, media_root)
    from icosa.demo import write_demo_models
    from icosa.importing import import_model
    from tests.fixtures.turntable import lopsided_model

    user = common.staff_user()
    work = Path(media_root).parent
    (work / "lopsided").mkdir(parents=True)
    paths = [lopsided_model(work / "lopsided"), *write_demo_models(work / "models", count=args.models)]
    shared = common.shared_fixtures("models", "ok")
    if shared and not args.quick:
        paths += sorted(p for p in shared.iterdir() if p.is_file())
    return user, [import_model(path, owner=user).pk for path in paths]


def measure(options, assets, counts, repeat):
    """Each asset with each frame count (0 first), ``repeat`` rounds, in one reused page."""
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
                config=options.page_config(0),
            )
            info = await page.open()
            warm = {"module": page.module_url, "asset": assets[0], "options": {}}
            await page.page.evaluate(PROCESS_SCRIPT, warm)  # compile shaders before timing
            runs = []
            for round_index in range(repeat):
                for asset in assets:
                    for count in counts:
                        payload = {"module": page.module_url, "asset": asset, "options": {"turntable": count}}
                        t0 = time.perf_counter()
                        result = await page.page.evaluate(PROCESS_SCRIPT, payload)
                        runs.append((round_index, asset["id"], count, (time.perf_counter() - t0) * 1000, result))
            await page.close()
            return info, runs
        finally:
            await session.stop()

    return asyncio.run(main())


def assembly_times(counts, repeat):
    """In-process ``assemble`` on frames like the page's: the largest stored WebP's frames as
    JPEG at the capture quality, cycled to ``count``."""
    from django.conf import settings
    from PIL import Image, ImageSequence

    from admin_tools.models import ThumbnailDerivative
    from admin_tools.turntable import assemble

    row = ThumbnailDerivative.objects.filter(kind="turntable").order_by("-bytes").first()
    if row is None:
        return {}
    with row.file.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        pictures = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
    out = {}
    for count in counts:
        frames = []
        for index in range(count):
            buffer = io.BytesIO()
            pictures[index % len(pictures)].save(buffer, format="JPEG", quality=settings.THUMBNAIL_JPEG_QUALITY)
            frames.append("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode())
        samples = []
        for _ in range(max(3, repeat)):
            t0 = time.perf_counter()
            made = assemble(frames)
            samples.append((time.perf_counter() - t0) * 1000)
        out[count] = {
            "assemble_ms": round(statistics.median(samples), 1),
            "request_kib": round(sum(len(f) for f in frames) / 1024),
            "webp_kib": round(made.size / 1024, 1),
        }
    return out


def main():
    args = parse_args()
    counts = [8] if args.quick else [int(n) for n in args.frames.split(",") if n.strip()]
    if args.quick:
        args.models, args.repeat = 1, 1
    media_root = Path(tempfile.mkdtemp(prefix="bench-turntable-")) / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    user, ids = setup_database(media_root, args)

    from django.conf import settings

    from admin_tools.runner import EmbeddedServer, ThumbnailApi
    from icosa.jwt_auth import mint_token

    token = mint_token(user=user, minutes=60, purpose="bench")
    busy = common.wait_for_quiet(timeout=30, log=print)
    with EmbeddedServer() as server:
        api = ThumbnailApi(server.url + "/api/v1", token, runner_id="bench-turntable")
        listed = api.missing(limit=100, force=True, viewer_compatible_only=False, asset_ids=[str(pk) for pk in ids])
        by_id = {asset["id"]: asset for asset in listed["assets"]}
        assets = [by_id[str(pk)] for pk in ids if str(pk) in by_id]
        options = headless_throughput.run_options(server.url, token, ids, args, workers=1)
        options.runner_name = "bench-turntable"
        info, runs = measure(options, assets, [0, *counts], args.repeat)
    busy_after = common.cpu_busy()

    failed = [r for *_, r in runs if r.get("status") != "done" or r.get("turntableError")]
    base = {}
    for _, asset_id, count, wall, result in runs:
        if count == 0 and result.get("status") == "done":
            base.setdefault(asset_id, []).append(wall)
    base_ms = {asset_id: statistics.median(walls) for asset_id, walls in base.items()}
    assembly = assembly_times(counts, args.repeat)
    rows = [
        {
            "frames": 0,
            "models": len(base_ms),
            "wall_ms": round(statistics.median(base_ms.values())),
            "extra_ms": 0,
        }
    ]
    for count in counts:
        done = [(a, w, r) for _, a, c, w, r in runs if c == count and r.get("turntable") and a in base_ms]
        if not done:
            continue
        rows.append(
            {
                "frames": count,
                "models": len({a for a, _, _ in done}),
                "wall_ms": round(statistics.median(w for _, w, _ in done)),
                "extra_ms": round(statistics.median(w - base_ms[a] for a, w, _ in done)),
                "render_ms": round(statistics.median(r["timings"]["turntable"] for _, _, r in done)),
                "per_frame_ms": round(statistics.median(r["timings"]["turntable"] / count for _, _, r in done), 1),
                "upload_ms": round(statistics.median(r["timings"]["turntableUpload"] for _, _, r in done)),
                "webp_kib": round(statistics.median(r["turntable"]["bytes"] for _, _, r in done) / 1024, 1),
                **{k: v for k, v in assembly.get(count, {}).items() if k != "webp_kib"},
            }
        )
    columns = [
        ("frames", "frames"),
        ("models", "models"),
        ("wall ms / model", "wall_ms"),
        ("extra ms", "extra_ms"),
        ("orbit render ms", "render_ms"),
        ("ms / frame", "per_frame_ms"),
        ("frames upload ms", "upload_ms"),
        ("server assembly ms", "assemble_ms"),
        ("request KiB", "request_kib"),
        ("WebP KiB", "webp_kib"),
    ]
    width, height = settings.THUMBNAIL_RENDER_SIZE
    tw, th = settings.THUMBNAIL_TURNTABLE_SIZE
    print(
        f"\n{info.get('rendererString', '')}; still {width}x{height}, turntable frames {tw}x{th}; "
        f"{args.repeat} rounds; CPU busy before {busy:.0%}, after {busy_after:.0%}\n"
    )
    print(common.format_table(rows, columns))
    if failed:
        print(f"\n{len(failed)} renders failed or stored no turntable: {failed[0].get('detail') or failed[0]}")
    common.write_json(
        NAME + ("-gpu" if args.gpu else ""),
        {
            "machine": common.machine_info(),
            "renderer": info.get("rendererString", ""),
            "size": [width, height],
            "turntable_size": [tw, th],
            "repeat": args.repeat,
            "cpu_busy": [busy, busy_after],
            "failed": len(failed),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
