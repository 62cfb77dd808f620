#!/usr/bin/env python
"""Side by side with peer thumbnailers: render_thumbnails against f3d and screenshot-glb.

One invocation, one model set (../shared/fixtures/models/ok plus the real GLBs under
../shared/fixtures/formats, ``--copies`` of each; the generated test models when ../shared is
absent), one output size (1280x800), one machine:

- ``manage.py render_thumbnails`` with 1 and 2 workers, as an operator runs it: a fresh
  process per run, timed from its start (Python, Django, the embedded server, Chromium) to
  its exit; first result is the first stored thumbnail (its ``thumbnail_generated_at``);
- f3d as its desktop thumbnailer runs it, one process per model:
  ``xvfb-run f3d --dry-run --resolution=W,H --output=OUT IN``; and the same with one Xvfb
  kept for the whole run (the thumbnailer of a desktop session has its X server already);
- screenshot-glb (Shopify, <model-viewer> in Puppeteer), one process per model, when
  installed (``--install-peers``).

Every image of every tool goes through one test (``common.image_quality``): present, not
uniform, subject coverage against the border colour, not a black silhouette. A missing file
is a failure. CPU ms/model is every process's CPU over the run (the tool's processes as
waited for, ``getrusage``; the one Xvfb's from /proc) divided by the models: on a machine
whose cores are all busy it is what a model costs. Prints Markdown tables; writes
bench/results/peers[-gpu][-quick].json.

    .venv/bin/python bench/peers.py --install-peers   # once: screenshot-glb into bench/.peers
    .venv/bin/python bench/peers.py                   # the full comparison (~5 min on 2 cores)
    .venv/bin/python bench/peers.py --quick           # 1 copy of each model: a smoke run
    .venv/bin/python bench/peers.py --gpu             # on a machine with a GPU
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "peers"
DB_NAME = "icosa_bench_peers"
WIDTH, HEIGHT = 1280, 800
TARGETS = {"f3d": 2.0, "screenshot-glb": 20.0}  # issue #12: our models/min over theirs
PER_MODEL_TIMEOUT = 120
PEERS_DIR = common.ROOT / "bench" / ".peers"
# model-viewer 1.12: with 4.x the poster is dismissed before screenshot-glb starts listening
# for it, so every capture times out (a race in screenshot-glb 4.2.1 with a local viewer).
PEER_PACKAGES = ("@shopify/screenshot-glb@4.2.1", "@google/model-viewer@1.12.1")
SCREENSHOT_GLB = PEERS_DIR / "node_modules" / "@shopify" / "screenshot-glb" / "dist" / "cli.js"
MODEL_VIEWER = PEERS_DIR / "node_modules" / "@google" / "model-viewer" / "dist" / "model-viewer.min.js"
INSTALL_COMMAND = (
    f"PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix bench/.peers --save-exact --no-audit --no-fund "
    f"{' '.join(PEER_PACKAGES)}"
)
# Which of the stages issue #12 names each timing of the page (pipeline.js) holds.
STAGE_CONTENTS = {
    "load": "fetch, parse, texture decode",
    "frame": "orient, bounds, scene",
    "render": "texture upload, shader compile, render, readback, JPEG encode (+ base64)",
    "quality": "subject measure on the 128 px copy",
    "upload": "POST (the raw JPEG body), server checks + derivatives, answer",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="Copies of each model (default: %(default)s).")
    parser.add_argument("--workers", default="1,2", help="render_thumbnails worker counts (default: %(default)s).")
    parser.add_argument("--quick", action="store_true", help="One copy of each model: a smoke run.")
    parser.add_argument("--gpu", action="store_true", help="GPU mode (see bench/README.md 'Peers').")
    parser.add_argument(
        "--skip", default="", help="Comma-separated tools to leave out: ours, f3d, f3d-xvfb-run, screenshot-glb."
    )
    parser.add_argument("--install-peers", action="store_true", help=f"Run `{INSTALL_COMMAND}` first.")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="Before each tool, wait up to this many seconds for other CPU load to settle (default: %(default)s).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the images (their folder is printed).")
    return parser.parse_args()


# --------------------------------------------------------------------------- models


def model_set(work):
    """[(label, path)] and where they came from: the shared samples, or generated ones."""
    ok = common.shared_fixtures("models", "ok")
    formats = common.shared_fixtures("formats")
    if ok is not None:
        files = sorted(p for p in ok.iterdir() if p.suffix.lower() in (".glb", ".gltf"))
        if formats is not None:
            files += sorted(p for p in formats.rglob("*.glb") if "bad" not in p.relative_to(formats).parts)
        return [(p.stem, p) for p in files], "../shared/fixtures (models/ok + GLBs under formats)"
    sys.path.insert(0, str(common.ROOT))
    from tests.fixtures.models import write_models

    ok_files, _ = write_models(work / "generated")
    files = [p for p in ok_files if p.is_file() and p.suffix.lower() in (".glb", ".gltf")]
    return [(p.stem, p) for p in files], "generated (tests/fixtures/models.py): ../shared not found"


def setup_database(media_root, models, copies):
    """A fresh SQLite database with every model ``copies`` times; [(asset id, label, path)]."""
    common.fresh_sqlite(DB_NAME, media_root)
    from icosa.importing import import_model

    user = common.staff_user()
    rows = []
    for n in range(copies):
        for label, path in models:
            rows.append((str(import_model(path, owner=user, name=f"{label} {n}").pk), label, path))
    return user, rows


# --------------------------------------------------------------------------- tools


def summarize(label, per_model_ms, wall_s, first_s, qualities, *, good_s=None, cpu_s=None, **extra):
    """One table row: throughput over the whole wall time, latency, and the images' quality.

    ``good_s``: the seconds spent on the models that gave a good image (a peer's timeouts
    left out); by default the whole wall time. ``cpu_s``: CPU seconds of the whole run, every
    process of it (on a machine whose cores are busy, what models/min is bought with)."""
    n = len(qualities)
    good = [q for q in qualities if q["ok"]]
    good_s = wall_s if good_s is None else good_s
    coverage = [q["coverage"] for q in qualities if q.get("coverage") is not None]
    problems = {}
    for q in qualities:
        if not q["ok"]:
            problems[q["problem"]] = problems.get(q["problem"], 0) + 1
    row = {
        "tool": label,
        "models": n,
        "failed": n - len(good),
        "wall_s": round(wall_s, 2),
        "models_per_minute": round(60 * n / wall_s, 1) if wall_s else None,
        "first_result_s": round(first_s, 2) if first_s is not None else None,
        "median_ms": round(statistics.median(per_model_ms), 1) if per_model_ms else None,
        "p95_ms": round(common.percentile(per_model_ms, 95), 1) if per_model_ms else None,
        "good_images": f"{len(good)}/{n}",
        "good": len(good),
        "s_per_good_image": round(good_s / len(good), 2) if good else None,
        "median_coverage": round(statistics.median(coverage), 3) if coverage else None,
        "problems": ", ".join(f"{k} {v}" for k, v in problems.items()),
        "cpu_s": round(cpu_s, 2) if cpu_s is not None else None,
        "cpu_ms_per_model": round(1000 * cpu_s / n) if cpu_s is not None and n else None,
    }
    row.update(extra)
    return row


def run_ours(assets, media_root, workers, args, report_dir):
    """``manage.py render_thumbnails`` for every asset, as its own process."""
    from django.utils import timezone

    from icosa.models import Asset

    ids = [pk for pk, _, _ in assets]
    report = report_dir / f"ours-{workers}w.json"
    command = [
        common.PYTHON,
        str(common.ROOT / "manage.py"),
        "render_thumbnails",
        "--user",
        common.BENCH_USERNAME,
        "--force",
        "--asset-ids",
        ",".join(ids),
        "--workers",
        str(workers),
        "--size",
        f"{WIDTH}x{HEIGHT}",
        "--json-report",
        str(report),
        "--verbosity",
        "0",
    ] + (["--gpu"] if args.gpu else [])
    env = common.child_env("sqlite", DB_NAME, conn_max_age=0, media_root=media_root)
    env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    started_at = timezone.now()
    started = time.perf_counter()
    cpu_started = common.children_cpu_seconds()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PER_MODEL_TIMEOUT * len(ids))
    wall = time.perf_counter() - started
    common.reap_orphans()
    cpu = common.children_cpu_seconds() - cpu_started
    if done.returncode not in (0, 1):  # 1: some assets failed, which the quality column shows
        raise SystemExit(f"render_thumbnails exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = json.loads(report.read_text())
    stored = {
        str(a.pk): a
        for a in Asset.objects.filter(pk__in=ids, thumbnail_generated_at__gte=started_at).only(
            "pk", "preview_image", "thumbnail_generated_at"
        )
    }
    first = min((a.thumbnail_generated_at for a in stored.values()), default=None)
    qualities = []
    for pk, label, _ in assets:
        asset = stored.get(pk)
        path = Path(media_root) / asset.preview_image.name if asset and asset.preview_image else Path("/nonexistent")
        qualities.append({"model": label, "asset_id": pk, **common.image_quality(path)})
    per_model = [a["ms"] for a in summary["assets"] if a.get("ms")]
    return summarize(
        f"render_thumbnails, {workers} worker{'s' if workers > 1 else ''}",
        per_model,
        wall,
        (first - started_at).total_seconds() if first else None,
        qualities,
        cpu_s=cpu,
        renderer=summary.get("renderer", ""),
        runner_first_result_s=summary.get("first_result_seconds"),
        runner_work_s=summary.get("work_seconds"),
        stages=[a.get("timings") or {} for a in summary["assets"]],
        images=qualities,
    )


def run_per_model(label, assets, out_dir, command_for, env=None, cwd=None, server_pid=None):
    """One process per model, one after the other; a missing output is a failure.
    ``server_pid``: a process the models share (one Xvfb), whose CPU counts too."""
    out_dir.mkdir(parents=True, exist_ok=True)
    per_model, qualities, first = [], [], None

    def cpu_so_far():
        return common.children_cpu_seconds() + ((common.process_cpu_seconds(server_pid) or 0) if server_pid else 0)

    started = time.perf_counter()
    cpu_started = cpu_so_far()
    for n, (pk, model, path) in enumerate(assets):
        out = out_dir / f"{n:03d}-{model}.png"
        t0 = time.perf_counter()
        try:
            subprocess.run(
                command_for(path, out), env=env, cwd=cwd, capture_output=True, timeout=PER_MODEL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            pass
        per_model.append(1000 * (time.perf_counter() - t0))
        if first is None and out.is_file():
            first = time.perf_counter() - started
        qualities.append({"model": model, "asset_id": pk, **common.image_quality(out)})
    wall = time.perf_counter() - started
    common.reap_orphans()  # a browser's helpers (screenshot-glb) outlive its process
    cpu = cpu_so_far() - cpu_started
    good_s = sum(ms for ms, q in zip(per_model, qualities, strict=True) if q["ok"]) / 1000
    return summarize(label, per_model, wall, first, qualities, good_s=good_s, cpu_s=cpu, images=qualities)


def f3d_command(path, out):
    return ["f3d", "--dry-run", f"--resolution={WIDTH},{HEIGHT}", f"--output={out}", str(path)]


def xvfb_run_command(path, out):
    return ["xvfb-run", "-a", "-s", f"-screen 0 {WIDTH}x{HEIGHT}x24", *f3d_command(path, out)]


class Xvfb:
    """One virtual X server for a whole run (what a desktop session already has)."""

    def __enter__(self):
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            self.display = ":" + pipe.readline().strip()
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)


F3D_GPU_NOTE = (
    "f3d 1.3.1 (Debian) is built for GLX only (no EGL/OSMesa): headless it needs an X server. "
    "Xvfb has no GPU, so without $DISPLAY f3d renders with Mesa llvmpipe on the CPU even in --gpu "
    "mode; with $DISPLAY pointing at an X server on the GPU it uses that."
)


def run_f3d_display(assets, work, args):
    """f3d in an X server that outlives the run: $DISPLAY in --gpu mode, else one Xvfb."""
    env = dict(os.environ)
    if args.gpu and env.get("DISPLAY"):
        row = run_per_model("f3d, $DISPLAY", assets, work / "f3d", f3d_command, env=env)
        row["gl_renderer"] = gl_renderer(env)
        return row
    with Xvfb() as xvfb:
        env["DISPLAY"] = xvfb.display
        row = run_per_model("f3d, one Xvfb", assets, work / "f3d", f3d_command, env=env, server_pid=xvfb.process.pid)
        row["gl_renderer"] = gl_renderer(env)
    return row


def gl_renderer(env):
    """The OpenGL renderer f3d gets on this display (glxinfo, when installed)."""
    if not shutil.which("glxinfo"):
        return "unknown (glxinfo not installed; Xvfb renders with Mesa on the CPU)"
    out = subprocess.run(["glxinfo", "-B"], env=env, capture_output=True, text=True, timeout=30).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if "OpenGL renderer" in line), "")


def screenshot_glb_command(args):
    node = shutil.which("node")
    background = _settings_background()

    def command(path, out):
        return [
            node,
            str(SCREENSHOT_GLB),
            "-i",
            str(path),
            "-o",
            str(out),
            "-w",
            str(WIDTH),
            "-h",
            str(HEIGHT),
            "-p",
            str(MODEL_VIEWER),
            "-c",
            background,
        ] + (["--enable_gpu"] if args.gpu else [])

    return command


def _settings_background():
    from django.conf import settings

    return settings.THUMBNAIL_BACKGROUND


def tool_version(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return ""


def install_peers():
    print(f"$ {INSTALL_COMMAND}", flush=True)
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
    subprocess.run(
        ["npm", "install", "--prefix", str(PEERS_DIR), "--save-exact", "--no-audit", "--no-fund", *PEER_PACKAGES],
        env=env,
        check=True,
    )


# --------------------------------------------------------------------------- report


def stage_table(row):
    """Median ms per page stage over the warm models of one render_thumbnails run."""
    stages = {}
    for timings in row["stages"][1:] or row["stages"]:
        for stage, ms in timings.items():
            stages.setdefault(stage, []).append(ms)
    return [
        {
            "stage": stage,
            "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(common.percentile(values, 95), 1),
            "holds": STAGE_CONTENTS.get(stage, ""),
        }
        for stage, values in stages.items()
    ]


def per_model_table(rows):
    """One line per model: each tool's verdict on its images (worst copy shown)."""
    models = list(dict.fromkeys(image["model"] for row in rows for image in row["images"]))
    table = []
    for model in models:
        line = {"model": model}
        for row in rows:
            images = [i for i in row["images"] if i["model"] == model]
            bad = [i for i in images if not i["ok"]]
            coverage = [i["coverage"] for i in images if i.get("coverage") is not None]
            cell = f"{statistics.median(coverage):.0%}" if coverage else "—"
            if bad:
                cell += f" {bad[0]['problem']} ({len(bad)}/{len(images)})"
            line[row["tool"]] = cell
        table.append(line)
    return table


def main():
    args = parse_args()
    if args.quick:
        args.copies = 1
    common.become_subreaper()  # every process of a tool's run is counted in its CPU column
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.install_peers:
        install_peers()
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    media_root = work / "media"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    models, source = model_set(work)
    print(f"Models: {len(models)} x {args.copies} copies from {source}", flush=True)
    _, assets = setup_database(media_root, models, args.copies)
    load = os.getloadavg()
    busy = common.cpu_busy()
    notes = []
    rows = []

    def measure(label, run):
        busy = common.wait_for_quiet(timeout=args.quiet_wait, log=print)
        print(f"== {label} (CPU busy {busy:.0%})", flush=True)
        row = run()
        row["cpu_busy_before"] = busy
        rows.append(row)

    if "ours" not in skip:
        # Untimed: one model first, so the disk cache holds Python, Django and Chromium for
        # every timed row (the peers get the same below).
        run_ours(assets[:1], media_root, 1, args, work)
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            measure(
                f"render_thumbnails, {workers} worker(s)",
                lambda workers=workers: run_ours(assets, media_root, workers, args, work),
            )

    if shutil.which("f3d") and shutil.which("Xvfb"):
        run_per_model("warm-up", assets[:1], work / "warm-up", xvfb_run_command)
        if "f3d" not in skip:
            measure("f3d, one X server for the run, a process per model", lambda: run_f3d_display(assets, work, args))
        if "f3d-xvfb-run" not in skip:
            measure(
                "f3d, xvfb-run per model (the issue's command)",
                lambda: run_per_model("f3d, xvfb-run per model", assets, work / "f3d-xvfb-run", xvfb_run_command),
            )
        if args.gpu and {"f3d", "f3d-xvfb-run"} - skip:
            notes.append(F3D_GPU_NOTE)
    else:
        notes.append("f3d or Xvfb not installed: apt-get install f3d xvfb")

    if "screenshot-glb" not in skip:
        if SCREENSHOT_GLB.is_file() and MODEL_VIEWER.is_file() and shutil.which("node"):
            from admin_tools.runner import find_chromium

            env = dict(os.environ, PUPPETEER_EXECUTABLE_PATH=find_chromium())
            subprocess.run(["node", str(SCREENSHOT_GLB), "--help"], capture_output=True, check=False)
            measure(
                "screenshot-glb, a process per model",
                lambda: run_per_model(
                    "screenshot-glb", assets, work / "screenshot-glb", screenshot_glb_command(args), env=env
                ),
            )
        else:
            notes.append(f"screenshot-glb not installed: run with --install-peers, or: {INSTALL_COMMAND}")

    columns = [
        ("tool", "tool"),
        ("models", "models"),
        ("failed", "failed"),
        ("models/min", "models_per_minute"),
        ("wall s", "wall_s"),
        ("first result s", "first_result_s"),
        ("median ms/model", "median_ms"),
        ("p95 ms/model", "p95_ms"),
        ("good images", "good_images"),
        ("s per good image", "s_per_good_image"),
        ("CPU ms/model", "cpu_ms_per_model"),
        ("median coverage", "median_coverage"),
        ("problems", "problems"),
    ]
    print()
    print(common.format_table(rows, columns))
    print()
    tools = [row["tool"] for row in rows]
    print(common.format_table(per_model_table(rows), [("model", "model")] + [(t, t) for t in tools]))

    ours = [row for row in rows if row["tool"].startswith("render_thumbnails")]
    best = max(ours, key=lambda r: r["models_per_minute"] or 0) if ours else None
    ratios = []
    if best:
        for row in rows:
            if row in ours or not row["models_per_minute"]:
                continue
            peer = "screenshot-glb" if row["tool"].startswith("screenshot-glb") else "f3d"
            ratio = round(best["models_per_minute"] / row["models_per_minute"], 2)
            good_ratio = None
            if row["s_per_good_image"] and best["s_per_good_image"]:
                good_ratio = round(row["s_per_good_image"] / best["s_per_good_image"], 2)
            verdict = "met" if ratio >= TARGETS[peer] else "NOT met"
            ratios.append(
                {"ours": best["tool"], "peer": row["tool"], "ratio": ratio, "good_ratio": good_ratio,
                 "target": TARGETS[peer], "verdict": verdict}
            )  # fmt: skip
            print(
                f"{best['tool']} vs {row['tool']}: x{ratio} models/min "
                f"(x{good_ratio} in time per good image, the peer's failures left out); target x{TARGETS[peer]}: {verdict}"
            )
        stages = stage_table(ours[0])
        print(f"\nStages of {ours[0]['tool']} (the page's own timings, median over warm models):")
        print(
            common.format_table(
                stages, [("stage", "stage"), ("median ms", "median_ms"), ("p95 ms", "p95_ms"), ("holds", "holds")]
            )
        )
        print(f"\nWebGL renderer (ours): {best.get('renderer')}")
    for row in rows:
        if row.get("gl_renderer"):
            print(f"OpenGL renderer ({row['tool']}): {row['gl_renderer']}")
    print(
        f"Load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, CPU busy {busy:.0%} ({os.cpu_count()} CPUs)"
    )
    for note in notes:
        print(f"Note: {note}")
    versions = {
        "f3d": tool_version(["f3d", "--version"]),
        "chromium": tool_version([os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium", "--version"]),
        "node": tool_version(["node", "--version"]),
        "peer_packages": list(PEER_PACKAGES),
    }
    path = common.write_json(
        NAME + ("-gpu" if args.gpu else "") + ("-quick" if args.quick else ""),
        {
            "machine": common.machine_info(),
            "load_average_at_start": load,
            "cpu_busy_at_start": busy,
            "gpu": args.gpu,
            "size": [WIDTH, HEIGHT],
            "models": {"source": source, "files": [str(p) for _, p in models], "copies": args.copies},
            "versions": versions,
            "rows": rows,
            "ratios": ratios,
            "stages": stage_table(ours[0]) if ours else [],
            "notes": notes,
        },
    )
    print(f"Wrote {path}")
    if args.keep:
        print(f"Images kept under {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    common.drop_database("sqlite", DB_NAME)


if __name__ == "__main__":
    main()
