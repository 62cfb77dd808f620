"""The texture cap (static/batch_thumbs/texture-cap.js) in Chromium: an image above the cap is
uploaded at the cap's size, in the orientation its texture asked for, and a model with a
4096² texture still shows its texture's colours, nearly pixel for pixel as without the cap."""

import base64
import io
import json

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from tests.fixtures.textures import QUADRANTS, write_textured_box

from .pixels import colour_share
from .test_headless import BACKGROUND, Headless

pytestmark = pytest.mark.browser

CAP_MODULE = "/static/batch_thumbs/texture-cap.js"


@pytest.fixture(scope="module")
def cap_page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("batch_thumbs:headless"))
    yield page
    context.close()


def listed(staff_token, asset):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    response = client.get(reverse("api:missing_thumbnails"), {"limit": 10, "force": True, "asset_ids": str(asset.pk)})
    assert response.status_code == 200, response.content
    (found,) = json.loads(response.content)["assets"]
    return found


def image_of(result):
    return Image.open(io.BytesIO(base64.b64decode(result["dataUrl"].split(",", 1)[1]))).convert("RGB")


def test_a_4096_texture_is_capped_and_still_shows_its_colours(cap_page, staff_token, import_models, tmp_path):
    (asset,) = import_models(write_textured_box(tmp_path / "big-texture.glb", 4096))
    claimed = listed(staff_token, asset)
    headless = Headless(cap_page, staff_token)  # 640×400: the cap is 1024

    capped = headless.render_only(claimed, {"returnImage": True})
    full = headless.render_only(claimed, {"returnImage": True, "textureCap": 0})

    assert capped["status"] == full["status"] == "done", (capped.get("detail"), full.get("detail"))
    assert (capped["texturesCapped"], full["texturesCapped"]) == (1, 0)
    image = image_of(capped)
    for name, colour in QUADRANTS.items():
        share = colour_share(image, BACKGROUND, colour, hue_tolerance=0.05)
        assert share > 0.08, f"only {share:.0%} of the capped model is {name}"
    a = np.asarray(image, dtype=np.float64)
    b = np.asarray(image_of(full), dtype=np.float64)
    psnr = 10 * np.log10(255**2 / max(float(np.mean((a - b) ** 2)), 1e-9))
    assert psnr > 35, f"the capped capture differs from the uncapped one: PSNR {psnr:.1f} dB"


CAP_SCRIPT = """async (module) => {
    const { Texture, DataTexture } = await import('three');
    const { capTextures } = await import(module);
    // 4096×2048, top half red, bottom half blue.
    const canvas = document.createElement('canvas');
    canvas.width = 4096; canvas.height = 2048;
    const draw = canvas.getContext('2d');
    draw.fillStyle = '#ff0000'; draw.fillRect(0, 0, 4096, 1024);
    draw.fillStyle = '#0000ff'; draw.fillRect(0, 1024, 4096, 1024);
    const topColour = (image) => {
        const probe = document.createElement('canvas');
        probe.width = image.width; probe.height = image.height;
        const context = probe.getContext('2d');
        context.drawImage(image, 0, 0);
        return Array.from(context.getImageData(Math.floor(image.width / 2), 2, 1, 1).data.slice(0, 3));
    };
    const bitmap = new Texture(await createImageBitmap(canvas));
    bitmap.flipY = false; // as GLTFLoader's ImageBitmaps
    const sharing = bitmap.clone();
    const element = new Image();
    element.src = canvas.toDataURL('image/png');
    await element.decode();
    const flipped = new Texture(element); // as TextureLoader's images: flipY true
    const small = new Texture(await createImageBitmap(canvas, {resizeWidth: 512, resizeHeight: 256}));
    const data = new DataTexture(new Uint8Array(4096 * 4 * 4), 4096, 4);
    const count = await capTextures([bitmap, sharing, flipped, small, data], 1024);
    return {
        count,
        bitmap: [bitmap.image.width, bitmap.image.height, bitmap.flipY, topColour(bitmap.image)],
        sharesTheResizedImage: sharing.image === bitmap.image,
        flipped: [flipped.image.width, flipped.image.height, flipped.flipY, topColour(flipped.image)],
        flippedRecord: flipped.userData.capped,
        small: [small.image.width, small.image.height],
        data: [data.image.width, data.image.height],
    };
}"""


def test_an_image_above_the_cap_is_resized_to_it_once_and_keeps_its_orientation(cap_page):
    out = cap_page.evaluate(CAP_SCRIPT, CAP_MODULE)

    assert out["count"] == 2  # the bitmap (shared by two textures) and the image element
    assert out["bitmap"] == [1024, 512, False, [255, 0, 0]]
    assert out["sharesTheResizedImage"]
    # The element was to be flipped on upload; the resized bitmap carries the flip instead.
    assert out["flipped"] == [1024, 512, False, [0, 0, 255]]
    assert out["flippedRecord"] == {"from": [4096, 2048], "to": [1024, 512]}
    assert out["small"] == [512, 256]
    assert out["data"] == [4096, 4]
