"""Choose the depth of the background hidden behind a hole among candidate surfaces, per pixel, by how well the
views that see each candidate agree on its colour.

The background behind an object is mostly a few surfaces (ground, a wall, a table top); the sparse points around
the hole sample them. Each candidate depth map (the surface the views' depth maps confirm, the interpolated
sparse depth, and the planes that explain groups of the sparse points) is lifted into every observed view: at the
right depth they show the same surface point and agree in colour, at a wrong one they show different points.
Disagreement is measured in colour and, where there is texture, in the shape of the local pattern (NCC). Where a
candidate makes the views agree better than the default, it takes over; a plane only near its own points, since
a far wall's plane carried across the crop can match repeated texture by chance. Where texture is flat and any
depth agrees, the default stands.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from inconddiff.cameras import Camera
from inconddiff.prior.hole_depth import PLANE_TOLERANCE, fit_inverse_depth_plane
from inconddiff.prior.median import median_of_valid
from inconddiff.prior.warp import invalid_at, lookup, sample_image

MAX_PLANES = 3
"""At most this many planes are fitted to the sparse points around a hole (one after another, each on the
points the earlier ones do not explain)."""
LOCAL_SAMPLES = 20
"""A plane is a candidate at a pixel only where at least two of the pixel's this many nearest points lie on it."""
MIN_PLANE_SAMPLES = 8
"""A plane needs at least this many inlying points..."""
MIN_PLANE_SHARE = 0.1
"""...and at least this share of the points."""
MAX_DEVIATION = 0.15
"""A view's colour differing from the views' median by more than this (mean absolute difference over RGB in
[0, 1]) counts as this much: one view that sees something else there does not dominate."""
MIN_TEXTURE = 0.02
"""A window whose median colour varies less than this (standard deviation of grey in [0, 1]) says nothing
about depth: any depth agrees there."""
AGREEMENT_WINDOW = 7
"""The views' disagreement is averaged over windows of this many working pixels: a single pixel's colour
agrees by chance."""
MARGIN = 0.01
"""A candidate replaces the default depth where it lowers the disagreement by more than this."""


def background_planes(
    uv: np.ndarray, depth: np.ndarray, query_uv: np.ndarray, seed: int = 0
) -> list[np.ndarray]:
    """Depths at `query_uv` (N, 2) of up to `MAX_PLANES` planes through groups of the samples (uv (M, 2),
    depth (M,)), found one after another by RANSAC on the samples no earlier plane explains; NaN where a
    plane passes behind the camera or has too few of its points near (`LOCAL_SAMPLES`)."""
    planes = []
    left = np.ones(len(uv), bool)
    if len(uv) == 0:
        return planes
    near = min(LOCAL_SAMPLES, len(uv))
    _, nearest = cKDTree(uv).query(query_uv, k=near, workers=-1)
    nearest = nearest.reshape(len(query_uv), near)
    design = np.concatenate([query_uv, np.ones((len(query_uv), 1))], 1)
    for attempt in range(MAX_PLANES):
        if left.sum() < MIN_PLANE_SAMPLES:
            break
        coef, _ = fit_inverse_depth_plane(uv[left], depth[left], seed=seed + attempt)
        if coef is None:
            break
        inv = np.concatenate([uv, np.ones((len(uv), 1))], 1) @ coef
        inliers = left & (np.abs(inv - 1.0 / depth) * depth < PLANE_TOLERANCE)
        if inliers.sum() < max(MIN_PLANE_SAMPLES, MIN_PLANE_SHARE * len(uv)):
            break
        at = design @ coef
        local = inliers[nearest].sum(1) >= 2  # a plane stands where its own points are, not across the crop
        planes.append(np.where((at > 1e-9) & local, 1.0 / np.maximum(at, 1e-9), np.nan))
        left &= ~inliers
    return planes


def views_at(
    target: Camera,
    grid: np.ndarray,
    depth: np.ndarray,
    sources: list[tuple[Camera, np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray]:
    """The colours (sources, h, w, 3) the `sources` (camera, image, own hole or None) show at the target pixels
    of `grid` (h, w, 2) lifted to `depth` (h, w), and where they see those points outside their hole."""
    colours, valids = [], []
    for camera, image, invalid in sources:
        mapx, mapy, _, valid = lookup(target, depth, grid, camera)
        colours.append(sample_image(image, mapx, mapy))
        if invalid is not None:
            valid &= ~invalid_at(invalid, mapx, mapy)
        valids.append(valid)
    return np.stack(colours), np.stack(valids)


def disagreement(colours: np.ndarray, valids: np.ndarray) -> np.ndarray:
    """Per pixel, how much the views that see it (`views_at`) disagree: the mean over them of each one's
    truncated colour difference from their median averaged over `AGREEMENT_WINDOW`, plus their mean
    (1 - NCC) / 2 against the median over the window (0.5 where it has no texture); the highest cost where
    fewer than two see it."""
    count = valids.sum(0)
    median = median_of_valid(colours, valids)  # NaN where no view sees the pixel
    with np.errstate(invalid="ignore"):
        dev = np.minimum(np.abs(colours - median[None]).mean(-1), MAX_DEVIATION)
    seen = count >= 2
    colour = np.where(valids, dev, 0.0).sum(0) / np.maximum(count, 1)
    ref = np.where(seen, median.mean(-1), 0.0).astype(np.float32)
    shape_cost = np.zeros(ref.shape, np.float32)
    for k in range(len(colours)):
        w = (valids[k] & seen).astype(np.float32)
        shape_cost += np.where(valids[k], _window_ncc_cost(colours[k].mean(-1), ref, w), 0.0)
    shape_cost /= np.maximum(count, 1)
    win = (AGREEMENT_WINDOW, AGREEMENT_WINDOW)
    cost = cv2.blur(colour.astype(np.float32), win, borderType=cv2.BORDER_REFLECT) + shape_cost
    return np.where(seen, cost, MAX_DEVIATION + 0.5).astype(np.float32)


def _window_ncc_cost(gray: np.ndarray, ref: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(1 - NCC) / 2 of `gray` against `ref` over `AGREEMENT_WINDOW` (pixels weighted by `weight`), 0.5
    where the window has no texture (flat patches agree at any depth)."""
    win = (AGREEMENT_WINDOW, AGREEMENT_WINDOW)
    g = gray.astype(np.float32)

    def mean(x):
        return cv2.blur(x * weight, win, borderType=cv2.BORDER_REFLECT) / np.maximum(n, 1e-6)

    n = cv2.blur(weight, win, borderType=cv2.BORDER_REFLECT)
    mg, mr = mean(g), mean(ref)
    vg = np.maximum(mean(g * g) - mg * mg, 0)
    vr = np.maximum(mean(ref * ref) - mr * mr, 0)
    ncc = (mean(g * ref) - mg * mr) / np.sqrt(vg * vr + 1e-8)
    textured = (vr >= MIN_TEXTURE**2) & (n > 0.5)
    return np.where(textured, (1.0 - np.clip(ncc, -1, 1)) / 2, 0.5)


def choose_depth(
    target: Camera,
    grid: np.ndarray,
    candidates: list[np.ndarray],
    sources: list[tuple[Camera, np.ndarray, np.ndarray | None]],
    margin: np.ndarray | float = MARGIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of `grid` the candidate depth (h, w maps; the first is the default, NaN = none) on which the
    `sources` agree best, taken over the default only where it lowers `disagreement` by more than `margin`
    (a number or h x w). Returns (depth, index of the chosen candidate)."""
    default = candidates[0]
    if len(candidates) < 2 or len(sources) < 2:
        return default, np.zeros(default.shape, np.int64)
    looks, oks = [], []
    for depth in candidates:
        ok = np.isfinite(depth) & (depth > 0)
        looks.append(views_at(target, grid, np.where(ok, depth, 1.0), sources))
        oks.append(ok)
    costs = np.stack(
        [np.where(ok, disagreement(c, v), np.inf) for (c, v), ok in zip(looks, oks, strict=True)]
    )
    costs[1:] += margin
    choice = np.argmin(costs, axis=0).astype(np.uint8)
    if min(choice.shape) >= 5:
        choice = cv2.medianBlur(choice, 5)  # a lone pixel's choice is chance
    choice = choice.astype(np.int64)
    depth = np.take_along_axis(np.stack(candidates), choice[None], 0)[0]
    bad = ~(np.isfinite(depth) & (depth > 0))
    depth[bad], choice[bad] = default[bad], 0
    return depth, choice
