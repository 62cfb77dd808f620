"""Compiled programs in Chromium: renderer.js ``warmUp()`` compiles the programs a plain and a
textured glTF material need, keeps them across assets (an asset's cleanup would otherwise free
them), leaves the canvas clear and does nothing the second time; and ``disposeScene`` keeps one
material per program, so the next asset with the same (brush) shader compiles nothing, while
the asset's textures and geometry are still freed."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.browser

WARM_SCRIPT = """async () => {
    const three = await import('three');
    const r = await import('/static/batch_thumbs/renderer.js');
    const {loadEnvironment} = await import('/static/batch_thumbs/environment.js');
    const context = r.createRenderer({width: 320, height: 200, environment: (await loadEnvironment()).baked});
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


KEEP_SCRIPT = """async () => {
    const three = await import('three');
    const r = await import('/static/batch_thumbs/renderer.js');
    const {loadEnvironment} = await import('/static/batch_thumbs/environment.js');
    const context = r.createRenderer({width: 320, height: 200, environment: (await loadEnvironment()).baked});
    const camera = new three.PerspectiveCamera(45, 1.6, 0.1, 10);
    camera.position.set(0, 0, 4);
    const vertexShader = 'varying vec2 vUv; void main() { vUv = uv; '
        + 'gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0); }';
    const fragmentShader = 'uniform sampler2D tex; varying vec2 vUv; '
        + 'void main() { gl_FragColor = texture2D(tex, vUv); }';
    const sketch = () => {
        // A brush-like shader material with its own texture, new objects for every asset.
        const tex = new three.DataTexture(new Uint8Array([0, 200, 0, 255]), 1, 1);
        tex.needsUpdate = true;
        const material = new three.ShaderMaterial({vertexShader, fragmentShader, uniforms: {tex: {value: tex}}});
        return r.createScene(new three.Mesh(new three.BoxGeometry(), material), {environment: context.environment});
    };
    const info = context.renderer.info;
    const baseline = info.memory.textures;
    const counts = [];
    for (let i = 0; i < 2; i++) {
        const scene = sketch();
        const compiled = info.programs.length;
        context.renderer.compile(scene, camera);
        context.renderer.render(scene, camera);
        counts.push({newPrograms: info.programs.length - compiled});
        r.disposeScene(scene, context);
        counts[i].texturesLeft = info.memory.textures - baseline;
        counts[i].geometriesLeft = info.memory.geometries;
    }
    const kept = context.keptPrograms.size;
    context.dispose();
    return {counts, kept};
}"""


def test_a_program_outlives_its_asset_but_the_asset_textures_do_not(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("batch_thumbs:headless"))
        out = page.evaluate(KEEP_SCRIPT)
    finally:
        context.close()

    first, second = out["counts"]
    assert first["newPrograms"] == 1
    assert second["newPrograms"] == 0, "the second sketch compiled its brush program again"
    assert out["kept"] == 1
    for each in out["counts"]:
        assert (each["texturesLeft"], each["geometriesLeft"]) == (0, 0), each


DROP_SCRIPT = """async () => {
    const three = await import('three');
    const r = await import('/static/batch_thumbs/renderer.js');
    const {loadEnvironment} = await import('/static/batch_thumbs/environment.js');
    const context = r.createRenderer({width: 320, height: 200, environment: (await loadEnvironment()).baked});
    const camera = new three.PerspectiveCamera(45, 1.6, 0.1, 10);
    camera.position.set(0, 0, 4);
    const map = new three.Texture(await createImageBitmap(new ImageData(new Uint8ClampedArray(4 * 64), 8, 8)));
    map.needsUpdate = true;
    const material = new three.MeshStandardMaterial({map});
    const scene = r.createScene(new three.Mesh(new three.BoxGeometry(), material), {environment: context.environment});
    context.renderer.render(scene, camera);
    r.disposeScene(scene, context);
    const kept = [...context.keptPrograms.values()].includes(material);
    const uniforms = context.renderer.properties.get(material).uniforms;
    const out = {kept, map: material.map, uniformMap: uniforms.map.value, bitmapWidth: map.image.width};
    context.dispose();
    return out;
}"""


def test_a_kept_material_lets_go_of_its_textures(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("batch_thumbs:headless"))
        out = page.evaluate(DROP_SCRIPT)
    finally:
        context.close()

    assert out["kept"]
    assert (out["map"], out["uniformMap"]) == (None, None)
    assert out["bitmapWidth"] == 0  # the asset's ImageBitmap was closed all the same
