"""Hole fillers behind one interface: a `FillRequest` in, the whole crop filled out.

Every filler returns a float HxWx3 image in [0, 1] for the whole crop; the driver pastes back only the
hole. `telea` ignores references (the classical baseline); `warp` is the geometric prior (the references'
warps fused where they see the hole, Telea elsewhere); `diffusion` runs the reference-conditioned
inpainting pipeline with the warps as its prior (`diffusion_filler`); `auto` picks per view.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from inconddiff.capture import CaptureError
from inconddiff.prior.fusion import geometric_prior
from inconddiff.prior.telea import telea
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.request import FillRequest, candidate_warps

logger = logging.getLogger(__name__)


class Filler(Protocol):
    name: str

    def __call__(self, request: FillRequest) -> np.ndarray: ...


class TeleaFiller:
    """Classical diffusion-based inpainting without references."""

    name = "telea"

    def __call__(self, request: FillRequest) -> np.ndarray:
        return telea(request.image, request.hole)


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


def default_weights_dir() -> Path:
    """Where the shipped default pipeline weights live."""
    return Path(__file__).resolve().parents[1] / "weights" / "default"


def make_filler(config: RemovalConfig):
    """The filler for `config.method`. 'auto' uses the diffusion model when weights exist, else the warp."""

    if config.method == "telea":
        return TeleaFiller()
    if config.method == "warp":
        return WarpFiller()
    weights = Path(config.model) if config.model else default_weights_dir()
    if not (weights / "model_index.json").is_file():
        if config.method == "auto" and config.model is None:
            logger.warning("no trained diffusion weights at %s yet: filling with the geometric warp", weights)
            return WarpFiller()
        raise CaptureError(weights, "no pipeline weights here (model_index.json missing)")
    from inconddiff.removal.diffusion_filler import DiffusionFiller

    diffusion = DiffusionFiller.from_pretrained(weights, config)
    if config.method == "auto":  # per view, the model where it refills probe holes clearly better
        return BestOfFiller([WarpFiller(), diffusion])
    return diffusion
