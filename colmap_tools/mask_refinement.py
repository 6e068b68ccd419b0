"""A projected mask refined on its view's own pixels (OpenCV's GrabCut seeded by the projection), and the
margin it is grown by (`propagate_masks` step 5)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes, distance_transform_edt, label

REFINE_RING = 0.25
"""GrabCut's seed: pixels within this fraction of the projected mask's size around it may be either; beyond it,
background."""
REFINE_CORE = 0.15
"""...and the mask eroded by this fraction of its size is taken as the object."""
REFINE_LIMITS = (0.5, 1.6)
"""A refined mask whose area leaves this range of the projected mask's is not trusted: the projection stays."""
SPECK_FRACTION = 0.1
"""Parts of a projected mask smaller than this fraction of its largest part are splatting noise, not object: they
are dropped before GrabCut, which would otherwise grow them into whatever surrounds them."""
GRABCUT_SIDE = 640
"""GrabCut runs on the region around the mask shrunk to at most this many pixels along its longer side (the
answer is brought back to full size): on a 12 MP photo the region holds millions of pixels, and the mask's
edge needs no finer steps than the margin it is grown by afterwards."""
INTERIOR_FACTOR = 2.0
"""GrabCut trims a projection's overshoot, a band of a few pixels along its border; it also drops thin parts whose
colours resemble the background (a grey post in front of grey stone). Projected pixels deeper inside than this
many times the median depth of what GrabCut trimmed are therefore kept."""


def refine_with_image(image: np.ndarray, projected: np.ndarray, iterations: int = 4) -> np.ndarray:
    """`projected` (bool) moved onto the object's edges in `image` (uint8 RGB) by GrabCut, seeded by it; the
    projection itself where GrabCut's answer is implausible (`REFINE_LIMITS`). Specks are dropped first
    (`SPECK_FRACTION`) and the projection's deep interior is kept (`INTERIOR_FACTOR`)."""
    projected = drop_specks(projected)
    refined = grabcut(image, projected, iterations)
    if refined is projected:
        return projected
    depth = distance_transform_edt(projected)
    trimmed = projected & ~refined
    if trimmed.any():
        refined = refined | (depth > max(2.0, INTERIOR_FACTOR * float(np.median(depth[trimmed]))))
    return refined


def drop_specks(mask: np.ndarray) -> np.ndarray:
    """`mask` without its connected parts smaller than `SPECK_FRACTION` of its largest."""
    parts, n = label(mask)
    if n < 2:
        return mask
    areas = np.bincount(parts.ravel())[1:]
    return np.isin(parts, np.flatnonzero(areas >= SPECK_FRACTION * areas.max()) + 1)


def grabcut(image: np.ndarray, projected: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut's object in `image` seeded by `projected` (`REFINE_RING`, `REFINE_CORE`); `projected` itself
    (the same object) where GrabCut cannot run or its answer is implausible (`REFINE_LIMITS`)."""
    ys, xs = np.nonzero(projected)
    if len(ys) < 16:
        return projected
    size = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    ring, core = max(3, int(REFINE_RING * size)), max(1, int(REFINE_CORE * size))
    h, w = projected.shape
    y0, y1 = max(0, ys.min() - 2 * ring), min(h, ys.max() + 2 * ring + 1)
    x0, x1 = max(0, xs.min() - 2 * ring), min(w, xs.max() + 2 * ring + 1)
    m = projected[y0:y1, x0:x1].astype(np.uint8)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    scale = min(1.0, GRABCUT_SIDE / max(m.shape))
    if scale < 1.0:
        small = (max(1, round(m.shape[1] * scale)), max(1, round(m.shape[0] * scale)))
        crop = cv2.resize(crop, small, interpolation=cv2.INTER_AREA)
        m = (cv2.resize(m.astype(np.float32), small, interpolation=cv2.INTER_AREA) >= 0.5).astype(np.uint8)
        ring, core = max(3, round(ring * scale)), max(1, round(core * scale))
    # distances, not dilation by a disc: a disc a hundred pixels wide costs seconds per view
    outside = cv2.distanceTransform((m == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    seed = np.full(m.shape, cv2.GC_BGD, np.uint8)
    seed[outside <= ring] = cv2.GC_PR_BGD
    seed[m > 0] = cv2.GC_PR_FGD
    seed[inside > core] = cv2.GC_FGD
    if not (seed == cv2.GC_BGD).any() or not ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).any():
        return projected
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(crop, seed, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    refined = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        refined = cv2.resize(refined, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        m = projected[y0:y1, x0:x1]
    refined = binary_fill_holes(refined >= 0.5)
    ratio = refined.sum() / max(m.sum(), 1)
    if not REFINE_LIMITS[0] <= ratio <= REFINE_LIMITS[1]:
        return projected
    out = np.zeros_like(projected)
    out[y0:y1, x0:x1] = refined
    return out


MARGIN_FRACTION = 0.004
"""The default margin a propagated mask is grown by, as a fraction of the image's longer side (2 px at 512):
enough to cover the object's blended edge pixels, not so much that the fill must invent more."""


def default_margin(shape: tuple[int, int]) -> int:
    """`MARGIN_FRACTION` of an image of `shape` (h, w), at least one pixel."""
    return max(1, round(MARGIN_FRACTION * max(shape)))


def dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    """`mask` grown by `margin` pixels (a disc)."""
    if margin <= 0:
        return mask
    return (
        cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
        > 0
    )
