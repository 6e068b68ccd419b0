"""Rank reference views per masked target by how much of what the mask hides they can see.

Plain arrays (a `SceneGeometry`: cameras by stem, sparse points, tracks) and boolean masks; no COLMAP call.
For a target view and its hole:
- the background points (not on the object) that project into the hole, grown by a ring, sample the
  surface the object hides (inside the hole) and its surroundings (the ring);
- the object's own points (most of their observations inside masks) give the object's depth in the
  target; background points in the hole must lie behind it (depth ordering), nearer ones are dropped;
- a reference sees such a point when the point's track contains it (direct evidence), or, with less
  weight, when it projects inside the reference's image, in front of it, and outside the reference's
  mask (or, without a mask, outside the object's projected footprint);
- coverage combines the weighted fraction of points seen with the fraction of hole cells (a coarse grid
  over the hole) holding at least one seen point, so that points piled on one side do not dominate;
- the score multiplies coverage by falloffs in viewing-angle difference and in distance ratio at the hole,
  and by the views' overlap (shared points over the target's points);
- the top K are picked greedily, each next one valued partly by what the earlier picks do not see, so that
  K references cover more of the hole together than K near-duplicates would.

Top K per target go to an hloc-style pairs file with a third column, the score.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from inconddiff.capture import CaptureError
from inconddiff.depth_warp import Camera, SceneGeometry

logger = logging.getLogger(__name__)


@dataclass
class RankingOptions:
    ring: float = 0.25
    """Ring around the hole, as a fraction of the hole box's size, whose points also count."""
    ring_weight: float = 0.3
    """Weight of a ring point relative to a point inside the hole."""
    geometric_weight: float = 0.5
    """Credit for a point a reference should see (projects inside, unmasked) but whose track lacks it."""
    cells: int = 6
    """The hole's box is split into cells x cells for the spatial part of coverage."""
    angle_falloff_deg: float = 120.0
    """Score decays as exp(-angle / this) with the angle between the two views' rays at the hole."""
    distance_falloff: float = 2.0
    """Score decays as exp(-|log(distance ratio)| / this)."""
    depth_margin: float = 0.02
    """Background points must be this fraction of the depth behind the object's nearest points."""
    diversity: float = 0.5
    """Order the top K greedily: this share of a candidate's value is what it sees that the references
    chosen before it do not (0 = plain order by score)."""


@dataclass
class RankedReference:
    name: str
    score: float
    coverage: float
    angle_deg: float
    distance_ratio: float
    overlap: float
    hole_points: int


def object_point_mask(geometry: SceneGeometry, masks: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) True for points on the object: at least half of their observations *in masked views* fall
    inside the mask (views without a mask give no vote, so one annotated view is enough); points never
    seen by a masked view are False."""
    inside = np.zeros(len(geometry.points), dtype=np.int64)
    votes = np.zeros(len(geometry.points), dtype=np.int64)
    for name, (idx, xy) in geometry.observations.items():
        m = masks.get(name)
        if m is None:
            continue
        votes[idx] += 1
        inside[idx] += _inside(m, xy)
    return (votes > 0) & (inside * 2 >= votes)


def _seen_by(geometry: SceneGeometry) -> dict[str, np.ndarray]:
    """Per view, (N,) True for the points whose track contains it."""
    out = {}
    for name, (idx, _) in geometry.observations.items():
        m = np.zeros(len(geometry.points), dtype=bool)
        m[idx] = True
        out[name] = m
    return out


def _inside(mask: np.ndarray, uv: np.ndarray) -> np.ndarray:
    x = np.floor(uv[:, 0]).astype(int)
    y = np.floor(uv[:, 1]).astype(int)
    ok = (x >= 0) & (y >= 0) & (x < mask.shape[1]) & (y < mask.shape[0])
    out = np.zeros(len(uv), dtype=bool)
    out[ok] = mask[y[ok], x[ok]]
    return out


def _footprint(cam: Camera, object_xyz: np.ndarray) -> np.ndarray | None:
    """The object's silhouette in `cam` approximated by the convex hull of its points' projections."""
    if len(object_xyz) < 3:
        return None
    uv, z = cam.project(object_xyz)
    uv = uv[(z > 0) & np.isfinite(uv).all(1)]
    if len(uv) < 3:
        return None
    hull = cv2.convexHull(uv.astype(np.float32))
    m = np.zeros((cam.height, cam.width), np.uint8)
    cv2.fillConvexPoly(m, np.round(hull[:, 0]).astype(np.int32), 1)
    return m.astype(bool)


def _angle_deg(a: np.ndarray, b: np.ndarray, point: np.ndarray) -> float:
    da, db = a - point, b - point
    cos = float(da @ db / (np.linalg.norm(da) * np.linalg.norm(db) + 1e-12))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def rank_references(
    target: str,
    geometry: SceneGeometry,
    masks: dict[str, np.ndarray],
    k: int | None = None,
    options: RankingOptions | None = None,
    _cache: dict | None = None,
) -> list[RankedReference]:
    """Registered views other than `target` ranked best first (score > 0 only), at most `k`.

    `masks[target]` is the hole (bool HxW, True = object); other views' masks, where given, mark what
    they cannot show. Raises KeyError when the target has no camera or no mask.
    """
    o = options or RankingOptions()
    cache = _cache if _cache is not None else {}
    cam = geometry.cameras[target]
    hole = masks[target]
    if "tracks" not in cache:
        cache["tracks"] = _seen_by(geometry)
        cache["object"] = object_point_mask(geometry, masks)
    tracks, on_object = cache["tracks"], cache["object"]
    if not hole.any() or len(geometry.points) == 0:
        return []
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gy, gx = max(2.0, (y1 - y0) * o.ring), max(2.0, (x1 - x0) * o.ring)
    ring_mask = cv2.dilate(
        hole.astype(np.uint8),
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(2 * gx) | 1, int(2 * gy) | 1)),
    ).astype(bool)

    uv, z = cam.project(geometry.points)
    finite = np.isfinite(uv).all(1) & (z > 1e-6)
    in_hole = finite & _inside(hole, uv) & ~on_object
    in_ring = finite & _inside(ring_mask, uv) & ~on_object & ~in_hole
    obj_z = z[finite & on_object & _inside(ring_mask, uv)]
    if len(obj_z):  # depth ordering: what the hole hides lies behind the object's nearest points
        in_hole &= z > np.percentile(obj_z, 10) * (1 + o.depth_margin)
    idx = np.nonzero(in_hole | in_ring)[0]
    if len(idx) == 0:
        return []
    weights = np.where(in_hole[idx], 1.0, o.ring_weight)
    # coarse cells over the hole's box (ring points go to the nearest cell)
    cy = np.clip(((uv[idx, 1] - y0) / max(y1 - y0, 1) * o.cells).astype(int), 0, o.cells - 1)
    cx = np.clip(((uv[idx, 0] - x0) / max(x1 - x0, 1) * o.cells).astype(int), 0, o.cells - 1)
    cell = cy * o.cells + cx
    # hole-centre point at the median depth of the hidden samples (ring if none)
    zc = float(np.median(z[idx][in_hole[idx]] if in_hole[idx].any() else z[idx]))
    centre = cam.unproject(np.array([[xs.mean() + 0.5, ys.mean() + 0.5]]), np.array([zc]))[0]
    dist_t = np.linalg.norm(cam.centre - centre)
    none = np.zeros(len(geometry.points), dtype=bool)
    target_points = tracks.get(target, none)
    n_target = max(int(target_points.sum()), 1)
    object_xyz = geometry.points[on_object]

    out, parts = [], {}
    hole_cells = np.unique(cell[in_hole[idx]]) if in_hole[idx].any() else np.unique(cell)
    for name, ref in geometry.cameras.items():
        if name == target:
            continue
        direct = tracks.get(name, none)[idx]
        ruv, rz = ref.project(geometry.points[idx])
        inside = (
            np.isfinite(ruv).all(1)
            & (rz > 1e-6)
            & (ruv[:, 0] >= 0)
            & (ruv[:, 1] >= 0)
            & (ruv[:, 0] < ref.width)
            & (ruv[:, 1] < ref.height)
        )
        blocked = masks.get(name)
        if blocked is None:
            blocked = cache.setdefault(("footprint", name), _footprint(ref, object_xyz))
        if blocked is not None:
            inside &= ~_inside(blocked, np.nan_to_num(ruv, nan=-1.0))
        seen = np.where(direct, 1.0, np.where(inside, o.geometric_weight, 0.0))
        point_cov = float((weights * seen).sum() / weights.sum())
        seen_cells = np.unique(cell[seen > 0])
        cell_cov = float(np.isin(hole_cells, seen_cells).mean()) if len(hole_cells) else 0.0
        coverage = 0.5 * point_cov + 0.5 * cell_cov
        angle = _angle_deg(cam.centre, ref.centre, centre)
        ratio = float(np.linalg.norm(ref.centre - centre) / max(dist_t, 1e-12))
        overlap = float(np.sum(target_points & tracks.get(name, none)) / n_target)
        factor = (
            np.exp(-angle / o.angle_falloff_deg)
            * np.exp(-abs(np.log(max(ratio, 1e-6))) / o.distance_falloff)
            * (0.5 + 0.5 * overlap)
        )
        score = coverage * factor
        if score > 0:
            out.append(
                RankedReference(name, float(score), coverage, angle, ratio, overlap, int(in_hole.sum()))
            )
            parts[name] = (seen, factor)
    out.sort(key=lambda r: (-r.score, r.name))
    if o.diversity > 0 and len(out) > 1:
        out = _greedy_order(out, parts, weights, cell, hole_cells, o.diversity, k)
    return out[:k] if k is not None else out


def _greedy_order(ranked, parts, weights, cell, hole_cells, diversity, k):
    """Reorder so that each next reference also covers what the ones before it miss: the value of a
    candidate is factor * ((1 - diversity) * coverage + diversity * coverage of what is still unseen)."""
    covered = np.zeros(len(weights))
    chosen, left = [], list(ranked)
    limit = len(ranked) if k is None else min(k, len(ranked))
    while left and len(chosen) < limit:
        best, best_value = None, -1.0
        for r in left:
            seen, factor = parts[r.name]
            gain = np.maximum(seen - covered, 0.0)
            new_points = float((weights * gain).sum() / weights.sum())
            newly = np.unique(cell[(gain > 0) & (covered == 0)])
            new_cells = float(np.isin(hole_cells, newly).mean()) if len(hole_cells) else 0.0
            value = factor * ((1 - diversity) * r.coverage + diversity * (0.5 * new_points + 0.5 * new_cells))
            if value > best_value + 1e-12:
                best, best_value = r, value
        chosen.append(best)
        left.remove(best)
        covered = np.maximum(covered, parts[best.name][0])
    return chosen + left


def rank_all(
    geometry: SceneGeometry, masks: dict[str, np.ndarray], k: int = 5, options: RankingOptions | None = None
) -> dict[str, list[RankedReference]]:
    """Top-k references for every registered view with a non-empty mask."""
    cache: dict = {}
    out = {}
    for target in sorted(masks):
        if target in geometry.cameras and masks[target].any():
            out[target] = rank_references(target, geometry, masks, k, options, cache)
    return out


def write_pairs(path: str | os.PathLike, rankings: dict[str, list[RankedReference]], names=None) -> Path:
    """hloc-style pairs file: one `target reference score` line per pair, best first per target.
    `names` maps stems to image file names (default: the stems)."""
    path = Path(path)
    lines = []
    for target, refs in rankings.items():
        for r in refs:
            a = names.get(target, target) if names else target
            b = names.get(r.name, r.name) if names else r.name
            lines.append(f"{a} {b} {r.score:.6f}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, path)
    return path


def read_pairs(path: str | os.PathLike) -> dict[str, list[tuple[str, float]]]:
    """The pairs file back as {target: [(reference, score), ...]} (score 1.0 when the column is absent)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.setdefault(parts[0], []).append((parts[1], float(parts[2]) if len(parts) > 2 else 1.0))
    return out


def main(
    capture: str | os.PathLike,
    out: str | os.PathLike | None = None,
    k: int = 5,
    masks_dir: str | os.PathLike | None = None,
    sparse_dir: str | os.PathLike | None = None,
) -> Path:
    """Rank references for every masked view of a capture; write `out` (default CAPTURE/pairs-references.txt)
    and a JSON with each pair's score parts beside it."""
    import json

    from colmap_tools.scene_arrays import load_scene_geometry
    from inconddiff.capture import load_capture

    cap = load_capture(capture, masks_dir=masks_dir)
    geometry = load_scene_geometry(sparse_dir or cap.sparse_dir)
    masks = {s: cap.mask(s) for s in cap.masks}
    if not masks:
        raise CaptureError(cap.root / "masks", "no masks: nothing to rank references for")
    rankings = rank_all(geometry, masks, k)
    out = Path(out) if out else Path(capture) / "pairs-references.txt"
    write_pairs(out, rankings, {s: p.name for s, p in cap.images.items()})
    out.with_suffix(".json").write_text(
        json.dumps({t: [asdict(r) for r in refs] for t, refs in rankings.items()}, indent=1)
    )
    logger.info("wrote %d pairs for %d targets to %s", sum(map(len, rankings.values())), len(rankings), out)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture")
    p.add_argument("--out", default=None)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--masks", default=None)
    p.add_argument("--sparse", default=None)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    main(a.capture, a.out, a.k, a.masks, a.sparse)
