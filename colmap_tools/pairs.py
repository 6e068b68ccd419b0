"""Reference views for every masked view: the views that see what its mask hides, ranked (hloc's pairs file).

For a target view, its hole is looked at through the depth of the background behind it (interpolated from
the sparse points, `inconddiff.prior.hole_depth`): a reference's score is the share of the hole it sees
(inside its image, outside its own hole) times a falloff with the angle between the two views at the hole.
The ranking is written as an hloc-style pairs file (`target reference score` per line) that the removal
driver reads.

    python -m colmap_tools.pairs CAPTURE [--masks DIR] [--output pairs.txt]
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inconddiff.cameras import Camera, SceneGeometry, background_points, crop_pixel_grid
from inconddiff.prior.crops import crop_around_hole, resize_mask
from inconddiff.prior.hole_depth import hole_depth
from inconddiff.prior.warp import invalid_at, lookup

logger = logging.getLogger(__name__)


ANGLE_FALLOFF_DEG = 40.0
"""A reference's score decays as exp(-angle / this) with the angle between it and the target at the hole.
Near neighbours of a view have the object in front of nearly the same background; views further round saw
more of it, through warps that magnify depth errors more."""


def viewing_angle_deg(a: Camera, b: Camera, point: np.ndarray) -> float:
    """Angle at `point` between the rays from the two camera centres."""
    da, db = a.centre - point, b.centre - point
    cos = float(da @ db / (np.linalg.norm(da) * np.linalg.norm(db) + 1e-12))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass
class HoleProbe:
    """A target's hole seen at probe resolution with its background depth: what reference scores use."""

    camera: Camera
    depth: np.ndarray
    grid: np.ndarray
    hole: np.ndarray
    centre: np.ndarray


def hole_probe(
    target: str, mask: np.ndarray, geometry: SceneGeometry, keep: np.ndarray, probe_size: int = 48
) -> HoleProbe | None:
    """The probe of `target`'s hole, or None when it has none or no background depth is known there."""
    if not mask.any():
        return None
    cam = geometry.cameras[target]
    box = crop_around_hole(mask, probe_size, context=0.0, min_size=8)
    depth = hole_depth(cam, geometry, keep, box)
    hole = resize_mask(box.cut(mask), box.work_shape)
    if not np.isfinite(depth).any() or not hole.any():
        return None
    grid = crop_pixel_grid((box.y0, box.y1, box.x0, box.x1), box.work_shape)
    centre_uv = grid[hole].mean(axis=0)
    centre = cam.unproject(centre_uv[None], np.array([np.nanmedian(depth[hole])]))[0]
    return HoleProbe(cam, depth, grid, hole, centre)


def reference_score(
    probe: HoleProbe,
    reference: Camera,
    invalid: np.ndarray | None,
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG,
) -> float:
    """The fraction of the probed hole `reference` sees (its `invalid` region and image borders excluded)
    through the background depth, times a falloff with the angle between the two views at the hole."""
    mapx, mapy, _, valid = lookup(probe.camera, probe.depth, probe.grid, reference)
    if invalid is not None:
        valid &= ~invalid_at(invalid, mapx, mapy)
    coverage = float(valid[probe.hole].mean())
    angle = viewing_angle_deg(probe.camera, reference, probe.centre)
    return coverage * float(np.exp(-angle / angle_falloff_deg))


def rank_references(
    target: str,
    mask: np.ndarray,
    geometry: SceneGeometry,
    keep: np.ndarray,
    masks: dict[str, np.ndarray],
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG,
    probe_size: int = 48,
    probe: HoleProbe | None = None,
) -> list[tuple[str, float]]:
    """All registered views ranked for `target` by `reference_score` (their own holes in `masks` count as
    unseen). `probe` reuses a `hole_probe` made before."""
    probe = probe or hole_probe(target, mask, geometry, keep, probe_size)
    if probe is None:
        return []
    out = []
    for name, ref in geometry.cameras.items():
        if name == target:
            continue
        score = reference_score(probe, ref, masks.get(name), angle_falloff_deg)
        if score > 0:
            out.append((name, score))
    out.sort(key=lambda ns: (-ns[1], ns[0]))
    return out


def seen_share(probe: HoleProbe | None, views: list[tuple[Camera, np.ndarray | None]]) -> float:
    """The share of the probed hole that at least one of `views` (camera, its own hole or None) sees."""
    if probe is None:
        return 0.0
    seen = np.zeros(probe.hole.shape, bool)
    for camera, invalid in views:
        mapx, mapy, _, valid = lookup(probe.camera, probe.depth, probe.grid, camera)
        if invalid is not None:
            valid &= ~invalid_at(invalid, mapx, mapy)
        seen |= valid
    return float(seen[probe.hole].mean())


def rank_all(
    geometry: SceneGeometry,
    masks: dict[str, np.ndarray],
    keep: np.ndarray,
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG,
    probes: dict[str, HoleProbe | None] | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """`rank_references` for every masked view that has a camera (every view with a score above 0); `probes`
    reuses `hole_probe`s made before, by stem."""
    probes = probes or {}
    return {
        stem: rank_references(stem, mask, geometry, keep, masks, angle_falloff_deg, probe=probes.get(stem))
        for stem, mask in masks.items()
        if stem in geometry.cameras and mask.any()
    }


def write_pairs(path: str | os.PathLike, rankings: dict[str, list[tuple[str, float]]]) -> Path:
    """hloc-style pairs file: one `target reference score` line per pair (image stems), best first per target;
    a target without any reference gets a line of its own so that it is known to have been ranked."""
    path = Path(path)
    lines = []
    for target, refs in rankings.items():
        lines += [f"{target} {name} {score:.6f}" for name, score in refs] or [target]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, path)
    return path


def read_pairs(path: str | os.PathLike) -> dict[str, list[tuple[str, float]]]:
    """The pairs file back as {target: [(reference, score), ...]} (score 1.0 when the column is absent)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts:
            refs = out.setdefault(parts[0], [])
            if len(parts) >= 2:
                refs.append((parts[1], float(parts[2]) if len(parts) > 2 else 1.0))
    return out


def main(
    capture: str | os.PathLike,
    output: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    sparse_dir: str | os.PathLike | None = None,
    angle_falloff_deg: float = ANGLE_FALLOFF_DEG,
) -> Path:
    """Rank the references of every masked view of a capture into `output` (default CAPTURE/pairs.txt)."""
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.capture import CaptureError, load_capture

    cap = load_capture(capture, masks_dir=masks_dir)
    geometry = load_scene_geometry(sparse_dir or cap.sparse_dir)
    masks = {s: m for s in cap.masks if (m := cap.mask(s)) is not None and m.any()}
    if not masks:
        raise CaptureError(cap.root / "masks", "no non-empty masks: nothing to rank references for")
    rankings = rank_all(geometry, masks, background_points(geometry, masks), angle_falloff_deg)
    output = write_pairs(output or Path(capture) / "pairs.txt", rankings)
    logger.info("wrote %d pairs for %d views to %s", sum(map(len, rankings.values())), len(rankings), output)
    return output


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture")
    p.add_argument("--output", default=None)
    p.add_argument("--masks", default=None)
    p.add_argument("--sparse", default=None)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    main(a.capture, a.output, a.masks, a.sparse)
