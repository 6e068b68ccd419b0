"""The parts of a photo scene (`photo_scenes`): meshes of the removable object, boxes, walls, ground and
backdrop, and the photo textures laid on them.

Textures are crops of real photos (or procedural images when no photo folder is given), mip-mapped and
looked up by planar mapping of 3D hit points. A surface maps a hit point to its own 2D coordinates (u, v)
in scene units: by the dominant axis of the surface normal in the surface's frame ('box': the two other
axes; vertical faces keep the photo upright) or around its vertical axis ('cylinder': arc length and
height). Texels are `texel` scene units wide; the crop is tiled by mirroring or, on large surfaces, laid in
square cells that each show a different window of it, flipped at random (no visible repeats or mirror
seams); the mip level follows each ray's footprint, so textures neither alias at 256 px nor blur at 1024 px.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inconddiff.capture import IMAGE_SUFFIXES, read_image
from inconddiff.evaluation.synthetic_scene import _hash01, _random_palette, solid_texture

logger = logging.getLogger(__name__)

MAX_PHOTO_SIDE = 1024
BACKDROP_HALF = 50.0
ARC_CLUTTER_RADIUS = 4.5
ARC_WALL_Y = 6.0


def find_photos(folder: str | Path) -> list[Path]:
    """Image files anywhere under `folder`, sorted (so a seed picks the same photos on every machine)."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return paths


class TextureSource:
    """Random texture crops: from photos under `folder` (each read once and kept), or procedural images
    of `procedural_side` pixels when `folder` is None. Every random choice comes from `rng`."""

    def __init__(self, folder: str | Path | None, rng: np.random.Generator, procedural_side: int = 256):
        self.rng = rng
        self.procedural_side = procedural_side
        self.photos = find_photos(folder) if folder is not None else []
        self._cache: dict[Path, np.ndarray] = {}

    def _photo(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            img = read_image(path)
            scale = MAX_PHOTO_SIDE / max(img.shape[:2])
            if scale < 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self._cache[path] = img.astype(np.float32) / 255.0
        return self._cache[path]

    def crop(self, min_share: float = 0.45) -> tuple[np.ndarray, dict]:
        """A float32 HxWx3 crop in [0, 1] and where it came from (for scene.json)."""
        if not self.photos:
            return self._procedural()
        path = self.photos[int(self.rng.integers(len(self.photos)))]
        img = self._photo(path)
        h, w = img.shape[:2]
        ch = int(h * self.rng.uniform(min_share, 0.9))
        cw = int(min(w, ch * self.rng.uniform(0.8, 1.4)))
        y0 = int(self.rng.integers(0, h - ch + 1))
        x0 = int(self.rng.integers(0, w - cw + 1))
        return img[y0 : y0 + ch, x0 : x0 + cw], {"photo": str(path), "crop_yxhw": [y0, x0, ch, cw]}

    def _procedural(self) -> tuple[np.ndarray, dict]:
        """Blotches, patches and grain (synthetic_scene.solid_texture on a plane) at a random scale."""
        n = self.procedural_side
        salt = int(self.rng.integers(1_000_000))
        scale = float(self.rng.uniform(1.5, 3.0))
        palette = _random_palette(self.rng)
        g = (np.arange(n) + 0.5) / n
        gx, gy = np.meshgrid(g, g)
        p = np.stack([gx.ravel(), gy.ravel(), np.full(n * n, 0.5)], 1)
        img = solid_texture(p, palette, scale, salt).reshape(n, n, 3).astype(np.float32)
        return img, {"procedural": {"salt": salt, "scale": scale}}


def mip_pyramid(img: np.ndarray, min_side: int = 4) -> list[np.ndarray]:
    """The image and its successive halvings (cv2.pyrDown) down to about `min_side` pixels; sides are
    trimmed to multiples of 16, so the first levels halve exactly and stay aligned."""
    h, w = img.shape[:2]
    img = img[: max(h - h % 16, min(h, 16)), : max(w - w % 16, min(w, 16))]
    levels = [np.ascontiguousarray(img, dtype=np.float32)]
    while min(levels[-1].shape[:2]) >= 2 * min_side:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def bilinear_mirror(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, C) of img (H, W, C) at continuous coordinates (texel centres at +0.5), the image
    tiled by mirroring: coordinates are folded into [0, W] x [0, H] and cv2.remap reflects the last half
    texel."""
    h, w = img.shape[:2]
    n = len(x)
    cols = 1024
    rows = max(-(-n // cols), 1)
    maps = []
    for c, size in ((x, w), (y, h)):
        folded = np.mod(c, 2.0 * size)
        folded = np.where(folded > size, 2.0 * size - folded, folded) - 0.5
        grid = np.zeros(rows * cols, dtype=np.float32)
        grid[:n] = folded
        maps.append(grid.reshape(rows, cols))
    out = cv2.remap(img, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(rows * cols, -1)[:n]


def sample_mip(levels: list[np.ndarray], x: np.ndarray, y: np.ndarray, lod: np.ndarray) -> np.ndarray:
    """Trilinear samples (N, 3): bilinear in the two pyramid levels around `lod` (level-0 texel units)."""
    lod = np.clip(lod, 0.0, len(levels) - 1)
    base = np.floor(lod).astype(np.int64)
    frac = (lod - base)[:, None].astype(np.float32)
    out = np.empty((len(x), levels[0].shape[2]), dtype=np.float32)
    for level in np.nonzero(np.bincount(base))[0]:
        sel = np.nonzero(base == level)[0]
        upper = min(level + 1, len(levels) - 1)
        c0 = bilinear_mirror(levels[level], x[sel] / 2.0**level, y[sel] / 2.0**level)
        c1 = bilinear_mirror(levels[upper], x[sel] / 2.0**upper, y[sel] / 2.0**upper)
        out[sel] = c0 + (c1 - c0) * frac[sel]
    return out


@dataclass
class TexturedSurface:
    """How one mesh looks: a mip-mapped crop laid on it by planar mapping in the surface's own frame."""

    name: str
    levels: list[np.ndarray] = field(repr=False)
    texel: float
    """Scene units per texel of the crop."""
    origin: np.ndarray
    rotation: np.ndarray
    """World-to-surface rotation (3, 3); the surface frame keeps z up."""
    mapping: str = "box"
    """'box' (dominant normal axis) or 'cylinder' (arc length around the local z axis, height)."""
    emissive: bool = False
    """Shown at full brightness without shading (the distant backdrop)."""
    cell: float | None = None
    """Cell size in scene units: each cell shows its own window of the crop; None = one mirrored tiling."""
    salt: int = 0
    """Seed of the cells' windows."""
    source: dict = field(default_factory=dict)

    def uv(self, p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface coordinates (scene units) of world points p (N, 3) with normals n (N, 3); v points down."""
        q = (p - self.origin) @ self.rotation.T
        axis = np.argmax(np.abs(n @ self.rotation.T), axis=1)
        u = np.where(axis == 0, q[:, 1], q[:, 0])
        v = np.where(axis == 2, q[:, 1], -q[:, 2])
        if self.mapping == "cylinder":
            side = axis != 2
            radius = np.hypot(q[:, 0], q[:, 1])
            u = np.where(side, np.arctan2(q[:, 1], q[:, 0]) * np.maximum(radius, 1e-6), u)
        return u, v

    def albedo(self, p: np.ndarray, n: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Colour (N, 3) in [0, 1] at hit points p with normals n; `footprint` is each ray's pixel width
        at the hit in scene units, which picks the mip level."""
        u, v = self.uv(p, n)
        lod = np.log2(np.maximum(footprint / self.texel, 1e-6))
        if self.cell is None:
            return sample_mip(self.levels, u / self.texel, v / self.texel, lod)
        iu, iv = np.floor(u / self.cell), np.floor(v / self.cell)
        size = self.cell / self.texel
        h, w = self.levels[0].shape[:2]
        x, y = (u - iu * self.cell) / self.texel, (v - iv * self.cell) / self.texel
        key = [_hash01(iu, iv, np.full_like(iu, k), self.salt) for k in range(4)]
        x = np.where(key[2] < 0.5, x, size - x) + key[0] * max(w - size, 0.0)  # flips and windows vary
        y = np.where(key[3] < 0.5, y, size - y) + key[1] * max(h - size, 0.0)
        return sample_mip(self.levels, x, y, lod)


# ----------------------------------------------------------------------------------------------
# Meshes
# ----------------------------------------------------------------------------------------------


def quad(corners) -> object:
    """A planar quadrilateral mesh (two triangles) through four corners in order."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh()
    m.vertices = o3d.utility.Vector3dVector(np.asarray(corners, dtype=np.float64))
    m.triangles = o3d.utility.Vector3iVector(np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32))
    return m


def yaw_matrix(angle: float) -> np.ndarray:
    """Rotation about z by `angle` (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_mesh(size, yaw: float, base) -> object:
    """A box of size (w, d, h) turned by `yaw`, its bottom face centred at `base`."""
    import open3d as o3d

    w, d, h = size
    m = o3d.geometry.TriangleMesh.create_box(w, d, h)
    m.translate((-w / 2, -d / 2, 0.0))
    m.rotate(yaw_matrix(yaw), center=(0, 0, 0))
    return m.translate(tuple(base))


def object_parts(kind: str, rng: np.random.Generator) -> list[tuple[object, str]]:
    """Meshes of the removable object at unit scale, standing on z = 0 at the origin, with their mapping."""
    import open3d as o3d

    g = o3d.geometry.TriangleMesh
    if kind == "box":
        size = [*rng.uniform(0.5, 0.9, 2), rng.uniform(0.9, 1.5)]
        return [(box_mesh(size, rng.uniform(0, 3), (0, 0, 0)), "box")]
    if kind == "cylinder":
        h = rng.uniform(0.9, 1.6)
        m = g.create_cylinder(radius=rng.uniform(0.3, 0.45), height=h, resolution=64)
        return [(m.translate((0, 0, h / 2)), "cylinder")]
    if kind == "sphere":
        return [(g.create_sphere(radius=0.5, resolution=48).translate((0, 0, 0.5)), "cylinder")]
    if kind == "lamp":  # a block, a column and a ball on top
        column = g.create_cylinder(radius=0.1, height=0.9, resolution=32).translate((0, 0, 0.55))
        ball = g.create_sphere(radius=0.32, resolution=48).translate((0, 0, 1.25))
        return [
            (box_mesh((0.5, 0.5, 0.1), rng.uniform(0, 3), (0, 0, 0)), "box"),
            (column, "cylinder"),
            (ball, "cylinder"),
        ]
    if kind == "stack":  # two turned blocks
        low = box_mesh((0.8, 0.6, 0.6), rng.uniform(0, 3), (0, 0, 0))
        return [(low, "box"), (box_mesh((0.5, 0.45, 0.55), rng.uniform(0, 3), (0, 0, 0.6)), "box")]
    raise ValueError(f"unknown object kind {kind!r}")


def place_boxes(
    path: str, count: int, rng: np.random.Generator, centres: np.ndarray, obj_radius: float
) -> list[dict]:
    """Boxes in depth bands behind and beside the object that neither hide it from a camera nor hold one."""
    if path == "arc":
        lo, hi, spread = obj_radius + 0.5, ARC_CLUTTER_RADIUS, np.deg2rad(115.0)
    else:
        ring = float(np.linalg.norm(centres[:, :2], axis=1).max())
        lo, hi, spread = ring + 0.6, ring + 3.5, np.pi
    cams = centres[:, :2]
    boxes: list[dict] = []
    for k in range(count):
        for _ in range(200):
            r = lo + (hi - lo) * (k + rng.uniform()) / count
            size = rng.uniform([0.4, 0.4, 0.3], [1.2, 1.2, 1.6]) * max(1.0, r / 5.0)
            yaw = float(rng.uniform(0, np.pi))
            a = np.pi / 2 + rng.uniform(-spread, spread)
            pos = r * np.array([np.cos(a), np.sin(a)])
            radius = 0.5 * float(np.hypot(size[0], size[1]))
            if _box_fits(pos, radius, boxes, cams, obj_radius):
                boxes.append(
                    {"size": size.tolist(), "yaw": yaw, "base": [*pos.tolist(), 0.0], "radius": radius}
                )
                break
        else:
            logger.warning("no room for box %d; the scene has %d boxes", k, len(boxes))
    return boxes


def _box_fits(pos, radius: float, boxes: list[dict], cams: np.ndarray, obj_radius: float) -> bool:
    """The box (a circle on the ground) overlaps no other box, holds no camera, and crosses no sight line
    from a camera to the object."""
    if any(np.hypot(*(pos - b["base"][:2])) < 0.9 * (radius + b["radius"]) for b in boxes):
        return False
    if (np.linalg.norm(cams - pos, axis=1) < radius + 0.5).any():
        return False
    along = np.clip(np.sum((pos - cams) * -cams, 1) / np.sum(cams * cams, 1), 0.0, 1.0)
    gap = np.linalg.norm(cams + along[:, None] * -cams - pos, axis=1)
    return not (gap < radius + obj_radius + 0.1).any()


def walls(path: str, distance: float, rng: np.random.Generator) -> list[tuple[str, list, np.ndarray]]:
    """Name, corners and world-to-wall rotation of a wall behind the clutter ('arc') or of three walls
    around the orbit."""
    if path == "arc":
        specs = [(np.pi / 2 + rng.uniform(-0.15, 0.15), ARC_WALL_Y, rng.uniform(9, 12))]
    else:
        turn = rng.uniform(0, 2 * np.pi)
        specs = [(turn + k * 2 * np.pi / 3, distance + 7.5, rng.uniform(8, 11)) for k in range(3)]
    out = []
    for k, (a, r, width) in enumerate(specs):
        height = rng.uniform(2.2, 3.5)
        centre, side = (
            r * np.array([np.cos(a), np.sin(a), 0.0]),
            0.5 * width * np.array([-np.sin(a), np.cos(a), 0.0]),
        )
        up = np.array([0.0, 0.0, height])
        corners = [centre - side, centre + side, centre + side + up, centre - side + up]
        out.append((f"wall{k}", corners, yaw_matrix(a + np.pi / 2).T))
    return out


def backdrop() -> list[tuple[str, list]]:
    """The ground and a large box around everything (its sides reach below the ground's edge)."""
    b, top, low = BACKDROP_HALF, 0.8 * BACKDROP_HALF, -1.0
    c = [(-b, -b), (b, -b), (b, b), (-b, b)]
    sides = [[(*c[k], low), (*c[(k + 1) % 4], low), (*c[(k + 1) % 4], top), (*c[k], top)] for k in range(4)]
    return [("ground", [(-b, -b, 0), (b, -b, 0), (b, b, 0), (-b, b, 0)])] + [
        (f"backdrop{k}", s)
        for k, s in enumerate(sides + [[(-b, -b, top), (b, -b, top), (b, b, top), (-b, b, top)]])
    ]


def textured_surface(src: TextureSource, name: str, extent: float, cells: int = 0, **kw) -> TexturedSurface:
    """A surface showing one crop of `src` across `extent` scene units, or in cells of extent / `cells`."""
    crop, source = src.crop()
    texel = extent / max(crop.shape[:2])
    cell = extent / cells if cells else None
    salt = int(src.rng.integers(1 << 30))
    return TexturedSurface(name, mip_pyramid(crop), texel, cell=cell, salt=salt, source=source, **kw)


def raycaster(meshes: list):
    """An open3d ray-casting scene of `meshes`; geometry ids are their list positions."""
    import open3d as o3d

    rs = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        rs.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m))
    return rs


def cast_rays(rs, rays: np.ndarray) -> dict[str, np.ndarray]:
    """Hit distance, geometry id and triangle normal of flat rays (N, 6)."""
    import open3d as o3d

    out = rs.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, dtype=np.float32)))
    return {k: out[k].numpy() for k in ("t_hit", "geometry_ids", "primitive_normals")}


def background(
    path: str, num_boxes: int, distance: float, src: TextureSource, centres: np.ndarray, obj_radius: float
) -> tuple[list, list[TexturedSurface], list[dict]]:
    """Meshes and looks of the ground, backdrop, walls and boxes around an object of radius `obj_radius`
    at the origin seen from camera `centres` (N, 3), and the boxes' description."""
    rng = src.rng
    ident, zero = np.eye(3), np.zeros(3)
    meshes, looks = [], []
    for name, corners in backdrop():  # ground: 1-unit cells; backdrop: emissive, 20-unit cells
        ground = name == "ground"
        extent = 3.0 if ground else 60.0
        meshes.append(quad(corners))
        looks.append(textured_surface(src, name, extent, 3, origin=zero, rotation=ident, emissive=not ground))
    for name, corners, rotation in walls(path, distance, rng):
        meshes.append(quad(corners))
        wall_height = float(corners[2][2])
        looks.append(textured_surface(src, name, 1.2 * wall_height, 3, origin=corners[0], rotation=rotation))
    boxes = place_boxes(path, num_boxes, rng, centres, obj_radius)
    for k, b in enumerate(boxes):  # one crop per box, laid from its corner so no face shows a seam
        meshes.append(box_mesh(b["size"], b["yaw"], b["base"]))
        corner = np.array(b["base"]) + yaw_matrix(b["yaw"]) @ np.array(
            [-b["size"][0] / 2, -b["size"][1] / 2, 0.0]
        )
        looks.append(
            textured_surface(src, f"box{k}", max(b["size"]), origin=corner, rotation=yaw_matrix(b["yaw"]).T)
        )
    return meshes, looks, boxes
