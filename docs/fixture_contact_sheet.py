#!/usr/bin/env python
"""The README's contact sheet: every test fixture rendered by the real headless run, on one image.

In a temporary SQLite database and media folder (nothing of this checkout's own is touched) it
writes the generated fixtures (tests/fixtures: the sample models, one file of each mesh format,
the splat formats, an Open Brush sketch, a tall Z-up 3MF and a plain black box that must be
flagged), adds the real ones from ../shared/fixtures when present (models/ok, and every format
folder but bad/ and tilt/: the files its README says must render; brush sketches drawn with
../shared/fixtures/brushes), imports them with ``import_assets``, renders them with
``render_thumbnails`` and tiles them with ``contact_sheet``.

    make contact-sheet                                      # writes docs/contact-sheet.jpg
    .venv/bin/python docs/fixture_contact_sheet.py --out /tmp/sheet.jpg --workers 2
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "contact-sheet.jpg"
# Folders of ../shared/fixtures/formats that hold no thumbnail: broken files, bare sources.
NOT_RENDERED = {"bad", "tilt"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="The sheet (default: docs/contact-sheet.jpg).")
    parser.add_argument("--workers", default="1", help="render_thumbnails --workers (default: %(default)s).")
    parser.add_argument("--columns", default="5", help="Tiles per row (default: %(default)s).")
    parser.add_argument("--tile-width", default="300", help="Tile width in pixels (default: %(default)s).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder and print it.")
    return parser.parse_args()


def configure(work: Path):
    """Settings for a throwaway gallery in ``work``, then django.setup()."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.shared import shared_fixtures

    brushes = shared_fixtures("brushes")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "1",  # the dev-only keys; the gallery lives as long as this script
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "THUMBNAIL_DERIVATIVES_ASYNC": "0",
            "BRUSH_ASSETS_DIR": str(brushes) if brushes else "",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    return shared_fixtures


def generated_fixtures(folder: Path) -> list:
    """The generated model files (and folders) to import, written into ``folder``."""
    from tests.fixtures import gltf1, meshes, quality, splats
    from tests.fixtures.models import write_models

    ok, _bad = write_models(folder / "models")
    paths = list(ok)
    for kind in meshes.WRITERS:
        path, _colour = meshes.write(kind, folder / "formats")
        paths.append(path)
    paths += list(splats.write_all(folder / "splats").values())
    for sub in ("sketch", "quality"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    paths.append(gltf1.write_tilt_gltf2(folder / "sketch" / "open-brush-sketch.gltf"))
    paths.append(
        quality.write_3mf_box(folder / "quality" / "tall-z-up-tower.3mf", size=(10, 10, 60), colour=meshes.CYAN)
    )
    paths.append(quality.write_glb(folder / "quality" / "black-unlit-box.glb", base=(0, 0, 0), unlit=True))
    return paths


def shared_paths(shared_fixtures) -> list:
    models, formats = shared_fixtures("models", "ok"), shared_fixtures("formats")
    paths = sorted(p for p in models.iterdir() if p.is_file()) if models else []
    if formats:
        paths += sorted(p for p in formats.iterdir() if p.is_dir() and p.name not in NOT_RENDERED)
    return paths


def main():
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="icosa-contact-sheet-"))
    try:
        shared_fixtures = configure(work)
        from django.contrib.auth import get_user_model
        from django.core.management import CommandError, call_command

        call_command("migrate", verbosity=0, interactive=False)
        get_user_model().objects.create_superuser("sheet", "sheet@example.com", "sheet-password-not-secret")
        paths = generated_fixtures(work / "generated") + shared_paths(shared_fixtures)
        call_command("import_assets", *map(str, paths), verbosity=0)
        try:
            call_command("render_thumbnails", "--workers", args.workers)
        except CommandError as error:  # some fixtures failed: the sheet shows the others
            print(f"render_thumbnails: {error}", file=sys.stderr)
        shared = "generated fixtures + ../shared/fixtures" if shared_fixtures() else "generated fixtures"
        call_command(
            "contact_sheet",
            "--out",
            args.out,
            "--limit",
            "500",
            "--columns",
            args.columns,
            "--tile-width",
            args.tile_width,
            "--quality",
            "75",  # the committed sheet stays under ~400 KB
            "--title",
            f"Icosa thumbnails: {shared}, rendered by render_thumbnails (headless Chromium)",
        )
    finally:
        if args.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
