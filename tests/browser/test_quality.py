"""Thumbnails people recognise (issue 13, the page side), checked on stored thumbnails' pixels:
the gallery's presentation params (orientingRotation, colorSpace) and the up axis turn and
recolour the model; a Z-up 3MF stands upright; an unlit material with a black base colour is
drawn in its emissive colour; a capture that is still dark is stored with a quality flag; and
review mode can hold back only the flagged captures, with Turn saving the orientation.
"""

import math

import pytest
from playwright.sync_api import expect

from admin_tools.models import ThumbnailVersion
from icosa.models import Asset
from tests.fixtures import quality
from tests.fixtures.meshes import CYAN, GREEN, RED

from .pixels import assert_shows_colour, describe, hex_to_rgb, open_field

# claim, headless and headless_page are fixtures: the headless page of test_formats.py, shared.
from .test_formats import SHARED_FORMATS, SHARED_RENDER, claim, headless, headless_page, thumbnail  # noqa: F401, I001

pytestmark = pytest.mark.browser
BACKGROUND = "#e8eaed"
QUARTER_TURN_Z = {"x": 0.0, "y": 0.0, "z": math.sqrt(0.5), "w": math.sqrt(0.5)}


def subject_size(image, background=BACKGROUND, tolerance=40):
    """Width and height (pixels) of the box around everything that is not the background."""
    bg = hex_to_rgb(background)
    small = image.convert("RGB").resize((256, 160))
    data = small.tobytes()
    xs, ys = [], []
    for index in range(0, len(data), 3):
        if sum(abs(a - b) for a, b in zip(data[index : index + 3], bg, strict=True)) > tolerance:
            pixel = index // 3
            xs.append(pixel % 256)
            ys.append(pixel // 256)
    assert xs, "the thumbnail shows no subject"
    return max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def import_one(import_models, path, params=None):
    (asset,) = import_models(path)
    if params is not None:
        Asset.objects.filter(pk=asset.pk).update(presentation_params=params)
    return asset


def render_all(headless, claim, *assets):  # noqa: F811
    """Render each asset (one claim for all); (result, stored render settings) per asset."""
    jobs = claim()
    out = []
    for asset in assets:
        result = headless.call("processOne", jobs[str(asset.pk)])
        assert result["status"] == "done", result
        asset.refresh_from_db()
        out.append((result, ThumbnailVersion.objects.get(asset=asset).render_settings))
    return out


def rendered(headless, claim, asset):  # noqa: F811
    return render_all(headless, claim, asset)[0]


def test_orienting_rotation_turns_the_model_before_framing(headless, import_models, claim, tmp_path):  # noqa: F811
    standing = import_one(
        import_models, quality.write_glb(tmp_path / "standing.glb", size=(0.5, 3, 0.5), base=(0.8, 0.1, 0.1))
    )
    turned = import_one(
        import_models,
        quality.write_glb(tmp_path / "turned.glb", size=(0.5, 3, 0.5), base=(0.8, 0.1, 0.1)),
        {"orientingRotation": QUARTER_TURN_Z},
    )
    _, (_, settings) = render_all(headless, claim, standing, turned)
    width, height = subject_size(thumbnail(standing))
    assert height > 1.5 * width, (width, height)
    width, height = subject_size(thumbnail(turned))
    assert width > 1.5 * height, (width, height)
    assert settings["orienting_rotation"] == pytest.approx(QUARTER_TURN_Z, abs=1e-5)


def test_color_space_gamma_draws_the_colours_as_gamma_encoded(headless, import_models, claim, tmp_path):  # noqa: F811
    def box(name, params):
        path = quality.write_glb(tmp_path / f"{name}.glb", base=(0.8, 0.45, 0.1), unlit=True)
        return import_one(import_models, path, params)

    linear, gamma = box("linear", {"colorSpace": "LINEAR"}), box("gamma", {"colorSpace": "GAMMA"})
    (_, linear_settings), (_, gamma_settings) = render_all(headless, claim, linear, gamma)
    assert (linear_settings["color_space"], gamma_settings["color_space"]) == ("LINEAR", "GAMMA")
    linear_luma = describe(thumbnail(linear), BACKGROUND)["model_luma"]
    gamma_luma = describe(thumbnail(gamma), BACKGROUND)["model_luma"]
    print(f"\nluma LINEAR {linear_luma:.0f}, GAMMA {gamma_luma:.0f}")
    assert gamma_luma < linear_luma - 30


def test_the_up_axis_stands_a_z_up_ply_upright(headless, import_models, claim, tmp_path):  # noqa: F811
    def box(name, params):
        return import_one(
            import_models, quality.write_ply_box(tmp_path / f"{name}.ply", size=(0.5, 0.5, 3), colour=GREEN), params
        )

    default, z_up = box("default", {}), box("z-up", {"upAxis": "Z"})
    (_, default_settings), (_, z_settings) = render_all(headless, claim, default, z_up)
    assert (default_settings["up_axis"], z_settings["up_axis"]) == ("Y", "Z")
    width, height = subject_size(thumbnail(z_up))
    assert height > 1.5 * width, (width, height)
    width, height = subject_size(thumbnail(default))
    assert not height > 1.5 * width, (width, height)


def test_a_tall_z_up_3mf_comes_out_taller_than_wide(headless, import_models, claim, tmp_path):  # noqa: F811
    asset = import_one(import_models, quality.write_3mf_box(tmp_path / "tower.3mf", size=(10, 10, 60), colour=CYAN))
    _, settings = rendered(headless, claim, asset)
    width, height = subject_size(thumbnail(asset))
    assert height > 1.5 * width, (width, height)
    assert "up_axis" not in settings  # Z-up by specification: no setting decides.


def test_an_unlit_black_base_with_an_emissive_colour_is_drawn_in_it(headless, import_models, claim, tmp_path):  # noqa: F811
    path = quality.write_glb(tmp_path / "car.glb", base=(0, 0, 0), emissive=(0.86, 0.1, 0.1), unlit=True)
    asset = import_one(import_models, path)
    result, settings = rendered(headless, claim, asset)
    assert_shows_colour(thumbnail(asset), BACKGROUND, RED, label="unlit emissive")
    assert settings["emissive_as_base"] == ["paint"]
    assert settings["quality"]["flags"] == []
    assert settings["quality"] == result["quality"]


def test_a_capture_that_is_still_black_is_stored_and_flagged(headless, import_models, claim, tmp_path):  # noqa: F811
    dark = import_one(import_models, quality.write_glb(tmp_path / "dark.glb", base=(0, 0, 0), unlit=True))
    lit = import_one(import_models, quality.write_glb(tmp_path / "lit.glb", base=(0, 0, 0), roughness=1.0))
    red = import_one(import_models, quality.write_glb(tmp_path / "red.glb", base=(0.8, 0.1, 0.1)))
    for asset, (result, settings) in zip((dark, lit, red), render_all(headless, claim, dark, lit, red), strict=True):
        record = settings["quality"]
        print(f"\n{asset.name}: {record} (measured in {result['timings']['quality']} ms)")
        assert set(record) == {"coverage", "margin", "luminance", "contrast", "flags"}
        assert 0.05 < record["coverage"] < 0.9 and record["margin"] > 0.02
    assert ThumbnailVersion.objects.get(asset=dark).render_settings["quality"]["flags"] == ["dark_subject"]
    assert "dark_subject" in ThumbnailVersion.objects.get(asset=lit).render_settings["quality"]["flags"]
    assert ThumbnailVersion.objects.get(asset=red).render_settings["quality"]["flags"] == []


def test_review_only_flagged_holds_back_the_doubtful_capture_and_turn_saves_its_orientation(
    generator, import_models, tmp_path
):
    clear = import_one(import_models, quality.write_glb(tmp_path / "clear.glb", base=(0.8, 0.1, 0.1)))
    dark = import_one(
        import_models, quality.write_glb(tmp_path / "dark.glb", size=(0.5, 0.5, 3), base=(0, 0, 0), unlit=True)
    )
    generator.open()
    generator.page.get_by_label("Review only flagged captures").check()
    generator.start()

    generator.expect_current(dark.pk, "Waiting for review")
    flags = generator.page.locator("#bt-review-flags")
    expect(flags).to_have_text("Flagged: the subject is nearly black")
    assert ThumbnailVersion.objects.filter(asset=clear).count() == 1  # Unflagged: uploaded without review.
    assert not ThumbnailVersion.objects.filter(asset=dark).exists()

    image = generator.page.locator("#bt-review-image")
    first = image.get_attribute("src")
    generator.button("Turn 90°").click()
    expect(image).not_to_have_attribute("src", first)
    generator.button("Accept").click()
    assert generator.wait_until_over() == "finished"

    dark.refresh_from_db()
    saved = dark.presentation_params["orientingRotation"]
    assert saved == pytest.approx({"x": -math.sqrt(0.5), "y": 0, "z": 0, "w": math.sqrt(0.5)}, abs=1e-5)
    settings = ThumbnailVersion.objects.get(asset=dark).render_settings
    assert settings["quality"]["flags"] == ["dark_subject"]
    assert settings["orienting_rotation"] == pytest.approx(saved, abs=1e-5)
    width, height = subject_size(open_field(dark.thumbnail))
    assert height > 1.5 * width, (width, height)  # Turned upright before the capture was kept.


def subject_brightness(image, background=BACKGROUND, tolerance=24):
    """Mean brightest channel (0..1) of the pixels that differ from the background, measured
    here in Python on the stored image: an independent check of the page's measurement."""
    bg = hex_to_rgb(background)
    small = image.convert("RGB").resize((128, 80))
    data = small.tobytes()
    lumas = [
        max(data[i : i + 3])
        for i in range(0, len(data), 3)
        if sum(abs(a - b) for a, b in zip(data[i : i + 3], bg, strict=True)) > tolerance
    ]
    return sum(lumas) / len(lumas) / 255 if lumas else 0.0


def test_no_good_sample_is_stored_as_a_dark_silhouette_without_a_flag(
    headless,  # noqa: F811
    import_models,
    claim,  # noqa: F811
    settings,
    sample_models,
):
    """Every good sample (the generated ones, ../shared/fixtures/models/ok and the shared
    formats that must render, when present): a stored preview whose subject is darker than
    the threshold carries `dark_subject`, and a flagged one is really that dark."""
    paths = list(sample_models.ok)  # generated, then ../shared/fixtures/models/ok when present
    paths += [SHARED_FORMATS / relative for relative in SHARED_RENDER] if SHARED_FORMATS else []
    assets = [import_one(import_models, path) for path in paths]
    jobs = claim()
    threshold = settings.THUMBNAIL_QUALITY_DARK_BRIGHTNESS
    for path, asset in zip(paths, assets, strict=True):
        result = headless.call("processOne", jobs[str(asset.pk)])
        assert result["status"] == "done", (path.name, result)
        asset.refresh_from_db()
        record = ThumbnailVersion.objects.get(asset=asset).render_settings["quality"]
        measured = subject_brightness(open_field(asset.preview_image))
        print(f"\n{path.name}: {record} (Python brightness {measured:.3f}, {result['timings']['quality']} ms)")
        if measured < threshold - 0.02:
            assert "dark_subject" in record["flags"], (path.name, record, measured)
        if "dark_subject" in record["flags"]:
            assert measured < threshold + 0.02, (path.name, record, measured)
