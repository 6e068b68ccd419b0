"""The geometric prior: candidate warps of the references checked, fused and harmonised into one fill.

Each warp is checked on the known pixels around the hole and against the other warps inside it; the best
are fused (a robust mean), the rest only fill the gaps the best leave, and Telea takes what none saw.
"""

from __future__ import annotations

import cv2
import numpy as np

from inconddiff.prior.colour import harmonise, match_colour
from inconddiff.prior.telea import telea


def fuse_warps(
    warps: list[np.ndarray], valids: list[np.ndarray], weights: list[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel fusion of several warped references: the weighted median-ish choice that agrees most with
    the others (robust to one bad reference). Returns (image, validity of at least one)."""
    if not warps:
        raise ValueError("no warps to fuse")
    stack = np.stack(warps)  # (k, h, w, 3)
    val = np.stack(valids).astype(np.float64)  # (k, h, w)
    wts = np.ones(len(warps)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = val * wts[:, None, None]
    any_valid = val.sum(0) > 0
    if len(warps) == 1:
        return stack[0], any_valid
    # robust mean: weight each reference by its agreement with the weighted mean
    mean = (stack * w[..., None]).sum(0) / np.maximum(w.sum(0), 1e-9)[..., None]
    dist = np.abs(stack - mean[None]).sum(-1)
    w2 = w * np.exp(-((dist / 0.08) ** 2))
    w2 = np.where(w2.sum(0, keepdims=True) > 1e-9, w2, w)
    fused = (stack * w2[..., None]).sum(0) / np.maximum(w2.sum(0), 1e-9)[..., None]
    return fused, any_valid


RING_FRACTION = 0.5
"""Width of the ring of known pixels a warp is checked on, as a fraction of the hole's larger side."""


CONSENSUS_WEIGHT = 1.0
"""Weight of a warp's disagreement with the others inside the hole against its ring error."""


KEEP_TOLERANCE = 0.1
"""Warps whose score is within this fraction of the best one are fused; the others only fill gaps. Fusing
warps a pixel or two apart blurs the fill, fusing none makes the views' fills disagree more."""


COVERAGE_PENALTY = 0.5
"""A warp's score grows by this fraction of itself times the share of the hole it leaves uncovered: a warp
that is valid only in fragments is checked on its best pixels, and the gaps it leaves are patched from
other warps with seams."""


def ring_errors(
    image: np.ndarray,
    hole: np.ndarray,
    warps: list[np.ndarray],
    valids: list[np.ndarray],
    ring: int | None = None,
) -> list[float]:
    """Each warp's mean absolute error against the known pixels in a ring around the hole (where the warp is
    valid); inf when it covers less than a fifth of the ring. The ring is `ring` pixels wide, by default
    `RING_FRACTION` of the hole's larger side: wide enough to show a warp that drifts away from the hole's
    edge, where the depth or the homography was fit. Pass colour-matched warps (`match_colour`)."""
    if ring is None:
        ys, xs = np.nonzero(hole)
        side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 if len(ys) else 16
        ring = max(8, int(RING_FRACTION * side))
    band = cv2.dilate(hole.astype(np.uint8), np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)).astype(bool)
    band &= ~hole
    errors = []
    for warp, valid in zip(warps, valids, strict=True):
        sel = band & valid
        if not band.any() or sel.sum() < max(20, 0.2 * band.sum()):
            errors.append(float("inf"))
            continue
        errors.append(float(np.abs(warp[sel] - image[sel]).mean()))
    return errors


def consensus_errors(hole: np.ndarray, warps: list[np.ndarray], valids: list[np.ndarray]) -> list[float]:
    """Each warp's median disagreement with the other warps inside the hole (mean absolute difference where
    both are valid): independent warps that are right agree, broken ones do not. NaN when no other warp
    overlaps it. Pass colour-matched warps (`match_colour`)."""
    out = []
    for i in range(len(warps)):
        diffs = []
        for j in range(len(warps)):
            sel = hole & valids[i] & valids[j]
            if i != j and sel.sum() >= max(20, 0.2 * (hole & valids[i]).sum()):
                diffs.append(float(np.abs(warps[i][sel] - warps[j][sel]).mean()))
        out.append(float(np.median(diffs)) if diffs else float("nan"))
    return out


def selection_scores(
    image: np.ndarray, hole: np.ndarray, warps: list[np.ndarray], valids: list[np.ndarray]
) -> list[float]:
    """How much to distrust each warp (lower is better): its error on the known pixels around the hole plus
    its disagreement with the other warps inside it, both after matching its colour to the ring (exposure
    differs between views); inf when it cannot be checked on the known pixels."""
    matched = [match_colour(w, image, v, hole) for w, v in zip(warps, valids, strict=True)]
    ring = ring_errors(image, hole, matched, valids)
    consensus = consensus_errors(hole, matched, valids)
    fallback = np.nanmax(consensus) if np.isfinite(consensus).any() else 0.0
    return [
        r + CONSENSUS_WEIGHT * (c if np.isfinite(c) else fallback)
        for r, c in zip(ring, consensus, strict=True)
    ]


SPECK_FRACTION = 0.006
"""Parts of a warp's validity (and of the gaps the next warps fill) narrower than 2 r + 1 pixels, r this
fraction of the crop's longer side (7 px at 512), are dropped before the warps are scored and fused: a warp
through a jagged depth is valid in specks, and filling a hole from several such warps gives a patchwork of
misaligned pixels; thin leftovers go to Telea instead."""


def without_specks(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` without the parts narrower than 2 * radius + 1 pixels (a morphological opening)."""
    if radius <= 0 or not mask.any():
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def geometric_prior(
    image: np.ndarray, hole: np.ndarray, warps: list[np.ndarray], valids: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The warped references where they see the hole, Telea where none does; and where some reference saw.

    Validity specks are dropped first (`SPECK_FRACTION`). The warps are scored (`selection_scores`: error
    on the known pixels around the hole, disagreement with the other warps inside it, raised by
    `COVERAGE_PENALTY` for the part of the hole a warp does not cover). Those within `KEEP_TOLERANCE` of the
    best are fused (robust mean; a tight tolerance keeps the texture sharp); the rest, best first, only fill
    the gaps wider than a speck that the kept ones leave. A single broken warp (jagged depth, wrong
    homography) so never blurs or replaces the good ones. Each fused group's offset from the known pixels
    around the hole is spread smoothly into it (`harmonise`: exposure differs between views; one offset per
    group, not a gain per warp, which made the views' fills disagree). Pixels outside the hole are
    `image`'s."""
    prior = image.astype(np.float64).copy()
    valid = np.zeros(hole.shape, dtype=bool)
    speck = int(round(SPECK_FRACTION * max(hole.shape)))
    valids = [without_specks(v, speck) for v in valids]
    if warps:
        scores = np.asarray(selection_scores(image, hole, warps, valids))
        if hole.any():
            coverage = np.array([(v & hole).sum() / hole.sum() for v in valids])
            scores = scores * (1 + COVERAGE_PENALTY * (1 - coverage))
        order = [int(i) for i in np.argsort(scores, kind="stable")]
        finite = np.isfinite(scores)
        if finite.any():
            best = scores[finite].min()
            kept = [i for i in order if scores[i] <= best * (1 + KEEP_TOLERANCE) + 1e-3]
        else:
            kept = order
        groups = [kept] + [[i] for i in order if i not in kept]
        side = max(hole.shape)
        for group in groups:
            fused, seen = fuse_warps([warps[i] for i in group], [valids[i] for i in group])
            # where the warp has no pixels around the hole, no offset is assumed
            full = np.where(seen[..., None], fused, image)
            fused = harmonise(full, image, hole, ring=max(3, side // 32), sigma=max(2.0, 0.15 * side))
            sel = without_specks(hole & seen & ~valid, speck)
            prior[sel] = fused[sel]
            valid |= sel | (seen & ~hole)
    rest = hole & ~valid
    if rest.any():
        prior = telea(prior, rest)
    return prior, valid
