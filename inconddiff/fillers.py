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
    """OpenCV Telea inpainting of a float image (returns float in [0, 1])."""
    u8 = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    out = cv2.inpaint(u8, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return out.astype(np.float64) / 255.0


class TeleaFiller:
    """Classical diffusion-based inpainting without references."""

    name = "telea"

    def __call__(self, request: FillRequest) -> np.ndarray:
        return telea(request.image, request.hole)


def warp_prior(request: FillRequest) -> tuple[np.ndarray, np.ndarray]:
    """The references' warps fused (weighted by score, robust to one outlier) and their joint validity."""
    refs = request.references
    if not refs:
        h, w = request.hole.shape
        return np.zeros((h, w, 3)), np.zeros((h, w), dtype=bool)
    return fuse_warps([r.warped for r in refs], [r.valid for r in refs], [max(r.score, 1e-3) for r in refs])


class WarpFiller:
    """Geometric fill: fused reference warps where valid, Telea for what no reference saw."""

    name = "warp"

    def __call__(self, request: FillRequest) -> np.ndarray:
        prior, valid = warp_prior(request)
        out = request.image.copy()
        out[request.hole & valid] = prior[request.hole & valid]
        rest = request.hole & ~valid
        if rest.any():
            out = telea(out, rest)
        return out
