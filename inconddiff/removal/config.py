"""Settings of a removal run and the record it keeps of each view."""

from __future__ import annotations

from dataclasses import dataclass, field

from colmap_tools.pairs import ANGLE_FALLOFF_DEG

METHODS = ("auto", "diffusion", "warp", "telea")


@dataclass
class RemovalConfig:
    """Settings of one removal run (saved to OUT/log.json; a resumed run must use the same)."""

    refs: int = 16
    """At most this many views (the best ranked that see part of the hole) are copied from per view; 0 fills
    each view on its own."""
    method: str = "auto"
    """'warp' (the copy fill: what other views saw, the rest invented as `invent` says), 'diffusion' (the model
    invents what no view saw; the copies stay exact), 'auto' (per view, whichever refills probe holes better),
    'telea' (no references)."""
    carry: bool = False
    """On, what no view saw is invented by the first view filled that holds it and carried from there to the
    views filled later (through the geometry), so that every view shows the same invention; off, each view
    invents its own. Off by default: a carried invention lands wherever the hidden depth puts it, and on the
    removal benchmark's scenes that disagreed with the other views more than independent inventions did
    (`benchmarks/removal_quality.py`, `warp_carry` against `warp`; docs/RESULTS.md)."""
    invent: str = "detail"
    """How the copy fill makes up what no view saw (`prior.invention.INVENT`): 'smooth' stretches a membrane
    over it, 'texture' continues the surroundings' patches into it, 'detail' puts the patches' fine detail on
    the membrane and takes them whole where an unseen part is a large share of the hole. 'detail' by default:
    on the removal benchmark it is as close to the truth as the membrane (masked PSNR 20.80 dB for both;
    texture 20.33) and looks more like the scene (box LPIPS 0.148 against 0.154; texture 0.149); on the
    held-out captures 22.51 dB / 0.168 against 22.47 / 0.171; where the views saw little of what the object hid
    (the statue), no blob in the object's outline (`benchmarks/removal_quality.py`, `inpaint_quality.py`;
    docs/RESULTS.md)."""
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
    adapt_minutes: float = 3.0
    """Before filling, the diffusion model ('auto', 'diffusion') is fine-tuned for about this long on samples
    cut from the capture itself, away from the object (`training.finetune.adapt`); 0 uses the weights as
    they are. The adapted weights are kept in OUT/adapted, so an interrupted run does not adapt again."""
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG
    """Reference score decays as exp(-angle / this): wide baselines magnify depth errors."""


@dataclass
class ViewRecord:
    """What happened to one view (one line of the log and one row of the report)."""

    name: str
    status: str  # "filled", "kept" (no mask / empty mask)
    method: str = ""
    references: list[str] | None = None
    """The observed views copied from, best ranked first."""
    reference_scores: list[float] | None = None
    carried_from: list[str] | None = None
    """Views filled earlier whose invented content was offered."""
    hole_fraction: float = 0.0
    seen_fraction: float = 0.0
    """Share of the hole copied from what other views observed."""
    carried_fraction: float = 0.0
    """Share of the hole carried from content an earlier fill invented."""
    invented_fraction: float = 0.0
    """Share of the hole invented by this fill."""
    scores: dict[str, float] = field(default_factory=dict)
    """Per candidate filler, its error on the probe holes ('auto' only)."""
    probe_fraction: float = 0.0
    """Share of the crop the probe holes covered ('auto' only)."""
    seconds: float = 0.0
    order: int = -1
