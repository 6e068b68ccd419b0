"""Cross-view consistency of filled holes, measured with ground-truth depth and cameras (no radiance field).

Every hole pixel of view i is lifted to 3D with the object-free depth of view i and projected into each
other view j. Where view j sees the same surface point (its object-free depth agrees) and that point lies
in j's hole too, the two fills should show the same colour: their disagreement is the measure. Where it
lies outside j's hole, j observed the real surface there, and the fill should agree with that too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inconddiff.cameras import Camera, crop_pixel_grid
from inconddiff.capture import load_capture, read_image
from inconddiff.prior.warp import lookup


@dataclass
class ConsistencyResult:
    fill_vs_fill_psnr: float
    """PSNR between two views' fills of the same surface points (higher = more consistent)."""
    fill_vs_fill_pixels: int
    fill_vs_fill_mae: float
    """Mean absolute difference (0-255) between two views' fills of the same surface points: the cross-view
    disagreement (lower = more consistent)."""
    fill_vs_observed_psnr: float
    """PSNR between a view's fill and another view's real observation of the same point."""
    fill_vs_observed_pixels: int

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def psnr_from_sse(sse: float, n: int) -> float:
    """PSNR in dB (peak 1.0) of `n` pixels whose squared errors sum to `sse`, pooled; NaN for none."""
    if n == 0:
        return float("nan")
    mse = sse / n
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def cross_view_consistency(
    images: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    cameras: dict[str, Camera],
    depths: dict[str, np.ndarray],
    rel_tol: float = 0.01,
) -> ConsistencyResult:
    """Consistency of the filled `images` (uint8) whose holes are `masks`, with true object-free `depths`."""
    sse_ff = sse_fo = sae_ff = 0.0
    n_ff = n_fo = 0
    for i, mask_i in masks.items():
        if not mask_i.any():
            continue
        h, w = mask_i.shape
        grid = crop_pixel_grid((0, h, 0, w), (h, w))
        ys, xs = np.nonzero(mask_i)
        img_i = images[i].astype(np.float64) / 255.0
        for j in images:
            if j == i:
                continue
            mapx, mapy, z, valid = lookup(cameras[i], depths[i].astype(np.float64), grid, cameras[j])
            seen_z = cv2.remap(depths[j].astype(np.float32), mapx, mapy, cv2.INTER_NEAREST)
            valid &= np.abs(seen_z - z) < rel_tol * np.maximum(z, 1e-9)
            sel = valid[ys, xs]
            if not sel.any():
                continue
            yy, xx = ys[sel], xs[sel]
            colour_j = cv2.remap(images[j].astype(np.float32) / 255.0, mapx, mapy, cv2.INTER_LINEAR)[yy, xx]
            in_hole_j = cv2.remap(
                masks[j].astype(np.float32) if j in masks else np.zeros((h, w), np.float32),
                mapx,
                mapy,
                cv2.INTER_LINEAR,
            )[yy, xx]
            diff = img_i[yy, xx] - colour_j
            err = (diff**2).mean(axis=1)
            both = in_hole_j > 0.99
            clear = in_hole_j < 0.01
            sse_ff += float(err[both].sum())
            sae_ff += float(np.abs(diff[both]).mean(axis=1).sum())
            n_ff += int(both.sum())
            sse_fo += float(err[clear].sum())
            n_fo += int(clear.sum())
    mae = 255.0 * sae_ff / n_ff if n_ff else float("nan")
    return ConsistencyResult(psnr_from_sse(sse_ff, n_ff), n_ff, mae, psnr_from_sse(sse_fo, n_fo), n_fo)


def synthetic_consistency(capture: str | os.PathLike, edited: str | os.PathLike) -> ConsistencyResult:
    """`cross_view_consistency` of an edited copy of a synthetic capture, with the capture's ground truth
    (gt/cameras.npz, gt/depth_clean) and masks."""
    from inconddiff.evaluation.synthetic import load_gt_cameras

    capture, edited = Path(capture), Path(edited)
    cap = load_capture(capture)
    gt = load_gt_cameras(capture)
    cams, depths, images, masks = {}, {}, {}, {}
    for k, name in enumerate(gt["names"]):
        stem = Path(str(name)).stem
        h, w = cap.sizes[stem]
        cams[stem] = Camera(gt["K"], gt["R"][k], gt["t"][k], w, h)
        depths[stem] = np.load(capture / "gt" / "depth_clean" / f"{stem}.npy")
        images[stem] = read_image(edited / "images" / f"{stem}.png")
        m = cap.mask(stem)
        if m is not None:
            masks[stem] = m
    return cross_view_consistency(images, masks, cams, depths)
