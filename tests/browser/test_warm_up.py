"""renderer.js ``warmUp()`` in Chromium: it compiles the programs a plain and a textured glTF
material need, keeps them across assets (an asset's cleanup would otherwise free them), leaves
the canvas clear, and does nothing the second time."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.browser

WARM_SCRIPT = """async () => {
    const three = await import('three');
    const r = await import('/static/batch_thumbs/renderer.js');
    const context = r.createRenderer({width: 320, height: 200});
    const first = await r.warmUp(context);
    const gl = context.renderer.getContext();
    const pixel = (x, y) => {
        const out = new Uint8Array(4);
        gl.readPixels(x, y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, out);
        return Array.from(out.slice(0, 3));
    };
    const cleared = [pixel(160, 100), pixel(2, 2)];
    const again = await r.warmUp(context);

    // An asset: a plain and a textured standard material, as GLTFLoader makes them.
    const image = await createImageBitmap(new ImageData(new Uint8ClampedArray([255, 0, 0, 255]), 1, 1));
    const map = new three.Texture(image);
    map.flipY = false;
    map.colorSpace = three.SRGBColorSpace;
    map.needsUpdate = true;
    const model = new three.Group();
    const geometry = new three.BoxGeometry();
    model.add(new three.Mesh(geometry, new three.MeshStandardMaterial({color: 0x3366ff})));
    model.add(new three.Mesh(geometry, new three.MeshStandardMaterial({map})));
    const scene = r.createScene(model, {background: '#e8eaed', environment: context.environment});
    const camera = new three.PerspectiveCamera(45, 1.6, 0.1, 10);
    camera.position.set(0, 0, 4);
    const before = context.renderer.info.programs.length;
    await context.renderer.compileAsync(scene, camera);
    const during = context.renderer.info.programs.length;
    r.disposeScene(scene, context);
    const after = context.renderer.info.programs.length;
    context.dispose();
    return {first, again, cleared, before, during, after};
}"""


def test_warm_up_compiles_the_standard_programs_once_and_keeps_them(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("batch_thumbs:headless"))
        out = page.evaluate(WARM_SCRIPT)
    finally:
        context.close()

    assert out["first"]["programs"] >= 2, out
    assert out["again"] == {"ms": 0, "programs": out["first"]["programs"]}
    centre, corner = out["cleared"]
    assert centre == corner, f"the warm-up sphere was left on the canvas: {out['cleared']}"
    # The asset's two materials reuse the warmed programs, and its cleanup keeps them.
    assert out["during"] == out["before"], out
    assert out["after"] == out["before"], out
