"""Settings of a removal run and the record it keeps of each view."""

from __future__ import annotations

from dataclasses import dataclass

from colmap_tools.pairs import ANGLE_FALLOFF_DEG

METHODS = ("auto", "diffusion", "warp", "telea")


@dataclass
class RemovalConfig:
    """Settings of one removal run (saved to OUT/log.json; a resumed run must use the same)."""

    refs: int = 3
    """Reference views per target (0 = fill each view on its own)."""
    method: str = "auto"
    """'auto' (diffusion model where it measures better than the warp, else warp), 'diffusion', 'warp', 'telea'."""
    model: str | None = None
    """Folder of pipeline weights; None = the shipped default."""
    steps: int | None = None
    """Denoising steps (None = the pipeline's default)."""
    seed: int = 0
    device: str | None = None
    working_size: int = 512
    """Longer side of the crop around a hole at which it is filled."""
    context: float = 0.5
    """Context around the hole's box, as a fraction of its size on each side."""
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG
    """Reference score decays as exp(-angle / this): wide baselines magnify depth errors."""
    plane_sweep: bool = False
    """Also warp every reference through the depth where the references agree (`swept_hole_depth`). Measured:
    better on real captures with one hole per view, worse on synthetic captures filled in sequence (see
    `swept_hole_depth`), so off by default."""


@dataclass
class ViewRecord:
    """What happened to one view (one line of the log and one row of the report)."""

    name: str
    status: str  # "filled", "kept" (no mask / empty mask)
    method: str = ""
    references: list[str] | None = None
    reference_scores: list[float] | None = None
    hole_fraction: float = 0.0
    warp_coverage: float = 0.0
    seconds: float = 0.0
    order: int = -1
