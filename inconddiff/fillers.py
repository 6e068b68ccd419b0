"""Hole fillers behind one interface: a crop at working resolution, its hole, prepared references in.

Every filler returns a float HxWx3 image in [0, 1] for the whole crop; the driver pastes back only the
hole. `telea` ignores references (the classical baseline); `warp` copies the geometrically warped
references where they have pixels and Telea elsewhere; `diffusion` runs the reference-conditioned
inpainting pipeline with the warps as its prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from inconddiff.compositing import harmonise
from inconddiff.depth_warp import fuse_warps


@dataclass
class PreparedReference:
    """One reference view, made ready for a target crop."""

    name: str
    score: float
    warped: np.ndarray
    """The reference warped into the target crop (float h x w x 3)."""
    valid: np.ndarray
    """Where the warp has trustworthy pixels (bool h x w)."""
    crop: np.ndarray
    """The reference's region matching the target crop, unwarped (float h' x w' x 3), for attention."""
    crop_invalid: np.ndarray
    """Its hole and out-of-image parts (bool h' x w')."""
    filled: bool = False
    """True when this reference is a view filled earlier in the run."""
    alternatives: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """Other warps of the same reference into the crop, (image, validity), e.g. by a homography."""


@dataclass
class FillRequest:
    """A target crop at working resolution and what is known about it."""

    image: np.ndarray
    """float h x w x 3 in [0, 1]; hole pixels hold whatever the capture had there."""
    hole: np.ndarray
    """bool h x w, True = fill."""
    references: list[PreparedReference] = field(default_factory=list)
    seed: int = 0


def candidate_warps(request: FillRequest) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every warp of every reference of a request (depth warps, then their alternatives): the prior's
    candidates."""
    warps, valids = [], []
    for r in request.references:
        for warped, valid in [(r.warped, r.valid), *r.alternatives]:
            warps.append(warped)
            valids.append(valid)
    return warps, valids


class Filler(Protocol):
    name: str

    def __call__(self, request: FillRequest) -> np.ndarray: ...


def telea(image: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV Telea inpainting of a float image in [0, 1]; pixels outside `hole` are returned unchanged."""
    u8 = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    filled = cv2.inpaint(u8, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA).astype(np.float64) / 255.0
    out = image.astype(np.float64).copy()
    out[hole] = filled[hole]
    return out


class TeleaFiller:
    """Classical diffusion-based inpainting without references."""

    name = "telea"

    def __call__(self, request: FillRequest) -> np.ndarray:
        return telea(request.image, request.hole)


RING_FRACTION = 0.5
"""Width of the ring of known pixels a warp is checked on, as a fraction of the hole's larger side."""
CONSENSUS_WEIGHT = 1.0
"""Weight of a warp's disagreement with the others inside the hole against its ring error."""
KEEP_TOLERANCE = 0.1
"""Warps whose score is within this fraction of the best one are fused; the others only fill gaps. Fusing
warps a pixel or two apart blurs the fill, fusing none makes the views' fills disagree more: on the
training captures 0.25 / 0.1 / 0 gave 0.236 / 0.222 / 0.210 box LPIPS, and on synthetic captures filled in
sequence 24.4 / 24.0 / 22.8 dB agreement between views' fills (one COLMAP run each; runs differ by ~0.7
dB)."""
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


def match_colour(warped: np.ndarray, target: np.ndarray, valid: np.ndarray, hole: np.ndarray, ring: int = 8):
    """Per-channel gain and offset that map the warp onto the target in a ring around the hole."""
    band = cv2.dilate(hole.astype(np.uint8), np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)).astype(bool)
    sel = band & ~hole & valid
    if sel.sum() < 20:
        return warped
    out = warped.astype(np.float64).copy()
    for c in range(3):
        a, b = warped[..., c][sel], target[..., c][sel]
        gain = np.clip(b.std() / max(a.std(), 1e-6), 0.5, 2.0)
        out[..., c] = (warped[..., c] - a.mean()) * gain + b.mean()
    return np.clip(out, 0, 1)


SPECK_FRACTION = 0.006
"""Parts of a warp's validity (and of the gaps the next warps fill) narrower than 2 r + 1 pixels, r this
fraction of the crop's longer side (7 px at 512), are dropped before the warps are scored and fused: a warp
through a jagged depth is valid in specks, and filling a hole from several such warps gives a patchwork of
misaligned pixels (what made a held-out temple_ring view's prior score 0.335 box LPIPS; 0.266 without the
specks); thin leftovers go to Telea instead. With `depth_warp.MAX_ANISOTROPY`, on the 6 training captures x 8
views (warp prior, 512 px): masked PSNR / SSIM / box LPIPS 20.39 / 0.637 / 0.201 -> 20.43 / 0.638 / 0.199
(0.012: 20.40 / 0.639 / 0.200)."""


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


class WarpFiller:
    """Geometric fill: the references' warps fused where they see the hole, Telea for what none saw."""

    name = "warp"

    def __call__(self, request: FillRequest) -> np.ndarray:
        prior, _ = geometric_prior(request.image, request.hole, *candidate_warps(request))
        return prior


def probe_holes(hole: np.ndarray, count: int = 2, gap: int = 2) -> list[np.ndarray]:
    """Copies of the hole's shape moved onto known pixels of the crop (not touching the hole), nearest
    first: places where a filler's answer can be checked against what is really there."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    if len(ys) == 0:
        return []
    bh, bw = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
    grown = cv2.dilate(hole.astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) > 0
    out = []
    shifts = [
        (dy * (bh + gap), dx * (bw + gap))
        for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))
    ]
    for dy, dx in shifts:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        if inside.mean() < 0.8:
            continue
        probe = np.zeros_like(hole)
        probe[ny[inside], nx[inside]] = True
        if (probe & grown).any():
            continue
        out.append(probe)
        if len(out) == count:
            break
    return out


class BestOfFiller:
    """Per view, the candidate filler that best refills probe holes (the hole's shape moved onto known
    pixels nearby, with the real hole also hidden); that candidate then fills the real hole.

    The first candidate is the default: another replaces it only with a probe error lower by more than
    `margin` (relative), so near-ties keep the default. `last_method` and `last_scores` tell what was
    chosen and why."""

    name = "auto"

    def __init__(self, candidates: list, probes: int = 2, margin: float = 0.05):
        if not candidates:
            raise ValueError("BestOfFiller needs at least one candidate")
        self.candidates = candidates
        self.probes = probes
        self.margin = margin
        self.last_method = candidates[0].name
        self.last_scores: dict[str, float] = {}

    def __call__(self, request: FillRequest) -> np.ndarray:
        probes = probe_holes(request.hole, self.probes)
        scores = {}
        if len(self.candidates) > 1 and probes:
            for cand in self.candidates:
                errs = []
                for probe in probes:
                    trial = FillRequest(request.image, request.hole | probe, request.references, request.seed)
                    out = cand(trial)
                    errs.append(float(((out[probe] - request.image[probe]) ** 2).mean()))
                scores[cand.name] = float(np.mean(errs))
            best = self.candidates[0]
            for cand in self.candidates[1:]:
                if scores[cand.name] < scores[best.name] * (1 - self.margin):
                    best = cand
        else:
            best = self.candidates[0]
        self.last_method, self.last_scores = best.name, scores
        return best(request)
