"""The one format table: every format type a gallery holds, how it is recognised, and whether
and in which order the renderer draws it.

Everything else reads this table: ``Format.FormatType`` (the model's choices),
``is_viewer_compatible``, the listing's format order, ``import_assets`` and the generator
page (``page_config()`` is emitted into its config, so the JavaScript keeps no list of its own).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FormatSpec:
    type: str  # Format.format_type
    name: str  # The FormatType member (a Python identifier: "3DS" is TDS)
    label: str
    suffixes: tuple  # File suffixes that may hold it (content decides where several match)
    family: str  # The JS loader module that draws it
    drawable: bool  # False: a source format, never drawn (a sibling format is used)


# Most preferred first: the renderer tries an asset's drawable formats in this order.
FORMATS = (
    FormatSpec("GLB", "GLB", "GLB", (".glb",), "gltf", True),
    FormatSpec("GLTF2", "GLTF2", "glTF 2.0", (".gltf",), "gltf", True),
    FormatSpec("GLTF1", "GLTF1", "glTF 1.0", (".gltf",), "gltf1", True),
    FormatSpec("OBJ", "OBJ", "OBJ", (".obj",), "obj", True),
    FormatSpec("SPZ", "SPZ", "SPZ splat", (".spz",), "splat", True),
    FormatSpec("SPLAT", "SPLAT", "SPLAT splat", (".splat",), "splat", True),
    FormatSpec("KSPLAT", "KSPLAT", "KSPLAT splat", (".ksplat",), "splat", True),
    FormatSpec("SOG", "SOG", "SOG splat", (".sog", "meta.json"), "splat", True),
    FormatSpec("SPLAT_PLY", "SPLAT_PLY", "PLY splat", (".ply",), "splat", True),
    FormatSpec("PLY", "PLY", "PLY", (".ply",), "mesh-files", True),
    FormatSpec("STL", "STL", "STL", (".stl",), "mesh-files", True),
    FormatSpec("USDZ", "USDZ", "USDZ", (".usdz",), "three-formats", True),
    FormatSpec("VOX", "VOX", "VOX", (".vox",), "three-formats", True),
    FormatSpec("FBX", "FBX", "FBX", (".fbx",), "fbx", True),
    FormatSpec("DAE", "DAE", "COLLADA", (".dae",), "three-formats", True),
    FormatSpec("3DS", "TDS", "3DS", (".3ds",), "three-formats", True),
    FormatSpec("3MF", "THREE_MF", "3MF", (".3mf",), "three-formats", True),
    FormatSpec("AMF", "AMF", "AMF", (".amf",), "three-formats", True),
    FormatSpec("TILT", "TILT", "Tilt Brush", (".tilt",), "source", False),
    FormatSpec("BLOCKS", "BLOCKS", "Blocks", (".blocks",), "source", False),
)

BY_TYPE = {spec.type: spec for spec in FORMATS}
RANK = {spec.type: rank for rank, spec in enumerate(FORMATS)}
DRAWABLE_TYPES = frozenset(spec.type for spec in FORMATS if spec.drawable)

# A PLY is a Gaussian splat when its header declares one of these properties (the Inria 3DGS
# layout) or elements (SuperSplat's compressed layout); otherwise it is a mesh or point cloud.
SPLAT_PLY_PROPERTIES = ("f_dc_0", "scale_0", "rot_0", "opacity", "packed_position")
SPLAT_PLY_ELEMENTS = ("chunk",)


def choices():
    """``(member name, (value, label))`` pairs for ``models.TextChoices``."""
    return [(spec.name, (spec.type, spec.label)) for spec in FORMATS]


def file_suffixes():
    """Every file suffix a format of the table is stored under (``meta.json`` is a name)."""
    return sorted({suffix for spec in FORMATS for suffix in spec.suffixes if suffix.startswith(".")})


def rank(format_type):
    """Sort key: table order; unknown types last."""
    return RANK.get(str(format_type).upper(), len(FORMATS))


def is_splat_ply_header(header):
    """Whether a PLY header (text up to ``end_header``) declares a Gaussian splat."""
    for line in header.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "element" and words[1] in SPLAT_PLY_ELEMENTS:
            return True
        if len(words) >= 3 and words[0] == "property" and words[-1] in SPLAT_PLY_PROPERTIES:
            return True
    return False


def page_config():
    """The table as the generator page reads it (config key ``formats``)."""
    return {
        "types": [{"type": spec.type, "label": spec.label, "drawable": spec.drawable} for spec in FORMATS],
        "splatPly": {"properties": list(SPLAT_PLY_PROPERTIES), "elements": list(SPLAT_PLY_ELEMENTS)},
    }
