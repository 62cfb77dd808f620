"""Gaussian splats through the real headless page (Spark on SwiftShader), checked by pixels.

Generated files (tests/fixtures/splats.py) always run; real files from
../shared/fixtures/formats/splat are an extra layer when that folder is present.
"""

import pytest
from playwright.sync_api import expect

from admin_tools.models import ThumbnailFailure, ThumbnailVersion
from tests.fixtures import splats
from tests.fixtures.shared import shared_fixtures

from . import test_headless
from .pixels import assert_shows_a_model, hex_to_rgb, open_field

# The headless page, its driver and the API client of test_headless, as this module's fixtures.
headless_page = test_headless.headless_page
headless = test_headless.headless
api = test_headless.api
BACKGROUND = test_headless.BACKGROUND

pytestmark = pytest.mark.browser

SHARED_SPLATS = shared_fixtures("formats", "splat")
needs_shared = pytest.mark.skipif(SHARED_SPLATS is None, reason="no ../shared/fixtures/formats/splat")


def render(headless, api, asset):
    claimed = api.claim(viewer_compatible_only=False)
    result = headless.call("processOne", claimed[str(asset.pk)])
    asset.refresh_from_db()
    return result


def colour_counts(image, background=BACKGROUND):
    """Share of the image's pixels that are clearly red, clearly blue, or not background."""
    small = image.resize((160, 100))
    bg = hex_to_rgb(background)
    data = small.tobytes()
    red = blue = model = 0
    for i in range(0, len(data), 3):
        r, g, b = data[i], data[i + 1], data[i + 2]
        if abs(r - bg[0]) + abs(g - bg[1]) + abs(b - bg[2]) > 40:
            model += 1
        if r > 140 and r > 2 * g and r > 2 * b:
            red += 1
        if b > 140 and b > 2 * r and b > 1.5 * g:
            blue += 1
    total = 160 * 100
    return {"red": red / total, "blue": blue / total, "model": model / total}


def red_and_blue_halves(image):
    """Mean x (0..1) of the red pixels and of the blue pixels."""
    small = image.resize((160, 100))
    xs = {"red": [], "blue": []}
    for y in range(100):
        for x in range(160):
            r, g, b = small.getpixel((x, y))
            if r > 140 and r > 2 * g and r > 2 * b:
                xs["red"].append(x / 160)
            if b > 140 and b > 2 * r and b > 1.5 * g:
                xs["blue"].append(x / 160)
    return {key: sum(values) / len(values) for key, values in xs.items() if values}


def object_pixels(image, background=BACKGROUND):
    """Whole-image numbers for a real capture: how much is not background, the object's mean
    colour, how varied its luminance is, how many distinct coarse colours (4 levels per
    channel) it has, and the shares of clearly green and clearly red pixels."""
    small = image.resize((160, 100))
    bg = hex_to_rgb(background)
    data = small.tobytes()
    pixels = []
    for i in range(0, len(data), 3):
        r, g, b = data[i], data[i + 1], data[i + 2]
        if abs(r - bg[0]) + abs(g - bg[1]) + abs(b - bg[2]) > 40:
            pixels.append((r, g, b))
    total = 160 * 100
    if not pixels:
        return {
            "coverage": 0,
            "mean": (0, 0, 0),
            "luma": 0,
            "luma_spread": 0,
            "colours": 0,
            "green": 0,
            "red": 0,
        }
    lumas = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in pixels]
    luma = sum(lumas) / len(lumas)
    return {
        "coverage": len(pixels) / total,
        "mean": tuple(round(sum(channel) / len(pixels)) for channel in zip(*pixels, strict=False)),
        "luma": luma,
        "luma_spread": (sum((v - luma) ** 2 for v in lumas) / len(lumas)) ** 0.5,
        "colours": len({(r // 64, g // 64, b // 64) for r, g, b in pixels}),
        "green": sum(1 for r, g, b in pixels if g > r + 40 and g > b + 40) / total,
        "red": sum(1 for r, g, b in pixels if r > g + 40 and r > b + 40) / total,
    }


@pytest.fixture
def generated(tmp_path):
    return splats.write_all(tmp_path / "splats")


@pytest.mark.parametrize(
    "suffix, format_type",
    [
        ("splat", "SPLAT"),
        ("ply", "SPLAT_PLY"),
        ("spz", "SPZ"),
        ("v4.spz", "SPZ"),
        ("ply", "PLY"),
    ],
)
def test_generated_splats_show_the_red_and_the_blue_blob(headless, api, generated, suffix, format_type):
    """Solid colour where the blobs are (not dots), framed on the blobs (the floaters 40 units
    away are ignored), red left of blue. A splat PLY typed PLY goes to Spark too."""
    asset = splats.create_asset(f"blobs {format_type}", format_type, generated[suffix])
    result = render(headless, api, asset)
    assert result["status"] == "done", result
    image = open_field(asset.thumbnail)
    info = assert_shows_a_model(image, BACKGROUND, label=format_type)
    counts = colour_counts(image)
    assert counts["red"] > 0.04 and counts["blue"] > 0.04, counts
    assert counts["model"] > 0.12, f"the blobs are specks or dots: {counts}"
    assert info["centre_coverage"] > 0.3, info
    sides = red_and_blue_halves(image)
    assert sides["red"] < 0.5 < sides["blue"], sides
    version = ThumbnailVersion.objects.get(asset=asset)
    assert version.render_settings["format_type"] == format_type


def test_every_encoding_of_the_scene_is_framed_alike(headless, api, generated):
    """One scene is one thumbnail: SPZ (right-up-back axes) and .splat/PLY (training axes) are
    shown from the same side at the same distance, none clipped at the frame's edge."""
    distances = {}
    for suffix, format_type in (("splat", "SPLAT"), ("ply", "SPLAT_PLY"), ("spz", "SPZ"), ("v4.spz", "SPZ")):
        asset = splats.create_asset(f"blobs {suffix}", format_type, generated[suffix])
        assert render(headless, api, asset)["status"] == "done"
        settings = ThumbnailVersion.objects.get(asset=asset).render_settings
        assert "clipped" not in settings["quality"]["flags"], (suffix, settings["quality"])
        camera = settings["camera"]
        distances[suffix] = sum((p - t) ** 2 for p, t in zip(camera["position"], camera["target"], strict=True)) ** 0.5
        sides = red_and_blue_halves(open_field(asset.thumbnail))
        assert sides["red"] < 0.5 < sides["blue"], (suffix, sides)
    assert max(distances.values()) < 1.05 * min(distances.values()), distances


def test_a_mesh_ply_still_goes_to_plyloader(headless, api, tmp_path):
    """No splat properties in the header: PLYLoader draws it as a mesh (untextured grey)."""
    import trimesh

    path = tmp_path / "box.ply"
    trimesh.creation.box(extents=(1, 1, 1)).export(path)
    asset = splats.create_asset("mesh ply", "PLY", path)
    result = render(headless, api, asset)
    assert result["status"] == "done", result
    image = open_field(asset.thumbnail)
    assert_shows_a_model(image, BACKGROUND, label="mesh PLY")
    counts = colour_counts(image)
    assert counts["red"] < 0.01 and counts["blue"] < 0.01


def test_a_mesh_ply_typed_as_a_splat_fails_with_a_clear_reason(headless, api, tmp_path):
    import trimesh

    path = tmp_path / "box.ply"
    trimesh.creation.box(extents=(1, 1, 1)).export(path)
    asset = splats.create_asset("mesh as splat", "SPLAT_PLY", path)
    result = render(headless, api, asset)
    assert (result["status"], result["reason"]) == ("failed", "invalid_file"), result
    assert "no Gaussian splat properties" in result["detail"]
    assert not asset.thumbnail
    assert ThumbnailFailure.objects.get(asset=asset).reason == "invalid_file"


def test_a_truncated_splat_file_fails_and_stores_nothing(headless, api, generated, tmp_path):
    broken = tmp_path / "broken.spz"
    broken.write_bytes(generated["spz"].read_bytes()[:40])
    asset = splats.create_asset("broken spz", "SPZ", broken)
    result = render(headless, api, asset)
    assert result["status"] == "failed", result
    assert result["reason"] in {"invalid_file", "load_error"}, result
    assert not asset.thumbnail


# Real files ----------------------------------------------------------------------------------

# file (relative to splat/) and the format type it is imported as; guitar.compressed.ply as a
# plain PLY, so the PLY loader's header sniff must hand it to Spark.
REAL = {
    "fruit_drops_minimal.ply": "SPLAT_PLY",
    "guitar.compressed.ply": "PLY",
    "biker.spz": "SPZ",
    "luma-seal.splat": "SPLAT",
    "wave_0001.sog": "SOG",
}
# What each subject looks like, where its colours say something (the seal on its stone and the
# label are greys and creams: their detail is checked by the luminance spread).
LOOKS = {
    "biker.spz": ("a rider in dark leather", lambda s: s["luma"] < 100),
    "guitar.compressed.ply": (
        "warm brown wood",
        lambda s: s["mean"][0] > s["mean"][2] + 15,
    ),
    "wave_0001.sog": (
        "a green and red surface",
        lambda s: s["green"] > 0.02 and s["red"] > 0.02,
    ),
}
REAL_MIN = {
    "pc_short.ply": "SPLAT_PLY",
    "minimal-v2.spz": "SPZ",
    "minimal.ksplat": "KSPLAT",
}


@needs_shared
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_splats_show_their_object(headless, api, name):
    asset = splats.create_asset(name, REAL[name], SHARED_SPLATS / name)
    result = render(headless, api, asset)
    assert result["status"] == "done", result
    stats = object_pixels(open_field(asset.thumbnail))
    # The object fills a fair part of the frame (tall thin subjects, the guitar and the biker,
    # fill its height but not its width) and is drawn with detail, not as one smooth blur.
    assert stats["coverage"] > 0.04, (name, stats)
    assert stats["luma_spread"] > 12, (name, stats)
    assert stats["colours"] >= 6, (name, stats)
    if name in LOOKS:
        description, looks_right = LOOKS[name]
        assert looks_right(stats), f"{name} should show {description}: {stats}"


@needs_shared
def test_unbundled_sog_resolves_its_webp_files_from_the_asset(headless, api):
    folder = SHARED_SPLATS / "playbot-lod6-sog"
    asset = splats.create_asset("playbot", "SOG", folder / "meta.json", *sorted(folder.glob("*.webp")))
    result = render(headless, api, asset)
    assert result["status"] == "done", result
    assert_shows_a_model(open_field(asset.thumbnail), BACKGROUND, label="playbot")


@needs_shared
def test_unbundled_sog_without_its_webp_files_fails_naming_them(headless, api):
    folder = SHARED_SPLATS / "playbot-lod6-sog"
    asset = splats.create_asset("playbot alone", "SOG", folder / "meta.json", folder / "sh0.webp")
    result = render(headless, api, asset)
    assert (result["status"], result["reason"]) == ("failed", "missing_resource"), result
    assert "means_l.webp" in result["detail"] and "sh0.webp" not in result["detail"]


@needs_shared
@pytest.mark.parametrize("name", sorted(REAL_MIN))
def test_tiny_real_splats_render_non_blank(headless, api, name):
    asset = splats.create_asset(name, REAL_MIN[name], SHARED_SPLATS / name)
    result = render(headless, api, asset)
    assert result["status"] == "done", result
    assert asset.thumbnail


SPY_ON_SPARK = """async () => {
    const { SparkRenderer, SplatMesh } = await import('@sparkjsdev/spark');
    const counts = globalThis.__sparkCounts = { meshes: 0, renderers: 0 };
    for (const [cls, key] of [[SplatMesh, 'meshes'], [SparkRenderer, 'renderers']]) {
        const dispose = cls.prototype.dispose;
        cls.prototype.dispose = function () { counts[key] += 1; return dispose.call(this); };
    }
}"""


def test_splat_data_is_freed_after_each_asset(headless, api, generated, headless_page):
    """Each asset's SplatMesh (its splat textures) is disposed with the asset; the run's one
    SparkRenderer never is; and GPU memory is the same after the third asset as after the
    second."""
    headless_page.evaluate(SPY_ON_SPARK)
    assets = [splats.create_asset(f"blobs {n}", "SPZ", generated["spz"]) for n in range(3)]
    claimed = api.claim(viewer_compatible_only=False)
    counts = []
    for asset in assets:
        result = headless.call("processOne", claimed[str(asset.pk)], {"upload": False, "report": False})
        assert result["status"] == "done", result
        memory = headless.call("memory")
        counts.append((memory["geometries"], memory["textures"]))
    assert counts[1] == counts[2], counts
    disposed = headless_page.evaluate("() => globalThis.__sparkCounts")
    assert disposed == {"meshes": 3, "renderers": 0}, disposed


def test_the_admin_page_draws_splats_and_a_retake_waits_for_the_new_sort(generator, generated):
    """The generator page (its own renderer, the same modules): review mode's Retake moves
    the camera, so Spark must sort again before the capture; the accepted one shows both
    blobs."""
    asset = splats.create_asset("blobs on the admin page", "SPZ", generated["v4.spz"])
    generator.open()
    generator.page.get_by_label("Viewer-compatible only").set_checked(False)
    generator.configure(review=True)
    generator.start()

    image = generator.page.locator("#bt-review-image")
    expect(generator.page.locator("#bt-review")).to_be_visible(timeout=60_000)
    first_capture = image.get_attribute("src")
    generator.button("Retake (another angle)").click()
    expect(image).not_to_have_attribute("src", first_capture, timeout=60_000)
    generator.button("Accept").click()
    assert generator.wait_until_over() == "finished"

    asset.refresh_from_db()
    counts = colour_counts(open_field(asset.thumbnail))
    assert counts["red"] > 0.04 and counts["blue"] > 0.04, counts
    assert counts["model"] > 0.12, counts
