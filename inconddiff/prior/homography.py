"""The classical reference fill: a homography from SIFT matches around the hole, colour matched.

This is the baseline every learned fill is scored against (../shared/FACTS.md: ~21 dB masked PSNR on real
captures). It needs no reconstruction: matches near the hole decide how the reference maps onto the target
locally, which is exact for planar backgrounds and approximate elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inconddiff.prior.colour import match_colour
from inconddiff.prior.telea import telea


@dataclass
class HomographyWarp:
    """A reference warped into the target frame by a homography."""

    warped: np.ndarray  # float HxWx3 in [0, 1]
    valid: np.ndarray  # bool HxW
    inliers: int
    H: np.ndarray | None  # reference -> target


def to_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 as is; float in [0, 1] rounded to uint8."""
    return image if image.dtype == np.uint8 else np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)


def homography_warp(
    target: np.ndarray,
    hole: np.ndarray,
    reference: np.ndarray,
    ref_invalid: np.ndarray | None = None,
    band: float = 1.0,
    min_matches: int = 12,
) -> HomographyWarp:
    """Warp `reference` (uint8) onto `target` (uint8) with a homography fit (RANSAC) to SIFT matches that lie
    within `band` times the hole's size around it (all matches when too few are near)."""
    sift = cv2.SIFT_create()
    t_mask = (~cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)).astype(
        np.uint8
    ) * 255
    r_mask = None if ref_invalid is None else (~ref_invalid).astype(np.uint8) * 255
    kt, dt = sift.detectAndCompute(_gray(target), t_mask)
    kr, dr = sift.detectAndCompute(_gray(reference), r_mask)
    h, w = hole.shape
    empty = HomographyWarp(np.zeros((h, w, 3)), np.zeros((h, w), bool), 0, None)
    if dt is None or dr is None or len(kt) < min_matches or len(kr) < min_matches:
        return empty
    matches = cv2.BFMatcher().knnMatch(dt, dr, k=2)
    good = [m for m, n in (p for p in matches if len(p) == 2) if m.distance < 0.8 * n.distance]
    if len(good) < min_matches:
        return empty
    pt = np.float32([kt[m.queryIdx].pt for m in good])
    pr = np.float32([kr[m.trainIdx].pt for m in good])
    ys, xs = np.nonzero(hole)
    cy, cx = ys.mean(), xs.mean()
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    near = np.hypot(pt[:, 0] - cx, pt[:, 1] - cy) < (0.5 + band) * extent
    if near.sum() >= min_matches:
        pt, pr = pt[near], pr[near]
    H, inl = cv2.findHomography(pr, pt, cv2.RANSAC, 3.0)
    if H is None or inl is None or int(inl.sum()) < min_matches // 2:
        return empty
    ref_f = reference.astype(np.float32) / 255.0
    warped = cv2.warpPerspective(ref_f, H, (w, h), flags=cv2.INTER_LINEAR)
    ok = np.ones(reference.shape[:2], np.float32)
    if ref_invalid is not None:
        ok[ref_invalid] = 0
    valid = cv2.warpPerspective(ok, H, (w, h), flags=cv2.INTER_LINEAR) > 0.99
    return HomographyWarp(warped.astype(np.float64), valid, int(inl.sum()), H)


def homography_fill(
    target: np.ndarray,
    hole: np.ndarray,
    references: list[np.ndarray],
    ref_invalids: list[np.ndarray | None] | None = None,
) -> tuple[np.ndarray, dict]:
    """The baseline fill of `target`'s hole (uint8 in, float [0, 1] out): the reference with the most
    inliers, warped by its homography and colour matched, with Telea where it has no pixels."""
    image = target.astype(np.float64) / 255.0
    best = None
    for i, ref in enumerate(references):
        inv = None if ref_invalids is None else ref_invalids[i]
        cand = homography_warp(target, hole, ref, inv)
        if best is None or cand.inliers > best[1].inliers:
            best = (i, cand)
    out = image.copy()
    covered = np.zeros_like(hole)
    info = {"reference": None, "inliers": 0, "coverage": 0.0}
    if best is not None and best[1].H is not None:
        i, warp = best
        fill = match_colour(warp.warped, image, warp.valid, hole)
        covered = hole & warp.valid
        out[covered] = fill[covered]
        info = {
            "reference": i,
            "inliers": warp.inliers,
            "coverage": float(covered.sum() / max(hole.sum(), 1)),
        }
    rest = hole & ~covered
    if rest.any():
        out = telea(out, rest)
    return out, info


def warp_references(
    target: np.ndarray,
    hole: np.ndarray,
    references: list[np.ndarray],
    ref_invalids: list[np.ndarray | None] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every reference (uint8 or float in [0, 1]) warped onto `target` by its homography near the hole and
    colour matched: (warps float HxWx3 in [0, 1], validities bool HxW). References without a homography
    (too few matches) are left out. The prior a pipeline uses when it is given no warps of its own."""

    tgt = to_uint8(np.asarray(target))
    image = tgt.astype(np.float64) / 255.0
    warps, valids = [], []
    for i, ref in enumerate(references):
        inv = None if ref_invalids is None else ref_invalids[i]
        warp = homography_warp(tgt, hole, to_uint8(np.asarray(ref)), inv)
        if warp.H is None:
            continue
        warps.append(match_colour(warp.warped, image, warp.valid, hole))
        valids.append(warp.valid)
    return warps, valids
