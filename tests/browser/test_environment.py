"""The baked studio environment (environment.js, ``manage.py bake_environment``).

Prefiltering RoomEnvironment took seconds of SwiftShader time at every page start, so it is
baked into static/batch_thumbs/environment/room.bin. These tests hold the file to the light it
replaces: it is the one for this three.js, lights metallic and rough surfaces exactly as the
prefilter does (three samples a cube texture mirrored in x, a render target not: a mistake
there shows up as different reflections), the headless page uses it, and a missing, damaged
or outdated file falls back to prefiltering with the reason given.
"""

import numpy as np
import pytest
from django.urls import reverse

pytestmark = pytest.mark.browser

FLOAT_TYPE = 1015  # three.FloatType

# Two spheres (a mirror-like metal and a rough one) and a matte box, lit by one environment;
# the pixels come back as a flat array.
COMPARE_SCRIPT = """async () => {
    const three = await import('three');
    const r = await import('/static/batch_thumbs/renderer.js');
    const e = await import('/static/batch_thumbs/environment.js');
    const loaded = await e.loadEnvironment();
    const context = r.createRenderer({width: 240, height: 150, environment: loaded.baked});
    const generated = e.createEnvironment(context.renderer).texture;
    const model = new three.Group();
    const sphere = new three.SphereGeometry(1, 48, 32);
    const standard = (options) => new three.MeshStandardMaterial(options);
    const shiny = new three.Mesh(sphere, standard({metalness: 1, roughness: 0.05}));
    const rough = new three.Mesh(sphere, standard({metalness: 1, roughness: 0.6, color: 0xffcc88}));
    const matte = new three.Mesh(new three.BoxGeometry(1.4, 1.4, 1.4), standard({color: 0x88aaff}));
    shiny.position.x = -2.3;
    matte.position.x = 2.3;
    matte.rotation.set(0.5, 0.7, 0);
    model.add(shiny, rough, matte);
    const camera = new three.PerspectiveCamera(40, 1.6, 0.1, 50);
    camera.position.set(0, 0.8, 7);
    camera.lookAt(0, 0, 0);
    const gl = context.renderer.getContext();
    const draw = (environment) => {
        const scene = r.createScene(model, {background: '#e8eaed', environment});
        context.renderer.render(scene, camera);
        const pixels = new Uint8Array(240 * 150 * 4);
        gl.readPixels(0, 0, 240, 150, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
        return Array.from(pixels);
    };
    const half = e.environmentTexture(loaded.baked, {float: false});
    const out = {
        source: context.environmentSource,
        type: context.environment.type,
        note: loaded.note,
        baked: draw(context.environment),
        half: draw(half),
        generated: draw(generated),
        none: draw(null),
    };
    generated.dispose();
    half.dispose();
    context.dispose();
    return out;
}"""

SETUP_SCRIPT = """async () => {
    const headless = await import('/static/batch_thumbs/headless.js');
    return headless.setup({warmUp: false, width: 64, height: 40});
}"""

REFUSE_SCRIPT = """async () => {
    const e = await import('/static/batch_thumbs/environment.js');
    const bytes = await e.readBakedFile(e.BAKED_ENVIRONMENT_URL);
    const length = new DataView(bytes.buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
    const withHeader = (changes) => {
        const text = new TextEncoder().encode(JSON.stringify({...header, ...changes}));
        const out = new Uint8Array(4 + text.length + bytes.length - 4 - length);
        new DataView(out.buffer).setUint32(0, text.length, true);
        out.set(text, 4);
        out.set(bytes.subarray(4 + length), 4 + text.length);
        return out;
    };
    const notes = {};
    for (const [name, data] of Object.entries({
        other_three: withHeader({three: '150'}),
        other_format: withHeader({format: 'something-else'}),
        truncated: bytes.subarray(0, bytes.length - 6),
        no_header: new Uint8Array([255, 0, 0, 0, 1, 2]),
        empty: new Uint8Array(0),
    })) {
        const decoded = e.decodeEnvironment(data);
        notes[name] = {texture: decoded.baked !== null, note: decoded.note};
    }
    const missing = await e.loadEnvironment({url: '/static/batch_thumbs/environment/missing.bin'});
    notes.missing = {texture: missing.baked !== null, note: missing.note};
    const garbage = await e.loadEnvironment({url: '/static/batch_thumbs/headless.js'});
    notes.not_gzip = {texture: garbage.baked !== null, note: garbage.note};
    return notes;
}"""


def in_headless_page(browser, live_server, script):
    """What ``script`` returns in a fresh headless page."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(live_server.url + reverse("batch_thumbs:headless"))
        return page.evaluate(script)
    finally:
        context.close()


def as_image(flat):
    return np.asarray(flat, dtype=np.int16).reshape(150, 240, 4)[:, :, :3]


def test_the_baked_environment_lights_every_surface_as_the_prefilter_does(browser, live_server):
    out = in_headless_page(browser, live_server, COMPARE_SCRIPT)

    assert out["source"] == "baked", out["note"]
    assert out["note"] == ""
    assert out["type"] == FLOAT_TYPE  # SwiftShader filters float32 textures
    generated, unlit = as_image(out["generated"]), as_image(out["none"])
    # The environment is what lights these materials: without it the metal is nearly black.
    assert np.abs(generated - unlit).mean() > 10
    for name in ("baked", "half"):
        difference = np.abs(as_image(out[name]) - generated)
        assert difference.max() <= 2, f"{name} and prefiltered light differ by up to {difference.max()}"
        assert difference.mean() < 0.05, name


def test_the_headless_page_starts_with_the_baked_environment(browser, live_server):
    info = in_headless_page(browser, live_server, SETUP_SCRIPT)

    assert info["environment"] == "baked"
    assert "environmentNote" not in info


def test_a_damaged_missing_or_outdated_file_is_refused_with_its_reason(browser, live_server):
    notes = in_headless_page(browser, live_server, REFUSE_SCRIPT)

    assert not any(entry["texture"] for entry in notes.values()), notes
    assert "r150" in notes["other_three"]["note"] and "bake_environment" in notes["other_three"]["note"]
    assert "format" in notes["other_format"]["note"]
    assert "truncated" in notes["truncated"]["note"]
    assert "truncated" in notes["no_header"]["note"]
    assert "empty" in notes["empty"]["note"]
    assert "404" in notes["missing"]["note"]
    assert "could not be read" in notes["not_gzip"]["note"]
