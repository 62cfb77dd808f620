"""Generate a handful of small, colourful demo models with trimesh (no third-party assets shipped)."""

from pathlib import Path

import numpy as np
import trimesh

PALETTE = [
    (229, 57, 53),
    (30, 136, 229),
    (67, 160, 71),
    (251, 140, 0),
    (142, 36, 170),
    (0, 172, 193),
    (253, 216, 53),
    (109, 76, 65),
]


def _coloured(mesh, index):
    """Vertex colours shaded by normal direction, so the shape reads in a still image."""
    base = np.array(PALETTE[index % len(PALETTE)], dtype=float)
    shade = 0.55 + 0.45 * np.clip(mesh.vertex_normals @ np.array([0.3, 0.8, 0.5]), 0, 1)
    rgb = np.clip(base[None, :] * shade[:, None], 0, 255).astype(np.uint8)
    mesh.visual = trimesh.visual.ColorVisuals(
        mesh, vertex_colors=np.column_stack([rgb, np.full(len(rgb), 255, np.uint8)])
    )
    return mesh


def demo_meshes():
    """Named meshes, each with a distinct silhouette."""
    shapes = {
        "Cube": trimesh.creation.box(extents=(1, 1, 1)),
        "Icosphere": trimesh.creation.icosphere(subdivisions=3, radius=0.6),
        "Cylinder": trimesh.creation.cylinder(radius=0.4, height=1.2, sections=48),
        "Capsule": trimesh.creation.capsule(height=1.0, radius=0.35, count=[32, 32]),
        "Cone": trimesh.creation.cone(radius=0.6, height=1.2, sections=48),
        "Torus": trimesh.creation.torus(major_radius=0.6, minor_radius=0.2, major_sections=64, minor_sections=24),
        "Tall Box": trimesh.creation.box(extents=(0.4, 1.6, 0.6)),
        "Flat Slab": trimesh.creation.box(extents=(2.0, 0.2, 1.2)),
    }
    return {name: _coloured(mesh, i) for i, (name, mesh) in enumerate(shapes.items())}


def write_demo_models(folder, *, count=None):
    """Write GLB files (plus one OBJ, STL and PLY to exercise those loaders); return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    meshes = list(demo_meshes().items())
    if count is not None:
        meshes = [
            (f"{name} {i // len(meshes) + 1}" if i >= len(meshes) else name, mesh)
            for i, (name, mesh) in enumerate(meshes[j % len(meshes)] for j in range(count))
        ]
    for name, mesh in meshes:
        path = folder / f"{name.lower().replace(' ', '-')}.glb"
        if not path.exists():
            mesh.export(path)
        paths.append(path)
    if count is None:
        extras = {"obj": ("Icosphere", "icosphere-obj"), "stl": ("Cone", "cone-stl"), "ply": ("Torus", "torus-ply")}
        for ext, (name, stem) in extras.items():
            sub = folder / stem
            sub.mkdir(exist_ok=True)
            path = sub / f"{stem}.{ext}"
            if not path.exists():
                dict(meshes)[name].export(path)
            paths.append(path)
    return paths
