"""Hole fillers behind one interface: a `FillRequest` in, the whole crop filled out.

Every filler returns a float HxWx3 image in [0, 1] for the whole crop; the driver pastes back only the
hole. `telea` ignores references (the classical baseline); `warp` returns the geometric prior (the copy fill:
what other views saw, earlier inventions carried, the rest invented smoothly or from the surroundings'
texture); `diffusion` runs the reference-conditioned inpainting pipeline on that prior (`diffusion_filler`);
`auto` picks per view.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from inconddiff.capture import CaptureError
from inconddiff.prior.telea import telea
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.request import FillRequest

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
    """The geometric prior as it is: what other views saw copied, earlier inventions carried, the rest
    invented (`prior.copy_fill`)."""

    name = "warp"

    def __call__(self, request: FillRequest) -> np.ndarray:
        return request.prior


class BestOfFiller:
    """Per view, the candidate filler that best refills probe holes (copies of the hole's shape moved onto
    known pixels beside it, in a judging crop wider than the fill's: `FillRequest.judge`); that candidate then
    fills the real hole.

    The first candidate is the default: another replaces it only with a probe error lower by more than
    `margin` (relative), so near-ties keep the default. `last_method`, `last_scores` (mean squared error on
    the probes per candidate) and `last_probe_fraction` (the probes' share of the judging crop) tell what was
    chosen and why; without probes the default is used and the scores stay empty."""

    name = "auto"
    probes = 2
    """Probe holes per view, asked of `prepare_request`."""

    def __init__(self, candidates: list, margin: float = 0.05):
        if not candidates:
            raise ValueError("BestOfFiller needs at least one candidate")
        self.candidates = candidates
        self.margin = margin
        self.last_method = candidates[0].name
        self.last_scores: dict[str, float] = {}
        self.last_probe_fraction = 0.0

    def __call__(self, request: FillRequest) -> np.ndarray:
        judge = request.judge
        scores: dict[str, float] = {}
        best = self.candidates[0]
        if len(self.candidates) > 1 and judge is not None and judge.probes is not None and judge.probes.any():
            truth = judge.image[judge.probes]
            for cand in self.candidates:
                out = cand(judge)
                scores[cand.name] = float(((out[judge.probes] - truth) ** 2).mean())
            for cand in self.candidates[1:]:
                if scores[cand.name] < scores[best.name] * (1 - self.margin):
                    best = cand
        self.last_probe_fraction = (
            float(judge.probes.mean()) if judge is not None and judge.probes is not None else 0.0
        )
        self.last_method, self.last_scores = best.name, scores
        return best(request)


def default_weights_dir() -> Path:
    """Where the shipped default pipeline weights live."""
    return Path(__file__).resolve().parents[1] / "weights" / "default"


def make_filler(config: RemovalConfig):
    """The filler for `config.method`; 'auto' chooses per view among the warp, the diffusion model (when
    weights exist) and Telea."""

    if config.method == "telea":
        return TeleaFiller()
    if config.method == "warp":
        return WarpFiller()
    weights = Path(config.model) if config.model else default_weights_dir()
    if not (weights / "model_index.json").is_file():
        if config.method == "auto" and config.model is None:
            logger.warning("no trained diffusion weights at %s yet: choosing between warp and Telea", weights)
            return BestOfFiller([WarpFiller(), TeleaFiller()])
        raise CaptureError(weights, "no pipeline weights here (model_index.json missing)")
    from inconddiff.removal.diffusion_filler import DiffusionFiller

    diffusion = DiffusionFiller.from_pretrained(weights, config)
    if config.method == "auto":
        # per view, the candidate that refills probe holes clearly better; Telea wins where the geometry is
        # too poor for copies (a reconstruction that went wrong)
        return BestOfFiller([WarpFiller(), diffusion, TeleaFiller()])
    return diffusion
