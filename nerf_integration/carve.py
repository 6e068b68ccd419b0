"""The removed object's volume, to be kept empty when a field is refitted on an object-removal edit.

A field fitted to smooth, view-by-view fills (Telea) can explain them with a blurred "ghost" standing where the
object stood: the masks hide that volume from every view, so the ghost costs nothing on the untouched pixels, and it
predicts a held-out view's smooth fill well. An edit that removed the object must be explained with nothing there.

A cell of the field's occupancy lattice is carved when the views that can judge it agree it lay inside the object:
each view votes *carve* when the cell projects inside its mask and lies in front of the background surface behind
the hole (the field's depth around the hole continued across it, harmonic in inverse depth: exact for a plane such
as a floor, so the floor under the object is kept), and *keep* when the cell projects inside the mask onto that
surface, or outside the mask at or in front of the field's rendered surface (the view sees that spot and no object
there). Views where the cell is out of frame, behind the continued surface (where clutter around the hole pulls it
forward), or hidden behind something outside the mask (clutter occluding the object) abstain. Cells with at least
`min_views` carve votes and a `vote` share of the votes cast are carved.

    carve_masked_volume(pipeline, masks) -> int   # cells carved; adds to the field's carved bitmap
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

log = logging.getLogger(__name__)

VOTE = 0.8
"""Share of the votes cast that must say carve."""
MIN_VIEWS = 3
"""Fewest carve votes for a cell to be carved."""
MARGIN_VOXELS = 1.0
"""A cell within this many cells (world size at the occupancy lattice) of a surface counts as on it."""
RING = 2
"""Pixels by which a hole is widened before the depth around it is continued across it."""


def continue_across(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`values` (H, W) inside `hole` replaced by the harmonic interpolation of the values around it (Laplace's
    equation with the surrounding pixels as boundary; reproduces any affine function exactly)."""
    out = values.astype(np.float64).copy()
    ys, xs = np.nonzero(hole)
    if ys.size == 0:
        return out
    h, w = hole.shape
    index = -np.ones((h, w), np.int64)
    index[ys, xs] = np.arange(ys.size)
    rows, cols, vals = [], [], []
    rhs = np.zeros(ys.size)
    diag = np.zeros(ys.size)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        diag += inside
        k = np.nonzero(inside)[0]
        nb = index[ny[k], nx[k]]
        unknown = nb >= 0
        rows.append(k[unknown])
        cols.append(nb[unknown])
        vals.append(-np.ones(int(unknown.sum())))
        rhs[k[~unknown]] += out[ny[k[~unknown]], nx[k[~unknown]]]
    rows.append(np.arange(ys.size))
    cols.append(np.arange(ys.size))
    vals.append(diag)
    a = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(ys.size, ys.size)
    )
    out[ys, xs] = spsolve(a, rhs)
    return out


def background_depth(z_depth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """z-depth of the surface behind `hole`: the inverse depth around the (widened) hole continued across it."""
    wide = ndimage.binary_dilation(hole, iterations=RING)
    if wide.all():
        return np.full(z_depth.shape, np.inf)
    inverse = continue_across(1.0 / np.maximum(z_depth, 1e-6), wide)
    return 1.0 / np.maximum(inverse, 1e-9)


def _project(
    points: np.ndarray, c2w: np.ndarray, fx, fy, cx, cy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nerfstudio (OpenGL) camera: pixel column, row and z-depth (along the viewing direction) of world points,
    in the points' precision."""
    c2w = np.asarray(c2w, points.dtype)
    p = (points - c2w[:3, 3]) @ c2w[:3, :3]  # camera frame: x right, y up, looking down -z
    z = -p[:, 2]
    safe = np.where(z > 1e-6, z, np.inf)
    u = cx + fx * p[:, 0] / safe
    v = cy - fy * p[:, 1] / safe
    return u, v, z


def masked_volume(
    points: np.ndarray,
    views: list[dict],
    margin: float,
    vote: float = VOTE,
    min_views: int = MIN_VIEWS,
) -> np.ndarray:
    """Which world `points` (N, 3) lay inside the removed object (see the module docstring).

    Each view is a dict with c2w (3x4 or 4x4, nerfstudio convention), fx, fy, cx, cy, `depth` (H, W rendered
    z-depth) and `mask` (H, W bool, or None for a view without a hole)."""
    carve = np.zeros(len(points), np.int32)
    keep = np.zeros(len(points), np.int32)
    for view in views:
        depth, mask = view["depth"], view["mask"]
        h, w = depth.shape
        u, v, z = _project(
            points, np.asarray(view["c2w"], np.float64), view["fx"], view["fy"], view["cx"], view["cy"]
        )
        col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        seen = (z > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        k = np.nonzero(seen)[0]
        r, c, zk = row[k], col[k], z[k]
        masked = np.zeros(k.size, bool) if mask is None else mask[r, c]
        if mask is not None and mask.any():
            surface = background_depth(depth, mask)[r, c]
            carve[k[masked & (zk < surface - margin)]] += 1
            keep[k[masked & (np.abs(zk - surface) <= margin)]] += 1
        visible = ~masked & (zk <= depth[r, c] + margin)
        keep[k[visible]] += 1
    return (carve >= min_views) & (carve >= vote * (carve + keep))


CARVE_VIEWS = 32
"""Most views a pass judges with, spread over the capture: the votes' thresholds were set on captures of 20-30
views, and a pass's cost (rendering each view's depth) then stays bounded as captures grow."""
RENDER_SIDE = 160
"""Views are rendered for carving at most this many pixels along their longer side (masks shrunk with them, a
pixel masked when any of its pixels is): the lattice is far coarser than the images, and rendering is most of a
pass."""


def _views_of(pipeline, masks: dict[str, np.ndarray], side: int = RENDER_SIDE) -> list[dict]:
    """Every training and held-out camera of the pipeline, shrunk to at most `side` pixels wide or high, with its
    mask shrunk alike; no depth yet (`_add_depth`). Each view is a dict with `camera` (a one-view nerfstudio
    Cameras at that size), c2w, fx, fy, cx, cy and `mask` (None for a view without one)."""
    import cv2

    from nerf_integration.render import dataset_stems

    dm = pipeline.datamanager
    views, done = [], set()
    for dataset in (dm.train_dataset, dm.eval_dataset):
        if len(dataset) == 0:
            continue
        cams = copy.deepcopy(dataset.cameras)
        sizes = [(int(h), int(w)) for h, w in zip(cams.height[:, 0], cams.width[:, 0], strict=True)]
        # views may differ in size (a photo collection): each is shrunk to `side` on its own
        scale = torch.tensor([[min(1.0, side / max(size))] for size in sizes])
        cams.rescale_output_resolution(scale.to(cams.device))
        for i, stem in enumerate(dataset_stems(dataset)):
            if stem in done:
                continue
            done.add(stem)
            full = sizes[i]
            mask = masks.get(stem)
            if mask is not None and mask.shape != full:
                raise ValueError(f"mask of view {stem}: size {mask.shape} differs from its camera's {full}")
            h, w = int(cams.height[i, 0]), int(cams.width[i, 0])
            if mask is not None:
                mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
            views.append(
                {
                    "name": stem,
                    "camera": cams[i : i + 1],
                    "c2w": cams.camera_to_worlds[i].cpu().numpy(),
                    "fx": float(cams.fx[i]),
                    "fy": float(cams.fy[i]),
                    "cx": float(cams.cx[i]),
                    "cy": float(cams.cy[i]),
                    "shape": (h, w),
                    "mask": mask,
                }
            )
    return views


def read_pixels(view: dict, points: np.ndarray | None) -> np.ndarray | None:
    """(H, W) bool: the pixels of `view` whose depth carving reads when it judges `points`: the ring around the
    widened hole that its background depth is continued from, and every pixel a point lands on. The whole view
    when `points` is None; None when the view has no hole and no point lands in it (it casts no vote)."""
    h, w = view["shape"]
    if points is None:
        return np.ones((h, w), bool)
    needed = np.zeros((h, w), bool)
    mask = view["mask"]
    if mask is not None and mask.any():
        wide = ndimage.binary_dilation(mask, iterations=RING)
        needed |= ndimage.binary_dilation(wide) & ~wide
    u, v, z = _project(
        points, np.asarray(view["c2w"], np.float64), view["fx"], view["fy"], view["cx"], view["cy"]
    )
    col, row = np.floor(u), np.floor(v)
    ok = (z > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    needed[row[ok].astype(np.int64), col[ok].astype(np.int64)] = True
    return needed if needed.any() else None


def _add_depth(pipeline, views: list[dict], points: np.ndarray | None = None) -> list[dict]:
    """Render the z-depth of each view at the pixels carving reads for `points` (`read_pixels`; the whole view
    without points; NaN elsewhere), so the votes are those of whole renders at a fraction of the rays. Views
    that cast no vote are left out."""
    from nerf_integration import render

    out = []
    for view in views:
        needed = read_pixels(view, points)
        if needed is None:
            continue
        cam = view["camera"]
        distance = render.render_depth(pipeline, cam, 0, pixels=None if needed.all() else needed)
        rays = cam.generate_rays(camera_indices=0, keep_shape=True)
        cos = rays.directions.cpu().numpy() @ -view["c2w"][:3, 2]
        out.append(view | {"depth": distance * cos})
    return out


def passes_due(done: int, max_steps: int, every: float, until: float, after: int) -> int:
    """How many carving passes are due once `done` of `max_steps` steps are done: one each `every` share of the
    fit up to `until`, none before `after` steps."""
    if done < after:
        return 0
    return int(min(done / max_steps, until) / every + 1e-9)


def in_masked_frustums(points: np.ndarray, views: list[dict], min_views: int = MIN_VIEWS) -> np.ndarray:
    """(N,) True for the points that project inside at least `min_views` views' masks: the only cells carving
    can decide, found by projection alone before any vote."""
    hits = np.zeros(len(points), np.int32)
    for view in views:
        mask = view["mask"]
        if mask is None or not mask.any():
            continue
        h, w = mask.shape
        u, v, z = _project(
            points, np.asarray(view["c2w"], np.float64), view["fx"], view["fy"], view["cx"], view["cy"]
        )
        col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        ok = (z > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        hits[np.nonzero(ok)[0][mask[row[ok], col[ok]]]] += 1
    return hits >= min_views


@torch.no_grad()
def carve_masked_volume(pipeline, masks: dict[str, np.ndarray]) -> int:
    """Carve the removed object's volume (masks by image stem) out of an `inconddiff-fit` pipeline's field, judged
    by the field's current depth, adding to the cells carved before; returns the number of cells carved in all.
    At most `CARVE_VIEWS` views judge, only cells inside their masked frustums are judged
    (`in_masked_frustums`), and each view's depth is rendered only where those cells and its hole's ring fall
    (`read_pixels`)."""
    field = pipeline.model.field
    views = _views_of(pipeline, masks)
    if len(views) > CARVE_VIEWS:
        views = [views[int(i)] for i in np.linspace(0, len(views), CARVE_VIEWS, endpoint=False)]
    centres = field.cell_centres()
    inner = (centres.abs().amax(-1) <= field.inner_fraction).cpu().numpy()
    # float32: a lattice cell is far larger than its rounding, and a pass projects a million cells per view
    points = field.denormalise(centres[torch.as_tensor(inner)]).cpu().numpy().astype(np.float32)
    candidates = in_masked_frustums(points, views)
    views = _add_depth(pipeline, views, points[candidates])
    margin = MARGIN_VOXELS * 2 * field.scene_radius / (field.inner_fraction * field.occupancy.shape[0])
    inside = np.zeros(len(points), bool)
    inside[candidates] = masked_volume(points[candidates], views, margin)
    carved = field.carved.clone()
    before = int(carved.sum())
    flat = torch.zeros(int(inner.sum()), dtype=torch.bool, device=carved.device)
    flat |= torch.as_tensor(inside, device=carved.device)
    carved[torch.as_tensor(inner, device=carved.device)] |= flat
    field.set_carved(carved)
    n = int(carved.sum())
    log.info(
        "carved %d cells where the removed object stood (%d new; %d of %d judged)",
        n,
        n - before,
        int(candidates.sum()),
        len(points),
    )
    return n


def masks_from_folder(folder, stems: list[str]) -> dict[str, np.ndarray]:
    """Object masks (255 = removed) by stem from a folder of PNGs, for the `stems` that have one."""
    from pathlib import Path

    from inconddiff.capture import read_mask

    folder = Path(folder)
    return {s: read_mask(p) for s in stems if (p := folder / f"{s}.png").is_file()}
