"""The synthetic captures' scene: a room (floor, four walls) with textured clutter and one removable object
near the centre, as open3d meshes with procedural solid textures (functions of the 3D point, so that every
view sees the same pattern and SIFT matches across views)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROOM_HALF = 5.0
ROOM_HEIGHT = 4.0

# ----------------------------------------------------------------------------------------------
# Procedural solid texture
# ----------------------------------------------------------------------------------------------


# The hash works modulo 2**32 throughout: uint32 arithmetic wraps there by itself, and it is 1.5 times as fast
# as uint64 arithmetic masked to 32 bits, with the same values.
_PRIMES = (np.uint32(73856093), np.uint32(19349663), np.uint32(83492791))


def _lattice_terms(i: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash's terms of the lattice coordinates i and i + 1 along `axis` (uint32, wrapping)."""
    prime = _PRIMES[axis]
    return i.astype(np.uint32) * prime, (i + 1).astype(np.uint32) * prime


def _mix01(h: np.ndarray, salt: int) -> np.ndarray:
    """The hash of a lattice point from its xor-ed uint32 terms: a deterministic value in [0, 1)."""
    h = h ^ np.uint32(salt * 2654435761 % 0xFFFFFFFF)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h = h ^ (h >> np.uint32(16))
    return h.astype(np.float64) / 4294967296.0


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) per integer lattice point."""
    h = [
        np.asarray(v).astype(np.int64).astype(np.uint32) * prime
        for v, prime in zip((ix, iy, iz), _PRIMES, strict=True)
    ]
    return _mix01(h[0] ^ h[1] ^ h[2], salt)


def value_noise(p: np.ndarray, freq: float, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1] at points p (N, 3)."""
    q = p * freq
    i = np.floor(q)
    f = q - i
    f = f * f * (3.0 - 2.0 * f)
    i = i.astype(np.int64)
    terms = [_lattice_terms(i[:, axis], axis) for axis in range(3)]  # each corner's hash reuses them
    out = np.zeros(len(p))
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1.0 - f[:, 0]
        for dy in (0, 1):
            wy = f[:, 1] if dy else 1.0 - f[:, 1]
            wxy, hxy = wx * wy, terms[0][dx] ^ terms[1][dy]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1.0 - f[:, 2]
                out += wxy * wz * _mix01(hxy ^ terms[2][dz], salt)
    return out


def solid_texture(p: np.ndarray, palette: np.ndarray, scale: float, salt: int) -> np.ndarray:
    """Albedo (N, 3) in [0, 1]: smooth blotches, crisp irregular patches at two scales, dark flecks and
    fine grain, all functions of the 3D point (so every view sees the same surface)."""
    p = p + np.array([0.37, 0.61, 0.53])  # keep planes like z = 0 off the lattice's cell faces
    base = value_noise(p, 1.3 * scale, salt) * 0.6 + value_noise(p, 2.9 * scale, salt + 1) * 0.4
    col = palette[0] * (1 - base[:, None]) + palette[1] * base[:, None]
    col = np.where((value_noise(p, 4.0 * scale, salt + 2) > 0.64)[:, None], palette[2], col)
    light = np.minimum(palette[1] * 1.2 + 0.1, 1.0)
    col = np.where((value_noise(p, 8.0 * scale, salt + 5) > 0.7)[:, None], light, col)
    col = np.where((value_noise(p, 11.0 * scale, salt + 3) < 0.22)[:, None], col * 0.35, col)
    grain = value_noise(p, 9.0 * scale, salt + 4)[:, None]
    return np.clip(col * (0.8 + 0.4 * grain), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Scene
# ----------------------------------------------------------------------------------------------


@dataclass
class Surface:
    """Material of one mesh: three palette colours and a texture frequency scale."""

    name: str
    palette: np.ndarray
    scale: float
    salt: int


def _random_palette(rng: np.random.Generator) -> np.ndarray:
    """Three colours of distinct hue and clearly different brightness (dark, light, mid), so every
    surface has the contrast SIFT needs at low resolution."""
    h0 = rng.uniform(0, 1)
    hues = (h0 + np.array([0.0, rng.uniform(0.25, 0.5), rng.uniform(0.55, 0.8)])) % 1.0
    sats = rng.uniform(0.2, 0.7, size=3)
    vals = np.array([rng.uniform(0.12, 0.3), rng.uniform(0.75, 0.95), rng.uniform(0.45, 0.65)])
    cols = []
    for h, s, v in zip(hues, sats, vals, strict=True):
        k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
        cols.append(v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.array(cols)


def _make_shape(kind: str, size: float, rng: np.random.Generator):
    import open3d as o3d

    g = o3d.geometry.TriangleMesh
    if kind == "box":
        w, d, h = size * rng.uniform(0.7, 1.3, size=3) * np.array([1.4, 1.4, 2.0])
        m = g.create_box(w, d, h)
        m.translate((-w / 2, -d / 2, 0.0))
    elif kind == "sphere":
        m = g.create_sphere(radius=size, resolution=24)
        m.translate((0.0, 0.0, size))
    elif kind == "cylinder":
        h = size * rng.uniform(1.5, 3.0)
        m = g.create_cylinder(radius=size * 0.8, height=h, resolution=32)
        m.translate((0.0, 0.0, h / 2))
    elif kind == "cone":
        h = size * rng.uniform(2.0, 3.2)
        m = g.create_cone(radius=size, height=h, resolution=32)
    elif kind == "torus":
        m = g.create_torus(
            torus_radius=size, tube_radius=size * 0.38, radial_resolution=40, tubular_resolution=20
        )
        m.rotate(m.get_rotation_matrix_from_xyz((np.pi / 2, 0, 0)), center=(0, 0, 0))
        m.translate((0.0, 0.0, size * 1.38))
    else:
        raise ValueError(f"unknown shape {kind!r}")
    m.rotate(m.get_rotation_matrix_from_xyz((0, 0, rng.uniform(0, 2 * np.pi))), center=(0, 0, 0))
    return m


def _room_meshes():
    import open3d as o3d

    r, h = ROOM_HALF, ROOM_HEIGHT
    quads = {
        "floor": [(-r, -r, 0), (r, -r, 0), (r, r, 0), (-r, r, 0)],
        "wall_n": [(-r, r, 0), (r, r, 0), (r, r, h), (-r, r, h)],
        "wall_s": [(-r, -r, 0), (r, -r, 0), (r, -r, h), (-r, -r, h)],
        "wall_e": [(r, -r, 0), (r, r, 0), (r, r, h), (r, -r, h)],
        "wall_w": [(-r, -r, 0), (-r, r, 0), (-r, r, h), (-r, -r, h)],
        "ceiling": [(-r, -r, h), (r, -r, h), (r, r, h), (-r, r, h)],
    }
    out = {}
    for name, v in quads.items():
        m = o3d.geometry.TriangleMesh()
        m.vertices = o3d.utility.Vector3dVector(np.array(v, dtype=np.float64))
        m.triangles = o3d.utility.Vector3iVector(np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32))
        out[name] = m
    return out


@dataclass
class Scene:
    """Meshes with their materials; the removable object is kept apart."""

    meshes: list  # legacy open3d meshes of the background and clutter
    surfaces: list[Surface]
    object_mesh: object
    object_surface: Surface
    objects: list[dict]  # description for scene.json

    def raycasting_scene(self, with_object: bool):
        import open3d as o3d

        rs = o3d.t.geometry.RaycastingScene()
        ids = []
        for m in self.meshes:
            ids.append(rs.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m)))
        surfaces = dict(zip(ids, self.surfaces, strict=True))
        object_id = None
        if with_object:
            object_id = rs.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(self.object_mesh))
            surfaces[object_id] = self.object_surface
        return rs, surfaces, object_id


def build_scene(rng: np.random.Generator, num_clutter: int) -> Scene:
    """Room, clutter objects on a ring around the centre, and the removable object at the centre."""
    meshes, surfaces, objects = [], [], []
    salt = 100
    for name, m in _room_meshes().items():
        meshes.append(m)
        scale = 1.0 if name == "floor" else 0.7
        surfaces.append(Surface(name, _random_palette(rng), scale, salt))
        salt += 10
    kinds = ["box", "sphere", "cylinder", "cone", "torus"]
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=num_clutter))
    angles = angles + np.linspace(0, 2 * np.pi, num_clutter, endpoint=False) * 0.5  # spread them out
    for k in range(num_clutter):
        kind = kinds[int(rng.integers(len(kinds)))]
        size = float(rng.uniform(0.18, 0.35))
        m = _make_shape(kind, size, rng)
        radius = float(rng.uniform(1.0, 2.3))
        pos = (radius * np.cos(angles[k]), radius * np.sin(angles[k]), 0.0)
        m.translate(pos)
        meshes.append(m)
        surfaces.append(Surface(f"clutter{k}_{kind}", _random_palette(rng), 2.5, salt))
        objects.append({"name": f"clutter{k}", "kind": kind, "size": size, "position": list(pos)})
        salt += 10
    kind = ["box", "sphere", "cylinder", "torus"][int(rng.integers(4))]
    size = float(rng.uniform(0.28, 0.38))
    obj = _make_shape(kind, size, rng)
    offset = (float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15)), 0.0)
    obj.translate(offset)
    obj_surface = Surface(f"object_{kind}", _random_palette(rng), 3.0, salt)
    objects.append({"name": "removable", "kind": kind, "size": size, "position": list(offset)})
    return Scene(meshes, surfaces, obj, obj_surface, objects)
