"""What the renderer pages load: the import map that lets ES modules say
``import * as THREE from "three"`` (and import Spark), the decoders and the baked environment
(environment.js)."""

import json

from django.templatetags.static import static

# Bare specifier (or prefix) -> static path.
IMPORTS = {
    "three": "vendor/three/build/three.module.js",
    "three/addons/": "vendor/three/examples/jsm/",
    "@sparkjsdev/spark": "vendor/spark/spark.module.js",
}
#: The studio environment baked by ``manage.py bake_environment``, read by environment.js.
ENVIRONMENT_FILE = "batch_thumbs/environment/room.bin"


def three_import_map():
    return json.dumps({"imports": {name: static(path) for name, path in IMPORTS.items()}}).replace("</", "<\\/")


def environment_url():
    return static(ENVIRONMENT_FILE)


def decoder_paths():
    return {
        "draco": static("vendor/three/examples/jsm/libs/draco/gltf/"),
        "basis": static("vendor/three/examples/jsm/libs/basis/"),
    }
