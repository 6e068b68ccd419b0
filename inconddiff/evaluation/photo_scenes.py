"""Photo-textured, cluttered synthetic captures with ground truth: a benchmark unlike `synthetic`.

An object stands on a textured ground near the origin, in front of boxes at clearly different depths, a
wall, and a distant backdrop (a large box around everything, so every ray ends at a finite depth). Each
surface shows its own crop of a real photo (`photo_scene_parts`); cameras follow a forward-facing arc with
strong parallax or a full orbit, and the object is sized from the camera distance and field of view to
cover `object_fraction` of each view. The folder layout is exactly `synthetic.generate_capture`'s
(images/, masks/, gt/images, gt/depth, gt/depth_clean, gt/sparse/0, gt/transforms.json, gt/cameras.npz,
gt/scene.json), so every tool that reads one reads the other.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from inconddiff.capture import atomic_output_dir, write_image
from inconddiff.evaluation.photo_scene_parts import (
    TexturedSurface,
    TextureSource,
    background,
    cast_rays,
    object_parts,
    raycaster,
    textured_surface,
)
from inconddiff.evaluation.synthetic import (
    FILL_DIR,
    LIGHT_DIR,
    look_at,
    sample_sparse_points,
    write_colmap_text,
)
from inconddiff.transforms_json import nerfstudio_frame, nerfstudio_transforms

logger = logging.getLogger(__name__)


@dataclass
class PhotoSceneConfig:
    """Settings of one photo-textured capture."""

    views: int = 20
    """Number of camera views."""
    width: int = 256
    height: int = 192
    seed: int = 0
    path: str = "arc"
    """'arc' (forward-facing arc of `arc_deg` looking at the object) or 'orbit' (360 degrees around it)."""
    arc_deg: float = 80.0
    """Angle spanned by the 'arc' path."""
    object_fraction: float = 0.08
    """Share of each view the object should cover (sizes the object)."""
    texture_dir: str | None = None
    """Folder searched recursively for photos to crop textures from; None = procedural textures."""
    supersample: int = 2
    """Rays per pixel along each axis (anti-aliasing); masks cover any pixel the object touches."""
    num_boxes: int = 5
    """Boxes behind and beside the object."""
    distance: float = 3.5
    """Camera distance to the object."""
    elevation_deg: float = 12.0
    """Mean camera elevation above the object's centre."""
    hfov_deg: float = 55.0
    """Horizontal field of view."""
    sparse_points_per_view: int = 150
    """Ground-truth sparse points sampled per view for gt/sparse/0."""


BENCHMARK_SCENES: dict[str, PhotoSceneConfig] = {
    name: PhotoSceneConfig(
        views=views,
        width=width,
        height=width * 3 // 4,
        seed=seed,
        path=path,
        arc_deg=arc,
        object_fraction=fraction,
    )
    for name, views, width, seed, path, arc, fraction in [
        ("arc_small_256", 20, 256, 11, "arc", 80.0, 0.03),
        ("arc_wide_384", 16, 384, 12, "arc", 100.0, 0.08),
        ("arc_big_512", 24, 512, 13, "arc", 80.0, 0.15),
        ("arc_1024", 20, 1024, 14, "arc", 70.0, 0.06),
        ("orbit_small_384", 24, 384, 21, "orbit", 0.0, 0.04),
        ("orbit_mid_256", 16, 256, 22, "orbit", 0.0, 0.10),
        ("orbit_big_1024", 20, 1024, 23, "orbit", 0.0, 0.13),
    ]
}
"""Named benchmark scenes: arcs and orbits, object fractions 0.03-0.15, 256 to 1024 px, 16-24 views."""


# ----------------------------------------------------------------------------------------------
# Cameras and scene
# ----------------------------------------------------------------------------------------------


def _intrinsics(cfg: PhotoSceneConfig, width: int, height: int) -> np.ndarray:
    fx = 0.5 * width / np.tan(np.deg2rad(cfg.hfov_deg) / 2)
    return np.array([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1.0]])


def _cameras(cfg: PhotoSceneConfig, jitter: dict, target_z: float) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera R (N, 3, 3), t (N, 3) on the configured path, all looking near the object."""
    Rs, ts = [], []
    for i in range(cfg.views):
        f = i / max(cfg.views - 1, 1)
        if cfg.path == "arc":
            a = -np.pi / 2 + jitter["turn"] + np.deg2rad(cfg.arc_deg) * (f - 0.5)
        elif cfg.path == "orbit":
            a = jitter["turn"] + 2 * np.pi * i / cfg.views
        else:
            raise ValueError(f"unknown camera path {cfg.path!r}: use 'arc' or 'orbit'")
        elev = np.deg2rad(cfg.elevation_deg + 5.0 * np.sin(3 * np.pi * f + jitter["phase"]))
        r = cfg.distance * (1 + 0.06 * np.sin(3 * a + jitter["phase"]))
        target = np.array([0.0, 0.0, target_z]) + jitter["aim"][i] * cfg.distance
        c = target + r * np.array([np.cos(elev) * np.cos(a), np.cos(elev) * np.sin(a), np.sin(elev)])
        R = look_at(c, target)
        Rs.append(R)
        ts.append(-R @ c)
    return np.array(Rs), np.array(ts)


def _fit_object(
    cfg: PhotoSceneConfig, parts: list, jitter: dict
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Scale the unit object so that it covers `object_fraction` of low-resolution views; returns the
    scale, the object's height and the cameras looking at it."""
    w = 96
    h = max(int(round(w * cfg.height / cfg.width)), 8)
    K = _intrinsics(cfg, w, h)
    top = max(np.asarray(m.get_max_bound())[2] for m, _ in parts)
    scale = 1.0
    for _ in range(4):
        Rs, ts = _cameras(cfg, jitter, 0.5 * top * scale)
        rays = np.concatenate([_rays(K, R, t, w, h, [(0.5, 0.5)]) for R, t in zip(Rs, ts, strict=True)])
        meshes = [_scaled(m, scale) for m, _ in parts]
        hits = cast_rays(raycaster(meshes), rays)["t_hit"]
        coverage = max(float(np.isfinite(hits).mean()), 1e-4)
        scale *= float(np.clip(np.sqrt(cfg.object_fraction / coverage), 0.25, 4.0))
    Rs, ts = _cameras(cfg, jitter, 0.5 * top * scale)
    return scale, top * scale, Rs, ts


def _scaled(mesh, scale: float):
    import copy

    return copy.deepcopy(mesh).scale(scale, center=(0.0, 0.0, 0.0))


@dataclass
class PhotoScene:
    """Background and object meshes with their looks, and a description for scene.json."""

    background: list
    background_looks: list[TexturedSurface]
    object_meshes: list
    object_looks: list[TexturedSurface]
    description: dict


def build_scene(cfg: PhotoSceneConfig, rng: np.random.Generator) -> tuple[PhotoScene, np.ndarray, np.ndarray]:
    """The scene and the cameras (R (N, 3, 3), t (N, 3)) that look at its object."""
    src = TextureSource(cfg.texture_dir, rng, procedural_side=int(np.clip(cfg.width, 64, 256)))
    turn = rng.uniform(-0.2, 0.2) if cfg.path == "arc" else rng.uniform(0, 2 * np.pi)
    jitter = {"turn": turn, "phase": rng.uniform(0, 2 * np.pi), "aim": rng.normal(0, 0.015, (cfg.views, 3))}
    kind = str(rng.choice(["box", "cylinder", "sphere", "lamp", "stack"]))
    parts = object_parts(kind, rng)
    scale, height, Rs, ts = _fit_object(cfg, parts, jitter)
    obj_meshes = [_scaled(m, scale) for m, _ in parts]
    obj_radius = max(float(np.hypot(*np.asarray(m.vertices)[:, :2].T).max()) for m in obj_meshes)
    centres = np.einsum("nji,nj->ni", Rs, -ts)
    meshes, looks, boxes = background(cfg.path, cfg.num_boxes, cfg.distance, src, centres, obj_radius)
    ident, zero = np.eye(3), np.zeros(3)
    obj_looks = [
        textured_surface(src, f"object_{kind}{k}", height, origin=zero, rotation=ident, mapping=mapping)
        for k, (_, mapping) in enumerate(parts)
    ]
    description = {
        "object": {"kind": kind, "scale": scale, "height": height, "radius": obj_radius},
        "boxes": boxes,
        "surfaces": [{"name": s.name, "texel": s.texel, **s.source} for s in looks + obj_looks],
    }
    return PhotoScene(meshes, looks, obj_meshes, obj_looks, description), Rs, ts


# ----------------------------------------------------------------------------------------------
# Rendering and writing
# ----------------------------------------------------------------------------------------------


def _rays(K: np.ndarray, R: np.ndarray, t: np.ndarray, w: int, h: int, offsets: list) -> np.ndarray:
    """Flat float32 rays (h * w * len(offsets), 6) through the sub-pixel `offsets` (du, dv) of each pixel."""
    off = np.asarray(offsets, dtype=np.float32)
    u = np.arange(w, dtype=np.float32)[None, :, None] + off[:, 0]
    v = np.arange(h, dtype=np.float32)[:, None, None] + off[:, 1]
    x = np.broadcast_to((u - K[0, 2]) / K[0, 0], (h, w, len(off)))
    y = np.broadcast_to((v - K[1, 2]) / K[1, 1], (h, w, len(off)))
    d = np.stack([x, y, np.ones_like(x)], -1).reshape(-1, 3) @ R.astype(np.float32)  # rows: R^T d_cam
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.concatenate([np.broadcast_to((-R.T @ t).astype(np.float32), d.shape), d], 1)


def _shade(looks: list[TexturedSurface], rays: np.ndarray, hits: dict, pix: float) -> np.ndarray:
    """Colour (N, 3) of flat rays from their hits: texture times Lambertian light (no cast shadows)."""
    t, d = hits["t_hit"], rays[:, 3:]
    p = rays[:, :3] + d * t[:, None]
    n = hits["primitive_normals"]
    cos = np.einsum("ij,ij->i", n, d)
    n = np.where((cos > 0)[:, None], -n, n)
    light = 0.45 + 0.5 * np.clip(n @ LIGHT_DIR.astype(np.float32), 0, None)
    light += 0.15 * np.clip(n @ FILL_DIR.astype(np.float32), 0, None)
    footprint = t * pix / np.sqrt(np.maximum(np.abs(cos), 0.05))  # pixel width on the surface, roughly
    col = np.zeros((len(rays), 3), dtype=np.float32)
    gid = hits["geometry_ids"]
    for g, look in enumerate(looks):
        sel = np.nonzero(gid == g)[0]
        if len(sel):
            c = look.albedo(p[sel], n[sel], footprint[sel])
            col[sel] = c if look.emissive else c * light[sel, None]
    return np.clip(col, 0.0, 1.0)


def render_view(
    scene: PhotoScene, casters: tuple, K: np.ndarray, R: np.ndarray, t: np.ndarray, cfg: PhotoSceneConfig
) -> tuple[np.ndarray, ...]:
    """Images with and without the object (uint8), the object's mask (any ray of the pixel on the object)
    and z-depth at pixel centres with and without it."""
    s, w, h = cfg.supersample, cfg.width, cfg.height
    centre = _rays(K, R, t, w, h, [(0.5, 0.5)])
    bg_c, ob_c = cast_rays(casters[0], centre)["t_hit"], cast_rays(casters[1], centre)["t_hit"]
    rays = _rays(K, R, t, w, h, [((i + 0.5) / s, (j + 0.5) / s) for j in range(s) for i in range(s)])
    bg, ob = cast_rays(casters[0], rays), cast_rays(casters[1], rays)
    on_obj = ob["t_hit"] < bg["t_hit"]
    mask = on_obj.reshape(h, w, s * s).any(axis=2) | (ob_c < bg_c).reshape(h, w)
    pix = 1.0 / (K[0, 0] * s)
    clean = _shade(scene.background_looks, rays, bg, pix)
    full = clean.copy()
    full[on_obj] = _shade(scene.object_looks, rays[on_obj], {k: v[on_obj] for k, v in ob.items()}, pix)
    clean_img = np.round(clean.reshape(h, w, s * s, 3).mean(2) * 255).astype(np.uint8)
    full_img = np.round(full.reshape(h, w, s * s, 3).mean(2) * 255).astype(np.uint8)
    full_img = np.where(mask[..., None], full_img, clean_img)
    cos = centre[:, 3:].astype(np.float64) @ R[2]
    depth_c = (bg_c * cos).reshape(h, w).astype(np.float32)
    depth_f = (np.minimum(bg_c, ob_c) * cos).reshape(h, w).astype(np.float32)
    if not np.isfinite(depth_c).all():
        raise RuntimeError("a ray escaped the backdrop; the scene must enclose every camera")
    return full_img, clean_img, mask, depth_f, depth_c


def generate_photo_scene(
    out: str | os.PathLike, config: PhotoSceneConfig | None = None, overwrite: bool = False
) -> Path:
    """Render a photo-textured capture with ground truth into the new folder `out` (layout: module docstring)."""
    cfg = config or PhotoSceneConfig()
    if cfg.views < 2 or min(cfg.width, cfg.height) < 16:
        raise ValueError(f"need 2+ views of 16x16+ pixels, got {cfg.views} of {cfg.width}x{cfg.height}")
    start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    scene, Rs, ts = build_scene(cfg, rng)
    K = _intrinsics(cfg, cfg.width, cfg.height)
    casters = (raycaster(scene.background), raycaster(scene.object_meshes))
    names = [f"view_{i:03d}.png" for i in range(cfg.views)]
    out = Path(out)
    coverage, depths = [], []
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        for sub in ("depth", "depth_clean"):
            (tmp / "gt" / sub).mkdir(parents=True)
        for i, name in enumerate(names):
            full, clean, mask, depth_f, depth_c = render_view(scene, casters, K, Rs[i], ts[i], cfg)
            stem = Path(name).stem
            write_image(tmp / "images" / name, full)
            write_image(tmp / "masks" / name, mask)
            write_image(tmp / "gt" / "images" / name, clean)
            np.save(tmp / "gt" / "depth" / f"{stem}.npy", depth_f)
            np.save(tmp / "gt" / "depth_clean" / f"{stem}.npy", depth_c)
            depths.append(depth_f)
            coverage.append(float(mask.mean()))
        points, tracks = sample_sparse_points(K, Rs, ts, depths, cfg.sparse_points_per_view, rng)
        write_colmap_text(
            tmp / "gt" / "sparse" / "0", K, Rs, ts, names, cfg.width, cfg.height, points, tracks
        )
        frames = [
            nerfstudio_frame(K, R, t, cfg.width, cfg.height, f"../images/{n}")
            for R, t, n in zip(Rs, ts, names, strict=True)
        ]
        (tmp / "gt" / "transforms.json").write_text(json.dumps(nerfstudio_transforms(frames), indent=2))
        np.savez(tmp / "gt" / "cameras.npz", K=K, R=Rs, t=ts, names=np.array(names))
        meta = {"config": asdict(cfg), **scene.description, "mask_coverage": coverage}
        (tmp / "gt" / "scene.json").write_text(json.dumps(meta, indent=2))
    seconds, share = time.perf_counter() - start, 100 * float(np.mean(coverage))
    logger.info(
        "wrote %d views (%s) to %s in %.1f s; the object covers %.1f%%",
        cfg.views,
        cfg.path,
        out,
        seconds,
        share,
    )
    return out


def render_benchmark(
    root: str | os.PathLike, texture_dir: str | None, names: list[str] | None = None, overwrite: bool = False
) -> dict[str, Path]:
    """Render the named `BENCHMARK_SCENES` (all by default) into root/<name> with photos from `texture_dir`."""
    return {
        name: generate_photo_scene(
            Path(root) / name, replace(BENCHMARK_SCENES[name], texture_dir=texture_dir), overwrite
        )
        for name in names or list(BENCHMARK_SCENES)
    }
