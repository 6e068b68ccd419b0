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


@dataclass
class FillRequest:
    """A target crop at working resolution and what is known about it."""

    image: np.ndarray
    """float h x w x 3 in [0, 1]; hole pixels hold whatever the capture had there."""
    hole: np.ndarray
    """bool h x w, True = fill."""
    references: list[PreparedReference] = field(default_factory=list)
    seed: int = 0


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


def geometric_prior(
    image: np.ndarray, hole: np.ndarray, warps: list[np.ndarray], valids: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The warped references fused where they see the hole (robust mean), Telea where none does; and
    where some reference saw. Pixels outside the hole are `image`'s."""
    prior = image.astype(np.float64).copy()
    valid = np.zeros(hole.shape, dtype=bool)
    if warps:
        fused, valid = fuse_warps(warps, valids)
        sel = hole & valid
        prior[sel] = fused[sel]
    rest = hole & ~valid
    if rest.any():
        prior = telea(prior, rest)
    return prior, valid


class WarpFiller:
    """Geometric fill: the references' warps fused where they see the hole, Telea for what none saw."""

    name = "warp"

    def __call__(self, request: FillRequest) -> np.ndarray:
        refs = request.references
        prior, _ = geometric_prior(
            request.image, request.hole, [r.warped for r in refs], [r.valid for r in refs]
        )
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
