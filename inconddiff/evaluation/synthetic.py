"""Synthetic multi-view captures with ground truth, rendered by open3d ray casting on the CPU.

A room (floor, four walls) holds several textured objects and one removable object near the centre.
Cameras follow an orbit around the objects or a forward-facing grid. Textures are solid (functions of
the 3D point), so every view sees the same surface pattern and SIFT can match across views; shading is
Lambertian with no cast shadows, so removing the object changes only the pixels where it is visible.

Written into the capture folder:

```
images/<stem>.png           views with the object
masks/<stem>.png            where the object is visible (255 = remove)
gt/images/<stem>.png        the same views without the object (a perfect removal)
gt/depth/<stem>.npy         z-depth at pixel centres, with the object (float32, scene units)
gt/depth_clean/<stem>.npy   z-depth without the object
gt/sparse/0/                ground-truth cameras and sparse points (sampled surface points with
                            exact tracks) as a COLMAP text model
gt/transforms.json          ground-truth cameras for nerfstudio (file paths relative to gt/)
gt/cameras.npz              K (N,3,3), R (N,3,3), t (N,3) world-to-camera (OpenCV axes), names
gt/scene.json               seed, path, object list, scene extent
```
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inconddiff.capture import atomic_output_dir, write_image
from inconddiff.evaluation.synthetic_scene import ROOM_HALF, ROOM_HEIGHT, build_scene, solid_texture
from inconddiff.threads import worker_threads
from inconddiff.transforms_json import nerfstudio_frame, nerfstudio_transforms

logger = logging.getLogger(__name__)

LOOK_AT = np.array([0.0, 0.0, 0.35])


@dataclass
class SynthConfig:
    """Settings of one synthetic capture."""

    views: int = 30
    """Number of camera views."""
    width: int = 160
    height: int = 120
    seed: int = 0
    path: str = "orbit"
    """Camera path: 'orbit' (360 degrees around the objects) or 'forward' (forward-facing grid)."""
    hfov_deg: float = 55.0
    """Horizontal field of view."""
    supersample: int | None = None
    """Rays per pixel along each axis (anti-aliasing); masks cover any pixel the object touches. None: 3 up to
    `SUPERSAMPLE_MAX_SIDE` pixels on the longer side, 1 beyond, where a pixel is already small against the
    textures (9 rays a pixel would make a 1080p view several times slower)."""
    num_clutter: int = 6
    """Objects besides the removable one."""
    sparse_points_per_view: int = 150
    """Ground-truth sparse points sampled per view for gt/sparse/0 (a perfect SfM model)."""


SUPERSAMPLE_MAX_SIDE = 1024


def supersample_for(cfg: SynthConfig) -> int:
    """`cfg.supersample`, or the default for its image size."""
    if cfg.supersample is not None:
        return cfg.supersample
    return 3 if max(cfg.width, cfg.height) <= SUPERSAMPLE_MAX_SIDE else 1


# ----------------------------------------------------------------------------------------------
# Cameras
# ----------------------------------------------------------------------------------------------


def look_at(center: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera rotation (OpenCV axes: x right, y down, z forward) looking from center to target."""
    z = target - center
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def camera_path(cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intrinsics K (3,3) and world-to-camera R (N,3,3), t (N,3) for the configured path."""
    fx = 0.5 * cfg.width / np.tan(np.deg2rad(cfg.hfov_deg) / 2)
    K = np.array([[fx, 0, cfg.width / 2], [0, fx, cfg.height / 2], [0, 0, 1.0]])
    n = cfg.views
    Rs, ts = [], []
    phase = rng.uniform(0, 2 * np.pi)
    for i in range(n):
        if cfg.path == "orbit":
            a = phase + 2 * np.pi * i / n
            radius = 3.2 + 0.25 * np.sin(3 * a)
            c = np.array([radius * np.cos(a), radius * np.sin(a), 1.35 + 0.25 * np.sin(2 * a + 1.0)])
            R = look_at(c, LOOK_AT)
        elif cfg.path == "forward":
            # LLFF-like: positions on a spiral in a plane, all looking the same way.
            a = 2 * np.pi * 2 * i / n
            s = 0.35 + 0.45 * i / max(n - 1, 1)
            c = np.array([0.9 * s * np.cos(a), -3.6, 1.3 + 0.5 * s * np.sin(a)])
            R = look_at(np.array([0.0, -3.6, 1.3]), LOOK_AT + np.array([0.0, 0.0, 0.1]))
        else:
            raise ValueError(f"unknown camera path {cfg.path!r}: use 'orbit' or 'forward'")
        Rs.append(R)
        ts.append(-R @ c)
    return K, np.array(Rs), np.array(ts)


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------

LIGHT_DIR = np.array([0.45, -0.35, 0.82]) / np.linalg.norm([0.45, -0.35, 0.82])
FILL_DIR = np.array([-0.6, 0.7, 0.4]) / np.linalg.norm([-0.6, 0.7, 0.4])


def _pixel_rays(K, R, t, width, rows: slice, offsets) -> np.ndarray:
    """Rays (H, W, S, 6) of the image rows `rows` through sub-pixel `offsets` (list of (du, dv) in [0, 1))."""
    c = -R.T @ t
    u, v = np.meshgrid(np.arange(width), np.arange(rows.start, rows.stop))
    rays = []
    for du, dv in offsets:
        x = (u + du - K[0, 2]) / K[0, 0]
        y = (v + dv - K[1, 2]) / K[1, 1]
        d_cam = np.stack([x, y, np.ones_like(x)], -1)
        d = d_cam @ R  # rows: R^T d_cam
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        o = np.broadcast_to(c, d.shape)
        rays.append(np.concatenate([o, d], -1))
    return np.stack(rays, axis=2).astype(np.float32)


def _shade(rs, surfaces, rays: np.ndarray):
    """Colour (N, 3), geometry ids (N,) and hit distances (N,) of flat rays (N, 6)."""
    import open3d as o3d

    out = rs.cast_rays(o3d.core.Tensor(rays))
    t_hit = out["t_hit"].numpy().astype(np.float64)
    gid = out["geometry_ids"].numpy().astype(np.int64)
    normals = out["primitive_normals"].numpy().astype(np.float64)
    d = rays[:, 3:].astype(np.float64)
    hit = np.isfinite(t_hit)
    p = rays[:, :3].astype(np.float64) + d * np.where(hit, t_hit, 0.0)[:, None]
    normals = np.where((np.sum(normals * d, -1) > 0)[:, None], -normals, normals)
    col = np.tile(np.array([0.55, 0.6, 0.7]), (len(rays), 1))  # nothing is hit only outside the room
    light = 0.32 + 0.55 * np.clip(normals @ LIGHT_DIR, 0, None) + 0.18 * np.clip(normals @ FILL_DIR, 0, None)
    for g, surf in surfaces.items():
        sel = hit & (gid == g)
        if sel.any():
            col[sel] = solid_texture(p[sel], surf.palette, surf.scale, surf.salt) * light[sel, None]
    return np.clip(col, 0, 1), np.where(hit, gid, -1), t_hit


RENDER_ROWS = 128
"""Image rows rendered at a time: bounds the memory of a large view's rays and shading."""


def render_view(scene_clean, scene_full, K, R, t, width, height, supersample):
    """Images with and without the object, the object's mask and z-depth with and without it."""
    full = np.empty((height, width, 3), np.uint8)
    clean = np.empty((height, width, 3), np.uint8)
    mask = np.empty((height, width), bool)
    depth_f = np.empty((height, width), np.float32)
    depth_c = np.empty((height, width), np.float32)

    def render(y0: int) -> None:
        rows = slice(y0, min(height, y0 + RENDER_ROWS))
        parts = _render_rows(scene_clean, scene_full, K, R, t, width, rows, supersample)
        for whole, part in zip((full, clean, mask, depth_f, depth_c), parts, strict=True):
            whole[rows] = part

    # blocks of rows are independent array work that releases the GIL: one thread per core
    with ThreadPoolExecutor(max_workers=worker_threads()) as pool:
        list(pool.map(render, range(0, height, RENDER_ROWS)))
    return full, clean, mask, depth_f, depth_c


def _render_rows(scene_clean, scene_full, K, R, t, width, rows: slice, supersample):
    """`render_view` over the image rows `rows`."""
    import open3d as o3d

    rs_c, surf_c, _ = scene_clean
    rs_f, surf_f, obj_id = scene_full
    s = supersample
    offsets = [((i + 0.5) / s, (j + 0.5) / s) for j in range(s) for i in range(s)]
    centre = (s * s) // 2 if s % 2 else len(offsets)  # an odd grid has a ray through the pixel centre
    if s % 2 == 0:
        offsets.append((0.5, 0.5))
    rays = _pixel_rays(K, R, t, width, rows, offsets)
    height = rays.shape[0]
    flat = rays.reshape(-1, 6)
    col_c, _, t_c = _shade(rs_c, surf_c, flat)
    # the scenes differ only by the object: a ray that misses it sees what it sees in the clean scene
    gid_f = rs_f.cast_rays(o3d.core.Tensor(flat))["geometry_ids"].numpy().astype(np.int64)
    on_object = gid_f == obj_id
    col_f, t_f = col_c.copy(), t_c.copy()
    if on_object.any():
        col_o, _, t_o = _shade(rs_f, surf_f, flat[on_object])
        col_f[on_object], t_f[on_object] = col_o, t_o
    n_off = len(offsets)
    col_c = col_c.reshape(height, width, n_off, 3)[:, :, : s * s].mean(2)
    col_f = col_f.reshape(height, width, n_off, 3)[:, :, : s * s].mean(2)
    mask = on_object.reshape(height, width, n_off).any(axis=2)
    clean = np.round(col_c * 255).astype(np.uint8)
    full = np.where(mask[..., None], np.round(col_f * 255).astype(np.uint8), clean)
    # z-depth at the pixel centre: distance along the ray times the ray's cosine with the optical axis
    cos = (rays[:, :, centre, 3:] @ R[2]).astype(np.float64)
    depth_c = (t_c.reshape(height, width, n_off)[:, :, centre] * cos).astype(np.float32)
    depth_f = (t_f.reshape(height, width, n_off)[:, :, centre] * cos).astype(np.float32)
    depth_c[~np.isfinite(depth_c)] = 0.0
    depth_f[~np.isfinite(depth_f)] = 0.0
    return full, clean, mask, depth_f, depth_c


# ----------------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------------


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrix to COLMAP's quaternion (w, x, y, z), w >= 0."""
    m = R
    tr = np.trace(m)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    return q if q[0] >= 0 else -q


def sample_sparse_points(
    K: np.ndarray,
    Rs,
    ts,
    depths: list[np.ndarray],
    per_view: int,
    rng: np.random.Generator,
    rel_tol: float = 0.01,
) -> tuple[np.ndarray, list[list[tuple[int, float, float]]]]:
    """Ground-truth "sparse points" as a perfect SfM would give them: pixels sampled in each view, lifted
    with that view's depth, and observed by every view that sees them (depth agrees within `rel_tol`).
    Returns points (N, 3) and tracks [(view index, x, y), ...] with pixel centres at +0.5."""
    h, w = depths[0].shape
    Kinv = np.linalg.inv(K)
    pts = []
    for i, d in enumerate(depths):
        u = rng.uniform(0, w, per_view)
        v = rng.uniform(0, h, per_view)
        z = d[v.astype(int), u.astype(int)].astype(np.float64)
        ok = z > 0
        cam = (np.stack([u, v, np.ones_like(u)], 1) @ Kinv.T) * z[:, None]
        pts.append(((cam - ts[i]) @ Rs[i])[ok])
    points = np.concatenate(pts)
    tracks: list[list[tuple[int, float, float]]] = [[] for _ in range(len(points))]
    for j, d in enumerate(depths):
        cam = points @ Rs[j].T + ts[j]
        z = cam[:, 2]
        uv = cam @ K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = uv[:, 0] / uv[:, 2], uv[:, 1] / uv[:, 2]
        inside = (z > 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        idx = np.nonzero(inside)[0]
        seen = np.abs(d[y[idx].astype(int), x[idx].astype(int)] - z[idx]) < rel_tol * z[idx]
        for k in idx[seen]:
            tracks[k].append((j, float(x[k]), float(y[k])))
    keep = [k for k, t in enumerate(tracks) if len(t) >= 2]
    return points[keep], [tracks[k] for k in keep]


def write_colmap_text(
    folder: Path,
    K: np.ndarray,
    Rs,
    ts,
    names: list[str],
    width: int,
    height: int,
    points: np.ndarray | None = None,
    tracks: list[list[tuple[int, float, float]]] | None = None,
) -> None:
    """A COLMAP text model with one PINHOLE camera, and points with their tracks when given."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(
        "# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
        f"1 PINHOLE {width} {height} {K[0, 0]!r} {K[1, 1]!r} {K[0, 2]!r} {K[1, 2]!r}\n"
    )
    obs: list[list[tuple[float, float, int]]] = [[] for _ in names]  # per image: (x, y, point id)
    point_lines = ["# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)"]
    for pid, (X, track) in enumerate(
        zip(points if points is not None else [], tracks or [], strict=True), start=1
    ):
        elems = []
        for view, x, y in track:
            elems += [str(view + 1), str(len(obs[view]))]
            obs[view].append((x, y, pid))
        point_lines.append(
            " ".join([str(pid), *(repr(float(c)) for c in X), "128", "128", "128", "0.0", *elems])
        )
    lines = ["# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "# POINTS2D[] as (X, Y, POINT3D_ID)"]
    for i, (R, t, name) in enumerate(zip(Rs, ts, names, strict=True), start=1):
        q = rotmat_to_qvec(R)
        lines.append(
            " ".join([str(i), *(repr(float(x)) for x in q), *(repr(float(x)) for x in t), "1", name])
        )
        lines.append(" ".join(f"{x!r} {y!r} {pid}" for x, y, pid in obs[i - 1]))
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    (folder / "points3D.txt").write_text("\n".join(point_lines) + "\n")


def generate_capture(
    out: str | os.PathLike, config: SynthConfig | None = None, overwrite: bool = False
) -> Path:
    """Render a synthetic capture with ground truth into the new folder `out` (see the module docstring)."""
    from rich.progress import track

    cfg = config or SynthConfig()
    if cfg.views < 2:
        raise ValueError(f"need at least 2 views, got {cfg.views}")
    if cfg.width < 16 or cfg.height < 16:
        raise ValueError(f"image size {cfg.width}x{cfg.height} is too small (16x16 at least)")
    rng = np.random.default_rng(cfg.seed)
    scene = build_scene(rng, cfg.num_clutter)
    K, Rs, ts = camera_path(cfg, rng)
    clean_rs = scene.raycasting_scene(with_object=False)
    full_rs = scene.raycasting_scene(with_object=True)
    names = [f"view_{i:03d}.png" for i in range(cfg.views)]
    supersample = supersample_for(cfg)
    out = Path(out)
    coverage, depths = [], []
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        for i in track(range(cfg.views), description=f"rendering {cfg.views} views", disable=None):
            full, clean, mask, depth_f, depth_c = render_view(
                clean_rs, full_rs, K, Rs[i], ts[i], cfg.width, cfg.height, supersample
            )
            stem = Path(names[i]).stem
            # the fastest zlib level: at the default level, writing takes a third of a 1080p view's time
            write_image(tmp / "images" / names[i], full, compress_level=1)
            write_image(tmp / "masks" / f"{stem}.png", mask, compress_level=1)
            write_image(tmp / "gt" / "images" / names[i], clean, compress_level=1)
            (tmp / "gt" / "depth").mkdir(parents=True, exist_ok=True)
            (tmp / "gt" / "depth_clean").mkdir(parents=True, exist_ok=True)
            np.save(tmp / "gt" / "depth" / f"{stem}.npy", depth_f)
            depths.append(depth_f)
            np.save(tmp / "gt" / "depth_clean" / f"{stem}.npy", depth_c)
            coverage.append(float(mask.mean()))
        points, tracks = sample_sparse_points(K, Rs, ts, depths, cfg.sparse_points_per_view, rng)
        write_colmap_text(
            tmp / "gt" / "sparse" / "0", K, Rs, ts, names, cfg.width, cfg.height, points, tracks
        )
        frames = [
            nerfstudio_frame(K, R, t, cfg.width, cfg.height, f"../images/{n}")
            for R, t, n in zip(Rs, ts, names, strict=True)
        ]
        transforms = nerfstudio_transforms(frames)
        (tmp / "gt" / "transforms.json").write_text(json.dumps(transforms, indent=2))
        np.savez(tmp / "gt" / "cameras.npz", K=K, R=Rs, t=ts, names=np.array(names))
        meta = {
            "config": {**asdict(cfg), "supersample": supersample},
            "objects": scene.objects,
            "room_half_size": ROOM_HALF,
            "room_height": ROOM_HEIGHT,
            "camera_centres_extent": float(
                np.ptp(np.einsum("nij,nj->ni", -Rs.transpose(0, 2, 1), ts), axis=0).max()
            ),
            "mask_coverage": coverage,
        }
        (tmp / "gt" / "scene.json").write_text(json.dumps(meta, indent=2))
    logger.info(
        "wrote %d views (%dx%d, %s) to %s; object covers %.1f%% of a view on average",
        cfg.views,
        cfg.width,
        cfg.height,
        cfg.path,
        out,
        100 * float(np.mean(coverage)),
    )
    return out


def load_gt_cameras(capture: str | os.PathLike) -> dict[str, np.ndarray]:
    """Ground-truth K, R, t and names of a synthetic capture (from gt/cameras.npz)."""
    data = np.load(Path(capture) / "gt" / "cameras.npz")
    return {k: data[k] for k in data.files}
