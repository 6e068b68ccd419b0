"""Ground-truth oracles of a capture with gt/ (synthetic or photo scenes): how much of each hole some other
view saw, and the removal that copies exactly that from the nearest such view.

A hole pixel of view i is lifted to its object-free surface point with gt/depth_clean and the true cameras
(gt/cameras.npz). View j sees the point when it projects inside j's image, in front of j, where j's
object-free depth agrees (within `REL_TOL`, so background clutter does not hide it) and where j's object
does not hide it (the bilinear footprint touches no pixel of j's mask, so copied colours hold no object).
These numbers bound what a multi-view removal can copy; the rest must be invented.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inconddiff.cameras import Camera
from inconddiff.capture import atomic_output_dir, load_capture, read_image, write_image

logger = logging.getLogger(__name__)

REL_TOL = 0.01
"""Relative depth agreement for a point to count as seen (not occluded) by another view."""


@dataclass
class _Views:
    """True cameras, object-free depth and its inverse (0 = unknown), masks (None = no mask), the masks
    grown so that pixel (x, y) tells whether the 2x2 footprint from there touches the object, and image
    paths, by view index."""

    stems: list[str]
    cameras: list[Camera]
    depth: list[np.ndarray]
    inv_depth: list[np.ndarray]
    masks: list[np.ndarray | None]
    footprint_hidden: list[np.ndarray | None]
    images: list[Path]
    mask_files: list[Path | None]


def _load(capture_dir: str | os.PathLike) -> _Views:
    root = Path(capture_dir)
    cap = load_capture(root)
    data = np.load(root / "gt" / "cameras.npz")
    stems = [Path(str(n)).stem for n in data["names"]]
    Ks = data["K"] if data["K"].ndim == 3 else np.repeat(data["K"][None], len(stems), 0)
    cams, depth, masks = [], [], []
    for k, stem in enumerate(stems):
        d = np.load(root / "gt" / "depth_clean" / f"{stem}.npy").astype(np.float64)
        h, w = d.shape
        cams.append(Camera(Ks[k], data["R"][k], data["t"][k], w, h))
        depth.append(np.where(np.isfinite(d) & (d > 0), d, 0.0))
        masks.append(cap.mask(stem))
    inv = [np.where(d > 0, 1.0 / np.maximum(d, 1e-12), 0.0) for d in depth]
    kernel = np.ones((2, 2), np.uint8)
    hidden = [None if m is None else cv2.dilate(m.astype(np.uint8), kernel, anchor=(0, 0)) > 0 for m in masks]
    images = [cap.images[s] for s in stems]
    return _Views(stems, cams, depth, inv, masks, hidden, images, [cap.masks.get(s) for s in stems])


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Samples of img (H, W) or (H, W, C) at x, y inside [0, W-1] x [0, H-1] (pixel centres at integers)."""
    h, w = img.shape[:2]
    x0 = np.clip(np.floor(x).astype(np.int64), 0, w - 2)
    y0 = np.clip(np.floor(y).astype(np.int64), 0, h - 2)
    fx, fy = x - x0, y - y0
    if img.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _seen_in(views: _Views, j: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether view j sees the points X (N, 3) (see the module docstring) and where (x, y, centres at
    integers)."""
    cam = views.cameras[j]
    uv, z = cam.project(X)
    x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5
    ok = (z > 1e-9) & (x >= 0) & (x <= cam.width - 1) & (y >= 0) & (y <= cam.height - 1)
    idx = np.nonzero(ok)[0]
    inv = _bilinear(views.inv_depth[j], x[idx], y[idx])
    good = np.abs(inv * z[idx] - 1.0) <= REL_TOL  # inverse depth is affine on planes: exact there
    hidden = views.footprint_hidden[j]
    if hidden is not None:
        x0 = np.minimum(np.floor(x[idx]).astype(np.int64), cam.width - 1)
        y0 = np.minimum(np.floor(y[idx]).astype(np.int64), cam.height - 1)
        good &= ~hidden[y0, x0]
    ok[idx] = good
    return ok, x, y


def _hole_sources(views: _Views, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the hole pixels (ys, xs) of view i: the view that sees each one at the smallest angle between
    the viewing rays (-1 = none) and where in it (x, y)."""
    ys, xs = np.nonzero(views.masks[i])
    depth = views.depth[i][ys, xs]
    lifted = depth > 0
    X = views.cameras[i].unproject(np.stack([xs + 0.5, ys + 0.5], 1), depth)
    ray_i = X - views.cameras[i].centre
    ray_i /= np.linalg.norm(ray_i, axis=1, keepdims=True)
    best = np.full(len(xs), -1, dtype=np.int64)
    best_cos = np.full(len(xs), -np.inf)
    bx, by = np.zeros(len(xs)), np.zeros(len(xs))
    for j in range(len(views.stems)):
        if j == i:
            continue
        ok, x, y = _seen_in(views, j, X)
        ray_j = X - views.cameras[j].centre
        cos = np.sum(ray_i * ray_j, 1) / np.linalg.norm(ray_j, axis=1)
        better = ok & lifted & (cos > best_cos)
        best[better], best_cos[better], bx[better], by[better] = j, cos[better], x[better], y[better]
    return ys, xs, best, bx, by


def seen_masks(capture_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Per view with a non-empty mask: the hole pixels (bool H x W) whose object-free surface point some
    other view sees; the rest of a hole must be invented by any removal."""
    views = _load(capture_dir)
    out = {}
    for i, stem in enumerate(views.stems):
        if views.masks[i] is not None and views.masks[i].any():
            ys, xs, best, _, _ = _hole_sources(views, i)
            seen = np.zeros_like(views.masks[i])
            seen[ys, xs] = best >= 0
            out[stem] = seen
    return out


def seen_fraction(
    capture_dir: str | os.PathLike, seen: dict[str, np.ndarray] | None = None
) -> dict[str, float]:
    """Per view with a non-empty mask: the share of its hole pixels whose object-free surface point some
    other view sees (from `seen`, the capture's `seen_masks`, when already computed)."""
    masks = load_capture(capture_dir).mask
    seen = seen_masks(capture_dir) if seen is None else seen
    return {stem: float(s.sum() / masks(stem).sum()) for stem, s in seen.items()}


def _fill(views: _Views, i: int, image: np.ndarray, images: dict[int, np.ndarray]) -> np.ndarray:
    """View i's image with each hole pixel copied from its nearest seeing view (bilinear), and the mean of
    those copies (or of the ring around the hole, when nothing is seen) where no view sees it."""
    ys, xs, best, bx, by = _hole_sources(views, i)
    colours = np.zeros((len(xs), 3))
    for j in np.unique(best[best >= 0]):
        if j not in images:
            images[j] = read_image(views.images[j]).astype(np.float64)
        sel = best == j
        colours[sel] = _bilinear(images[j], bx[sel], by[sel])
    seen = best >= 0
    if seen.any():
        colours[~seen] = colours[seen].mean(0)
    else:
        mask = views.masks[i]
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
        colours[:] = image[ring].mean(0) if ring.any() else image.reshape(-1, 3).mean(0)
    out = image.copy()
    out[ys, xs] = np.clip(np.round(colours), 0, 255).astype(np.uint8)
    return out


def copy_oracle(capture_dir: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a new capture folder (images/ as PNG, masks/ copied) where every hole pixel takes its colour
    from the input image of the nearest view that sees it; pixels outside the masks are unchanged."""
    views = _load(capture_dir)
    images: dict[int, np.ndarray] = {}
    out = Path(out_dir)
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        (tmp / "masks").mkdir()
        for i, stem in enumerate(views.stems):
            image = read_image(views.images[i])
            if views.masks[i] is not None and views.masks[i].any():
                image = _fill(views, i, image, images)
            write_image(tmp / "images" / f"{stem}.png", image)
            if views.mask_files[i] is not None:
                shutil.copy2(views.mask_files[i], tmp / "masks" / views.mask_files[i].name)
    logger.info("wrote the copy oracle of %s to %s", capture_dir, out)
    return out
