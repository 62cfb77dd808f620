"""Pixel checks on stored thumbnails: a file existing proves nothing, its pixels do."""

from PIL import Image, ImageStat


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


def open_field(field) -> Image.Image:
    field.open("rb")
    try:
        image = Image.open(field)
        image.load()
    finally:
        field.close()
    return image.convert("RGB")


def model_pixels(image: Image.Image, background: str, tolerance: int = 40) -> list[tuple[int, int, int]]:
    """Pixels of the central half of the image that are clearly not the background."""
    bg = hex_to_rgb(background)
    w, h = image.size
    centre = image.crop((w // 4, h // 4, w * 3 // 4, h * 3 // 4)).resize((64, 40))
    data = centre.tobytes()
    pixels = (tuple(data[i : i + 3]) for i in range(0, len(data), 3))
    return [p for p in pixels if sum(abs(a - b) for a, b in zip(p, bg, strict=True)) > tolerance]


def describe(image: Image.Image, background: str) -> dict:
    """Numbers a test can assert on: spread, how much of the centre is model, its colour."""
    small = image.resize((128, 80))
    spread = max(ImageStat.Stat(small).stddev)
    pixels = model_pixels(image, background)
    centre_total = 64 * 40
    mean = tuple(sum(channel) / len(pixels) for channel in zip(*pixels, strict=True)) if pixels else (0, 0, 0)
    return {
        "spread": spread,
        "centre_coverage": len(pixels) / centre_total,
        "model_mean": mean,
        "model_luma": 0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2],
    }


def assert_shows_a_model(image: Image.Image, background: str, *, label: str = "") -> dict:
    """Not uniform, and a good part of the centre differs from the background colour."""
    info = describe(image, background)
    assert info["spread"] > 8, f"{label}: image is nearly uniform ({info})"
    assert info["centre_coverage"] > 0.15, f"{label}: the centre is mostly background ({info})"
    return info


def colour_share(
    image: Image.Image, background: str, colour: tuple[int, int, int], *, hue_tolerance: float = 0.07
) -> float:
    """Share of the model's pixels whose hue is ``colour``'s (lighting changes brightness, not hue)."""
    import colorsys

    target_hue, _, _ = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    pixels = model_pixels(image, background)
    if not pixels:
        return 0.0
    matching = 0
    for pixel in pixels:
        hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255 for c in pixel))
        distance = min(abs(hue - target_hue), 1 - abs(hue - target_hue))
        matching += saturation > 0.3 and value > 0.12 and distance < hue_tolerance
    return matching / len(pixels)


def assert_shows_colour(
    image: Image.Image, background: str, colour, *, label: str = "", min_share: float = 0.3, min_coverage: float = 0.15
) -> dict:
    """A model is drawn and a good part of it has ``colour``'s hue (not grey, not black)."""
    info = describe(image, background)
    assert info["spread"] > 8, f"{label}: image is nearly uniform ({info})"
    assert info["centre_coverage"] > min_coverage, f"{label}: the centre is mostly background ({info})"
    share = colour_share(image, background, colour)
    assert share >= min_share, f"{label}: only {share:.0%} of the model has the colour {colour} ({info})"
    return {**info, "colour_share": share}
