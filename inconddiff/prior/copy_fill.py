"""Fill a hole by copying what other views saw behind it, pixel by pixel, before anything is invented.

Every source view is warped into the target's crop through the depth of the hidden background. Observed
sources are the capture's own pixels (a view's hole excluded); where three or more of them see a pixel, those
that disagree with the median colour of the three whose rays are closest to the target's (clutter in front of
the surface in that view, a wrong depth) are left out. The median is taken over the nearest rays only because
far views see the surface through warps that magnify any depth error: where many of them see a pixel, their
shared mistake would otherwise outvote the near views that are right. Each hole pixel then takes the
consistent observed source whose ray at that 3D point is closest to the target's (the least foreshortened,
least magnified view of that surface). What no view observed is taken from content an earlier fill invented
(carried sources), so that it is invented once and looks the same from every view; only what neither offers
is invented here (`invention.invent_unseen`): by default the smoothest surface that meets the pixels around it
(`membrane`), or the surroundings' texture continued into it (`patch_synthesis`).

The result marks each hole pixel's provenance (`COPIED`, `CARRIED`, `INVENTED`), so that invented content is
never later taken for observed content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inconddiff.cameras import Camera
from inconddiff.prior.colour import match_colour
from inconddiff.prior.fusion import SPECK_FRACTION, without_specks
from inconddiff.prior.invention import invent_unseen
from inconddiff.prior.median import median_of_valid
from inconddiff.prior.stereo import DepthMap
from inconddiff.prior.warp import SurfaceMap, warp_reference

KEPT, COPIED, CARRIED, INVENTED = 0, 1, 2, 3
"""Provenance of a pixel: not in the hole, copied from a view that observed it, carried from content an
earlier fill invented, invented by this fill."""

CONSISTENCY_TOLERANCE = 0.08
"""Where at least three observed sources see a pixel, those whose colour differs from the median of the
`CONSISTENCY_SOURCES` nearest by more than this (mean absolute difference over RGB, colours in [0, 1]) are not
copied from there."""
CONSISTENCY_SOURCES = 3
"""The median colour a pixel's sources are checked against is taken over this many of them, those whose rays
at the pixel's 3D point are closest to the target's."""


@dataclass
class CopySource:
    """One view offered to a target's copy fill."""

    name: str
    camera: Camera
    image: np.ndarray
    """The view's pixels (uint8 or float in [0, 1], full resolution)."""
    invalid: np.ndarray | None = None
    """Pixels not to copy (full resolution): an observed source's own hole; for a carried source, everything
    but the content its fill invented."""
    surface: SurfaceMap | None = None
    """The surface the view sees (`warp.SurfaceMap`), for the occlusion test."""
    depth: DepthMap | None = None
    """The view's dense stereo depth (`stereo.DepthMap`): what it saw behind a target's hole, and where."""
    carried: bool = False
    """True when the valid pixels are content an earlier fill invented, not an observation."""


@dataclass
class CopyFill:
    fill: np.ndarray
    """float h x w x 3 in [0, 1]: the crop with its hole filled."""
    provenance: np.ndarray
    """uint8 h x w: `KEPT` outside the hole, else `COPIED`, `CARRIED` or `INVENTED`."""
    label: np.ndarray
    """int h x w: index of the source each copied or carried pixel comes from, -1 elsewhere."""
    seen_fraction: float
    """Share of the hole copied from observations."""


def viewing_cosines(target: Camera, points: np.ndarray, camera: Camera) -> np.ndarray:
    """Cosine of the angle at each 3D point (..., 3) between the rays to the target's and `camera`'s centres."""
    a = target.centre - points
    b = camera.centre - points
    num = (a * b).sum(-1)
    return num / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)


def copy_fill(
    image: np.ndarray,
    hole: np.ndarray,
    target: Camera,
    grid: np.ndarray,
    depth: np.ndarray,
    sources: list[CopySource],
    seen_by: list[np.ndarray | None] | None = None,
    invent: str = "smooth",
) -> CopyFill:
    """The hole of `image` (float h x w x 3, its crop's pixel coordinates `grid` (h, w, 2) in `target`) filled
    from `sources` through `depth` (h x w, the hidden background's z-depth; NaN = unknown), observed sources
    first, carried ones next (each group in the given order for ties), invented for the rest. `seen_by[i]`
    (float h x w: 1 seen, 0 hidden, NaN unknown) says where source i sees the surface at `depth`, from the
    views' depth maps; where it says nothing, the source's occlusion test decides. `invent` is how the rest is
    made up (`invent_unseen`)."""
    h, w = hole.shape
    speck = int(round(SPECK_FRACTION * max(h, w)))
    finite = np.isfinite(depth) & (depth > 0)
    points = target.unproject(grid.reshape(-1, 2), np.where(finite, depth, 1.0).reshape(-1)).reshape(h, w, 3)
    warps, valids, cosines = [], [], []
    for i, src in enumerate(sources):
        seen = seen_by[i] if seen_by is not None else None
        warped, valid = warp_reference(
            target, depth, grid, src.camera, src.image, src.invalid, src.surface, seen
        )
        valid &= finite
        if seen is not None:  # what the views' depth maps confirm stands, even in small pieces
            valid = without_specks(valid, speck) | (valid & (seen == 1))
        else:
            valid = without_specks(valid, speck)
        warps.append(match_colour(warped, image, valid, hole).astype(np.float32))
        valids.append(valid)
        cosines.append(viewing_cosines(target, points, src.camera))
    fill = image.astype(np.float64).copy()
    provenance = np.zeros((h, w), np.uint8)
    label = np.full((h, w), -1, np.int64)
    observed = [i for i, s in enumerate(sources) if not s.carried]
    carried = [i for i, s in enumerate(sources) if s.carried]
    usable = _consistent(observed, warps, valids, cosines, hole, speck)
    for group, mark in ((observed, COPIED), (carried, CARRIED)):
        todo = hole & (provenance == KEPT)
        if not group or not todo.any():
            continue
        score = np.full((len(group), h, w), -np.inf)
        for k, i in enumerate(group):
            ok = (usable[i] if mark == COPIED else valids[i]) & todo
            score[k][ok] = cosines[i][ok] - (0.0 if mark == COPIED else 1e-3 * k)  # carried: earlier first
        best = np.argmax(score, axis=0)
        take = np.isfinite(np.max(score, axis=0))
        take &= without_specks(take | ~todo, speck)  # specks inside what is left, not its corners
        for k, i in enumerate(group):
            sel = take & (best == k)
            fill[sel] = warps[i][sel]
            label[sel] = i
        provenance[take] = mark
    rest = hole & (provenance == KEPT)
    if rest.any():
        fill = invent_unseen(fill, rest, ~hole, invent)
        provenance[rest] = INVENTED
    seen = float((provenance[hole] == COPIED).mean()) if hole.any() else 0.0
    return CopyFill(fill, provenance, label, seen)


def _consistent(
    observed: list[int],
    warps: list[np.ndarray],
    valids: list[np.ndarray],
    cosines: list[np.ndarray],
    hole: np.ndarray,
    speck: int,
) -> dict[int, np.ndarray]:
    """Per observed source, where it may be copied from: valid, and where three or more sources see the pixel,
    within `CONSISTENCY_TOLERANCE` of the median colour of the `CONSISTENCY_SOURCES` with the highest
    `cosines` there."""
    if not observed:
        return {}
    valid = np.stack([valids[i] for i in observed]) & hole[None]
    crowded = valid.sum(0) >= 3
    out = {i: valid[k].copy() for k, i in enumerate(observed)}
    if crowded.any():
        colours = np.stack([warps[i][crowded] for i in observed])  # (sources, pixels, 3)
        seen = valid[:, crowded]
        cos = np.where(seen, np.stack([cosines[i][crowded] for i in observed]), -np.inf)
        nearest = np.zeros_like(seen)
        top = np.argsort(-cos, axis=0, kind="stable")[:CONSISTENCY_SOURCES]
        np.put_along_axis(nearest, top, True, axis=0)
        nearest &= seen
        median = median_of_valid(colours, nearest)
        for k, i in enumerate(observed):
            out[i][crowded] &= np.abs(colours[k] - median).mean(-1) <= CONSISTENCY_TOLERANCE
    return {i: without_specks(ok | ~hole, speck) & ok for i, ok in out.items()}
