"""The import map that lets ES modules say ``import * as THREE from "three"`` (and import Spark)."""

import json

from django.templatetags.static import static


def three_import_map():
    return json.dumps(
        {
            "imports": {
                "three": static("vendor/three/build/three.module.js"),
                "three/addons/": static("vendor/three/examples/jsm/"),
                "@sparkjsdev/spark": static("vendor/spark/spark.module.js"),
            }
        }
    ).replace("</", "<\\/")


def decoder_paths():
    return {
        "draco": static("vendor/three/examples/jsm/libs/draco/gltf/"),
        "basis": static("vendor/three/examples/jsm/libs/basis/"),
    }
