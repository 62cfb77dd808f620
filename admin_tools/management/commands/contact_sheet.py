"""One image of many stored thumbnails, each captioned with its asset, format and quality flags:
a quick look at what a gallery's thumbnails (or a selection of them) really look like."""

import argparse
import io
import math
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image, ImageDraw, ImageFont

from admin_tools.ids import parse_asset_ids
from admin_tools.models import ThumbnailVersion
from icosa import formats

from .prune_thumbnails import non_negative_int, plural

FONT_DIR = Path("/usr/share/fonts/truetype/liberation")  # Debian's fonts-liberation (make system)
SHEET_BACKGROUND = (250, 250, 251)
TEXT = (32, 33, 36)
MUTED = (95, 99, 104)
FLAGGED = (197, 34, 31)
MISSING_TILE = (210, 212, 215)
PADDING = 10


def positive_int(value):
    number = non_negative_int(value)
    if number == 0:
        raise argparse.ArgumentTypeError("use 1 or more")
    return number


def font(size, *, bold=False):
    """Liberation Sans when installed, else Pillow's own scalable default."""
    path = FONT_DIR / f"LiberationSans-{'Bold' if bold else 'Regular'}.ttf"
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size)


def fitted(draw, text, face, width):
    """``text`` cut with an ellipsis so it fits ``width`` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def caption(version):
    """(name, format line, flags) for a tile: the format the thumbnail was drawn from, then the
    quality flags (or "ok"), and a brush fallback or missing textures when recorded."""
    render = version.render_settings or {}
    drawn = render.get("format_type") or ", ".join(f.format_type for f in version.asset.formats.all()) or "?"
    notes = []
    if render.get("brushes") == "fallback":
        notes.append("brush fallback")
    if render.get("missing_textures"):
        notes.append(f"{plural(len(render['missing_textures']), 'missing texture')}")
    name = version.asset.name or f"asset {version.asset_id}"
    return name, " · ".join([drawn, *notes]), list(version.quality_flags or [])


def tile_image(version, size):
    """The stored card thumbnail scaled to ``size``; None when its file cannot be read."""
    try:
        with version.thumbnail.storage.open(version.thumbnail.name) as handle:
            image = Image.open(io.BytesIO(handle.read()))
            image.load()
    except Exception:
        return None
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def draw_sheet(versions, *, columns, tile_width, title=""):
    """The sheet: a grid of tiles, each the thumbnail (framed in red when flagged for review)
    with a caption under it. Returns (image, names of thumbnail files that were missing)."""
    thumb_w, thumb_h = settings.THUMBNAIL_SIZE
    tile_size = (tile_width, max(1, round(tile_width * thumb_h / thumb_w)))
    name_face, line_face = font(max(11, tile_width // 16), bold=True), font(max(10, tile_width // 19))
    line_height = round(name_face.size * 1.3)
    caption_height = line_height * 2 + 4
    cell_w, cell_h = tile_size[0] + PADDING, tile_size[1] + caption_height + PADDING
    title_face = font(max(14, tile_width // 12), bold=True)
    title_height = round(title_face.size * 1.8) if title else 0
    rows = max(1, math.ceil(len(versions) / columns))
    sheet = Image.new("RGB", (columns * cell_w + PADDING, rows * cell_h + PADDING + title_height), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PADDING, PADDING), fitted(draw, title, title_face, sheet.width - 2 * PADDING), TEXT, title_face)
    missing = []
    for index, version in enumerate(versions):
        x = PADDING + (index % columns) * cell_w
        y = PADDING + title_height + (index // columns) * cell_h
        image = tile_image(version, tile_size)
        if image is None:
            missing.append(version.thumbnail.name)
            draw.rectangle((x, y, x + tile_size[0] - 1, y + tile_size[1] - 1), fill=MISSING_TILE)
            draw.text((x + 8, y + 8), "thumbnail file missing", FLAGGED, line_face)
        else:
            sheet.paste(image, (x, y))
        if version.needs_review:
            draw.rectangle((x, y, x + tile_size[0] - 1, y + tile_size[1] - 1), outline=FLAGGED, width=3)
        name, detail, flags = caption(version)
        text_y = y + tile_size[1] + 3
        draw.text((x, text_y), fitted(draw, name, name_face, tile_size[0]), TEXT, name_face)
        detail_text = fitted(draw, detail, line_face, tile_size[0])
        draw.text((x, text_y + line_height), detail_text, MUTED, line_face)
        flag_x = x + draw.textlength(detail_text + "  ", font=line_face)
        flag_text = ", ".join(flags) if flags else "ok"
        room = x + tile_size[0] - flag_x
        if room > 20:
            draw.text(
                (flag_x, text_y + line_height),
                fitted(draw, flag_text, line_face, room),
                FLAGGED if flags else MUTED,
                line_face,
            )
    return sheet, missing


class Command(BaseCommand):
    help = (
        "Write one image of stored thumbnails (the assets' current ones), each captioned with "
        "the asset's name, the format it was drawn from and its quality flags."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="The image to write (.jpg, .png or .webp).")
        parser.add_argument("--needs-review", action="store_true", help="Only thumbnails flagged for review.")
        parser.add_argument(
            "--format",
            dest="format_types",
            help="Only assets with a format of these types (comma-separated, e.g. GLB,OBJ).",
        )
        parser.add_argument("--asset-ids", help="Only these assets (comma-separated ids).")
        parser.add_argument(
            "--limit", type=positive_int, default=120, help="At most this many tiles (default: %(default)s)."
        )
        parser.add_argument("--columns", type=positive_int, default=6, help="Tiles per row (default: %(default)s).")
        parser.add_argument(
            "--tile-width", type=positive_int, default=256, help="Tile width in pixels (default: %(default)s)."
        )
        parser.add_argument("--title", default="", help="A heading over the tiles.")
        parser.add_argument(
            "--quality", type=positive_int, default=82, help="JPEG/WebP quality, 1-100 (default: %(default)s)."
        )

    def handle(self, *, out, needs_review, format_types, asset_ids, limit, columns, tile_width, title, quality, **_):
        suffix = Path(out).suffix.lower()
        image_format = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(suffix)
        if image_format is None:
            raise CommandError(f"--out must end in .jpg, .png or .webp, not {suffix or 'nothing'!r}")
        if quality > 100:
            raise CommandError("--quality must be between 1 and 100")
        versions = ThumbnailVersion.objects.filter(is_current=True).select_related("asset")
        if needs_review:
            versions = versions.filter(needs_review=True)
        if format_types:
            wanted = [each.strip().upper() for each in format_types.split(",") if each.strip()]
            unknown = sorted(set(wanted) - set(formats.BY_TYPE))
            if unknown:
                raise CommandError(f"Unknown format type {', '.join(unknown)}")
            versions = versions.filter(asset__formats__format_type__in=wanted).distinct()
        if asset_ids:
            try:
                ids = parse_asset_ids([asset_ids])
            except ValueError as error:
                raise CommandError(str(error)) from None
            versions = versions.filter(asset_id__in=ids)
        chosen = list(versions.prefetch_related("asset__formats").order_by("asset_id")[:limit])
        if not chosen:
            raise CommandError("No stored thumbnail matches the selection; nothing written.")
        sheet, missing = draw_sheet(chosen, columns=min(columns, len(chosen)), tile_width=tile_width, title=title)
        for name in missing:
            self.stderr.write(self.style.WARNING(f"Thumbnail file missing: {name}"))
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        options = {"quality": quality, "optimize": True} if image_format == "JPEG" else {"quality": quality}
        sheet.save(out, format=image_format, **({} if image_format == "PNG" else options))
        flagged = sum(1 for version in chosen if version.needs_review)
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {out}: {plural(len(chosen), 'thumbnail')} ({flagged} flagged), "
                f"{sheet.width}x{sheet.height}, {Path(out).stat().st_size} bytes."
            )
        )
