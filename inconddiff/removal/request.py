"""A fill request: the crop around a target's hole at working resolution, the copy fill of it from the other
views (the geometric prior), and the crops of the best references for the model's attention.

Shared by the driver and the training data, so that the model learns from what the driver will give it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from inconddiff.cameras import Camera, SceneGeometry, crop_pixel_grid
from inconddiff.prior.copy_fill import INVENTED, KEPT, CopySource, copy_fill
from inconddiff.prior.crops import CropBox, crop_around_hole, resize_image, resize_mask
from inconddiff.prior.depth_choice import MARGIN, background_planes, choose_depth
from inconddiff.prior.hole_depth import hole_depth_samples, surface_depth
from inconddiff.prior.invention import invent_unseen
from inconddiff.prior.stereo import surface_along_rays, sweep_shape

JUDGE_CONTEXT = 1.5
"""Context of the judging crop around the hole (as a fraction of the hole's size on each side): wide enough
that copies of the hole's shape moved by its own size fit beside it, whatever its place in the view."""
ATTENDED_REFERENCES = 3
"""The model attends to the crops of this many references (the best ranked observed sources)."""
RAY_SOURCES = 12
"""The depth along a hole's rays is confirmed against the depth maps of at most this many sources (the best
ranked): enough to outvote one map's mistakes, at a cost that grows with each."""
CONFIRMED_MARGIN = 0.05
"""Where the views' depth maps confirmed a surface, another candidate depth replaces it only when it lowers the
views' disagreement (`depth_choice.disagreement`) by more than this (`depth_choice.MARGIN` elsewhere): on real
captures the confirmed surface is mostly right, and a plane that agrees a little better by chance costs detail."""


@dataclass
class PreparedReference:
    """One reference view's region matching the target crop, for the model's attention."""

    name: str
    score: float
    crop: np.ndarray
    """The reference's region matching the target crop, unwarped (float h' x w' x 3)."""
    crop_invalid: np.ndarray
    """Its hole and out-of-image parts (bool h' x w')."""


@dataclass
class FillRequest:
    """A target crop at working resolution and what is known about it."""

    image: np.ndarray
    """float h x w x 3 in [0, 1]; hole pixels hold whatever the capture had there."""
    hole: np.ndarray
    """bool h x w, True = fill."""
    prior: np.ndarray
    """float h x w x 3: the copy fill (`prior.copy_fill`), invented (`invention.invent_unseen`) where
    nothing was copied or carried."""
    provenance: np.ndarray
    """uint8 h x w: `KEPT` outside the hole, else `COPIED`, `CARRIED` or `INVENTED` (`prior.copy_fill`)."""
    label: np.ndarray | None = None
    """int h x w: which source each copied or carried pixel comes from (-1 elsewhere)."""
    references: list[PreparedReference] = field(default_factory=list)
    seed: int = 0
    probes: np.ndarray | None = None
    """bool h x w: known pixels hidden as part of `hole` so that a filler's answer there can be checked."""
    judge: FillRequest | None = None
    """A request over a larger crop whose hole also holds probe holes (`probes`), for choosing a filler."""


def reference_crop(
    target: Camera,
    depth: np.ndarray,
    grid: np.ndarray,
    reference: Camera,
    image: np.ndarray,
    invalid: np.ndarray | None,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's region that sees the target crop (found by projecting the crop's 3D points),
    grown by a quarter, cut and resized so its longer side is `size`. Returns (float image, invalid)."""
    ok = np.isfinite(depth)
    H, W = image.shape[:2]
    if ok.any():
        X = target.unproject(grid[ok], depth[ok])
        uv, z = reference.project(X)
        uv = uv[z > 0]
    else:
        uv = np.zeros((0, 2))
    if len(uv) == 0:
        x0, x1, y0, y1 = 0, W, 0, H
    else:
        x0, x1 = np.percentile(uv[:, 0], [1, 99])
        y0, y1 = np.percentile(uv[:, 1], [1, 99])
        gx, gy = 0.25 * (x1 - x0) + 4, 0.25 * (y1 - y0) + 4
        x0, x1 = int(max(0, np.floor(x0 - gx))), int(min(W, np.ceil(x1 + gx)))
        y0, y1 = int(max(0, np.floor(y0 - gy))), int(min(H, np.ceil(y1 + gy)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            x0, x1, y0, y1 = 0, W, 0, H
    scale = min(1.0, size / max(y1 - y0, x1 - x0))
    shape = (max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale)))
    crop = resize_image(image[y0:y1, x0:x1].astype(np.float32) / 255.0, shape).astype(np.float64)
    inv = np.zeros((y1 - y0, x1 - x0), dtype=bool) if invalid is None else invalid[y0:y1, x0:x1]
    return crop, resize_mask(inv, shape)


def hidden_depth(
    camera: Camera,
    geometry: SceneGeometry,
    keep: np.ndarray,
    box: CropBox,
    sources: list[CopySource],
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The depth of the background behind the hole over the crop at working resolution, and per source where
    it sees that surface (float: 1 seen, 0 hidden, NaN unknown; None for sources without a depth map).

    Along each ray the surface the sources' depth maps confirm (`stereo.surface_along_rays`, the
    `RAY_SOURCES` best ranked) is taken; where no two of them see one, the sparse points' depth
    (`hole_depth.surface_depth`) stands and the sources' occlusion tests decide what they see. Then, per
    pixel, that depth, the sparse points' and the planes through groups of them compete on how well the
    observed views agree on the colour there (`depth_choice.choose_depth`)."""
    window = (box.y0, box.y1, box.x0, box.x1)
    grid = crop_pixel_grid(window, box.work_shape)
    uv, z = hole_depth_samples(camera, geometry.points[keep], window)
    sparse = surface_depth(uv, z, grid.reshape(-1, 2)).reshape(box.work_shape)
    unknown: list[np.ndarray | None] = [None] * len(sources)
    depth = sparse
    observed = [i for i, s in enumerate(sources) if not s.carried]
    ranked = [i for i in observed if sources[i].depth is not None][:RAY_SOURCES]
    confirmed = np.zeros(box.work_shape, bool)
    if len(ranked) >= 2 and len(z) >= 3:
        depth, confirmed, unknown = _confirmed_depth(
            camera, window, box.work_shape, sparse, sources, ranked, z
        )
    if len(z) < 3 or len(observed) < 2:
        return depth, unknown
    candidates = [
        depth,
        *([sparse] if confirmed.any() else []),
        *background_planes(uv, z, grid.reshape(-1, 2)),
    ]
    candidates = [c.reshape(box.work_shape) for c in candidates]
    agreeing = [(sources[i].camera, sources[i].image, sources[i].invalid) for i in observed[:RAY_SOURCES]]
    margin = np.where(confirmed, CONFIRMED_MARGIN, MARGIN)
    chosen, choice = choose_depth(camera, grid, candidates, agreeing, margin)
    # the views' depth maps judged what they see at the surface they confirmed, not at another candidate:
    # there the occlusion test decides
    unknown = [None if u is None else np.where(choice == 0, u, np.nan) for u in unknown]
    return chosen, unknown


def _confirmed_depth(
    camera: Camera,
    window: tuple[int, int, int, int],
    work_shape: tuple[int, int],
    sparse: np.ndarray,
    sources: list[CopySource],
    ranked: list[int],
    z: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """`sparse` replaced wherever the `ranked` sources' depth maps confirm a surface along the rays, where
    they do, and per source where it sees that surface."""
    unknown: list[np.ndarray | None] = [None] * len(sources)
    small = sweep_shape(work_shape)
    depth_range = (np.percentile(z, 2) * 0.8, np.percentile(z, 98) * 1.25)
    views = [(sources[i].camera, sources[i].depth, sources[i].invalid) for i in ranked]
    rays, seen_by = surface_along_rays(camera, window, small, views, depth_range)
    h, w = work_shape
    found = np.isfinite(rays)
    inv = np.where(found, 1.0 / np.where(found, rays, 1.0), 0.0).astype(np.float32)
    inv = np.where(found, cv2.medianBlur(inv, 3), 0.0)  # single-plane jitter between neighbouring rays
    known = cv2.resize(found.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    weight = cv2.resize(found.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    smooth = cv2.resize(inv, (w, h), interpolation=cv2.INTER_LINEAR) / np.maximum(weight, 1e-6)
    confirmed = known & (smooth > 0)
    depth = np.where(confirmed, 1.0 / np.maximum(smooth, 1e-12), sparse)
    for k, i in enumerate(ranked):
        seen = cv2.resize(seen_by[k].astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
        unknown[i] = np.where(known, seen, np.nan).astype(np.float64)
    return depth, confirmed, unknown


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


def prepare_request(
    stem: str,
    image: np.ndarray,
    mask: np.ndarray,
    sources: list[tuple[CopySource, float]],
    geometry: SceneGeometry,
    keep: np.ndarray,
    working_size: int,
    context: float = 0.5,
    seed: int = 0,
    probes: int = 0,
    invent: str = "smooth",
) -> tuple[FillRequest, CropBox]:
    """The crop around `stem`'s hole at working resolution and its copy fill from `sources` (with their
    ranking scores, best first): observed views and, marked `carried`, earlier fills' invented content.

    With `probes`, the request also carries a judging request (`FillRequest.judge`): a crop with
    `JUDGE_CONTEXT` around the hole in which up to `probes` copies of the hole's shape are hidden too. What no
    view saw is made up as `invent` says (`invention.INVENT`)."""
    box = crop_around_hole(mask, working_size, context)
    request = _request(stem, image, mask, box, sources, geometry, keep, working_size, seed, invent=invent)
    if probes > 0:
        judging = crop_around_hole(mask, working_size, JUDGE_CONTEXT)
        shapes = probe_holes(resize_mask(judging.cut(mask), judging.work_shape), probes)
        if shapes:
            union = np.any(shapes, axis=0)
            judge = _request(
                stem, image, mask, judging, sources, geometry, keep, working_size, seed, union, invent
            )
            judge.probes = union
            request.judge = judge
    return request, box


def _request(
    stem: str,
    image: np.ndarray,
    mask: np.ndarray,
    box: CropBox,
    sources: list[tuple[CopySource, float]],
    geometry: SceneGeometry,
    keep: np.ndarray,
    working_size: int,
    seed: int,
    extra: np.ndarray | None = None,
    invent: str = "smooth",
) -> FillRequest:
    """The request over `box`, whose hole is the mask's there (and `extra`, at working resolution)."""
    work = box.work_shape
    crop = resize_image(box.cut(image).astype(np.float32) / 255.0, work).astype(np.float64)
    hole = resize_mask(box.cut(mask), work)
    if extra is not None:
        hole = hole | extra
    camera = geometry.cameras.get(stem)
    if camera is None or not sources:
        provenance = np.where(hole, INVENTED, KEPT).astype(np.uint8)
        return FillRequest(crop, hole, invent_unseen(crop, hole, ~hole, invent), provenance, seed=seed)
    grid = crop_pixel_grid((box.y0, box.y1, box.x0, box.x1), work)
    depth, seen_by = hidden_depth(camera, geometry, keep, box, [s for s, _ in sources])
    filled = copy_fill(crop, hole, camera, grid, depth, [s for s, _ in sources], seen_by, invent)
    references = []
    for src, score in [(s, sc) for s, sc in sources if not s.carried][:ATTENDED_REFERENCES]:
        rcrop, rinvalid = reference_crop(
            camera, depth, grid, src.camera, src.image, src.invalid, working_size
        )
        references.append(PreparedReference(src.name, score, rcrop, rinvalid))
    return FillRequest(crop, hole, filled.fill, filled.provenance, filled.label, references, seed)
