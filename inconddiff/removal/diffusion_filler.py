"""The diffusion pipeline as a filler for the multi-view driver."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from inconddiff.removal.request import FillRequest, candidate_warps

logger = logging.getLogger(__name__)

DEFAULT_STEPS = 1
DEFAULT_STRENGTH = 0.2
MAX_ATTENDED_REFERENCES = 3
"""The model attends to at most this many references (the best ranked: it was trained with up to 3); the
warps of all of them form its prior."""


class DiffusionFiller:
    """Fills a crop with `InConDiffPipeline`: references through attention, their warps as the prior."""

    name = "diffusion"

    def __init__(
        self,
        pipe,
        steps: int = DEFAULT_STEPS,
        strength: float = DEFAULT_STRENGTH,
        model_resolution: int | None = None,
    ):
        self.pipe = pipe
        self.steps = steps
        self.strength = strength
        self.model_resolution = model_resolution
        self.pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, weights: str | Path, config) -> DiffusionFiller:
        from inconddiff.device import get_device
        from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

        pipe = InConDiffPipeline.from_pretrained(str(weights))
        pipe.to(get_device(config.device))
        logger.info("diffusion model from %s on %s", weights, pipe.device)
        return cls(pipe, steps=config.steps or DEFAULT_STEPS)

    def __call__(self, request: FillRequest) -> np.ndarray:
        refs = request.references[:MAX_ATTENDED_REFERENCES]
        warps, valids = candidate_warps(request)
        generator = torch.Generator().manual_seed(request.seed)
        out = self.pipe(
            request.image,
            request.hole,
            reference_images=[r.crop for r in refs],
            reference_masks=[r.crop_invalid for r in refs],
            warped_references=warps,
            warped_masks=valids,
            num_inference_steps=self.steps,
            strength=self.strength,
            generator=generator,
            model_resolution=self.model_resolution,
        )
        return out.images[0]
