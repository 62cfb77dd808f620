"""``manage.py contact_sheet``: stored thumbnails tiled on one image with captions, for any
selection of a gallery's assets; checked on the written image's pixels."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from admin_tools.models import ThumbnailVersion
from icosa.models import Format

from .conftest import make_image
from .test_derivatives import CLEAN, FLAGGED, make_asset, upload

pytestmark = pytest.mark.django_db

RED, GREEN, BLUE = (255, 0, 0), (0, 128, 0), (0, 0, 255)
TILE_WIDTH, TILE_HEIGHT, PADDING = 200, 125, 10  # THUMBNAIL_SIZE's 512x320 aspect


@pytest.fixture
def gallery(client, auth):
    """Three assets with thumbnails: a red GLB (clean), a green OBJ flagged dark, a blue GLB."""
    assets = {}
    for name, shape, quality, fmt in (
        ("Red car", "red", CLEAN, "GLB"),
        ("Dark statue", "green", FLAGGED, "OBJ"),
        ("Blue ball", "blue", CLEAN, "GLB"),
    ):
        asset = make_asset(name)
        Format.objects.filter(asset=asset).update(format_type=fmt)
        assert upload(client, auth, asset, make_image(shape=shape), quality=quality).status_code == 200
        assets[name] = asset
    return assets


def sheet(tmp_path, *args, name="sheet.png"):
    out = tmp_path / name
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "contact_sheet", "--out", str(out), "--tile-width", str(TILE_WIDTH), *args, stdout=stdout, stderr=stderr
    )
    return Image.open(out).convert("RGB"), stdout.getvalue(), stderr.getvalue()


def tile_centre(index):
    """Centre of the first row's tile ``index`` (no title): where the thumbnail's shape is."""
    return PADDING + index * (TILE_WIDTH + PADDING) + TILE_WIDTH // 2, PADDING + TILE_HEIGHT // 2


def close(pixel, colour, tolerance=60):
    return sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < tolerance


def red_share(image, box):
    """Share of strongly red pixels (the flags' text) inside ``box``."""
    data = image.crop(box).tobytes()
    data = [data[i : i + 3] for i in range(0, len(data), 3)]
    return sum(1 for r, g, b in data if r > 150 and g < 80 and b < 80) / len(data)


def test_tiles_every_current_thumbnail_in_order_with_captions(gallery, tmp_path):
    image, out, _ = sheet(tmp_path, "--columns", "3")
    assert "Wrote" in out and "3 thumbnails (1 flagged)" in out
    columns, tile_h = 3, TILE_HEIGHT
    assert image.width == columns * (TILE_WIDTH + PADDING) + PADDING
    assert image.height > tile_h + PADDING * 2  # room for a caption under each tile
    for index, colour in enumerate((RED, GREEN, BLUE)):
        assert close(image.getpixel(tile_centre(index)), colour), (index, image.getpixel(tile_centre(index)))
    # Captions: dark text under every tile; red flag text and a red frame only for the flagged one.
    caption_top = PADDING + tile_h + 2
    for index in range(3):
        left = PADDING + index * (TILE_WIDTH + PADDING)
        caption = image.crop((left, caption_top, left + TILE_WIDTH, image.height - PADDING)).convert("L")
        assert caption.getextrema()[0] < 80, index  # some text is drawn
        share = red_share(image, (left, caption_top, left + TILE_WIDTH, image.height - PADDING))
        assert (share > 0.002) == (index == 1), (index, share)
        assert close(image.getpixel((left + 1, PADDING + 1)), (197, 34, 31)) == (index == 1), index


def test_selections_needs_review_format_asset_ids_and_limit(gallery, tmp_path):
    image, out, _ = sheet(tmp_path, "--needs-review")
    assert "1 thumbnail (1 flagged)" in out and close(image.getpixel(tile_centre(0)), GREEN)
    image, out, _ = sheet(tmp_path, "--format", "glb", "--columns", "2")
    assert "2 thumbnails" in out
    assert close(image.getpixel(tile_centre(0)), RED) and close(image.getpixel(tile_centre(1)), BLUE)
    blue = gallery["Blue ball"]
    image, out, _ = sheet(tmp_path, "--asset-ids", str(blue.pk))
    assert "1 thumbnail" in out and close(image.getpixel(tile_centre(0)), BLUE)
    _, out, _ = sheet(tmp_path, "--limit", "2", name="sheet.jpg")
    assert "2 thumbnails" in out and (tmp_path / "sheet.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_only_current_versions_are_shown(client, auth, gallery, tmp_path):
    red = gallery["Red car"]
    assert upload(client, auth, red, make_image(shape="blue"), quality=CLEAN).status_code == 200
    assert ThumbnailVersion.objects.filter(asset=red).count() == 2
    image, out, _ = sheet(tmp_path, "--asset-ids", str(red.pk))
    assert "1 thumbnail" in out and close(image.getpixel(tile_centre(0)), BLUE)


def test_a_missing_thumbnail_file_is_a_placeholder_tile_and_reported(gallery, tmp_path):
    red = gallery["Red car"]
    red.refresh_from_db()
    default_storage.delete(red.thumbnail.name)
    image, out, err = sheet(tmp_path, "--columns", "3")
    assert f"Thumbnail file missing: {red.thumbnail.name}" in err and "3 thumbnails" in out
    assert not close(image.getpixel(tile_centre(0)), RED)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "sheet.gif"], "--out must end in .jpg, .png or .webp"),
        (["--out", "sheet.jpg", "--format", "GLB,NOPE"], "Unknown format type NOPE"),
        (["--out", "sheet.jpg", "--asset-ids", "12x"], "'12x' is not an asset id"),
        (["--out", "sheet.jpg", "--quality", "101"], "--quality must be between 1 and 100"),
        (["--out", "sheet.jpg", "--asset-ids", "999999"], "No stored thumbnail matches the selection"),
    ],
)
def test_bad_options_are_refused_and_write_nothing(gallery, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError, match=message):
        call_command("contact_sheet", *args)
    assert not list(tmp_path.glob("sheet.*"))
