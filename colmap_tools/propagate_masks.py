"""Carry object masks from a few annotated views to every registered view through the reconstruction.

1. Object points: sparse points that an annotated view observes inside its mask and no annotated view
   observes outside it.
2. Cleaning with open3d: statistical outlier removal, then DBSCAN; the largest cluster is the object.
3. A dense volume: voxels in the object points' (grown) bounding box whose projections fall inside the mask
   of every annotated view that sees them (a visual hull carved by the annotations, bounded in depth by the
   points).
4. Projection of the voxels into every registered view, splatted at their footprint, holes filled. Views that
   see none of it get an empty mask.
   With the images at hand, every view's stereo depth map carves the volume too (it sees past what is empty).
5. Refinement with the view's own pixels (OpenCV's GrabCut, seeded by the projection: its eroded core is the
   object, the ring around it probably background, farther pixels background): the sparse points rarely reach
   the object's edges, and the carved hull overshoots its concavities, while colour and edges are in the image.
   Then dilated by a margin.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from inconddiff.cameras import Camera, SceneGeometry
from inconddiff.capture import CaptureError, load_capture, write_image

logger = logging.getLogger(__name__)


def object_points(geometry: SceneGeometry, masks: dict[str, np.ndarray]) -> np.ndarray:
    """Indices of points seen inside an annotated mask and never outside one."""
    idx = []
    for i, track in enumerate(geometry.tracks):
        inside = outside = 0
        for name, x, y in track:
            m = masks.get(name)
            if m is None:
                continue
            xi, yi = int(x), int(y)
            if not (0 <= yi < m.shape[0] and 0 <= xi < m.shape[1]):
                continue
            if m[yi, xi]:
                inside += 1
            else:
                outside += 1
        if inside > 0 and outside == 0:
            idx.append(i)
    return np.array(idx, dtype=np.int64)


def clean_points(points: np.ndarray, nb_neighbors: int = 10, std_ratio: float = 2.0) -> np.ndarray:
    """Boolean mask of the points kept: statistical outliers removed, then the largest DBSCAN cluster."""
    import open3d as o3d

    keep = np.zeros(len(points), dtype=bool)
    if len(points) < 4:
        keep[:] = True
        return keep
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, inliers = pcd.remove_statistical_outlier(
        nb_neighbors=min(nb_neighbors, len(points) - 1), std_ratio=std_ratio
    )
    inliers = np.asarray(inliers, dtype=np.int64)
    sub = pcd.select_by_index(inliers)
    pts = np.asarray(sub.points)
    if len(pts) < 4:
        keep[inliers] = True
        return keep
    nn = np.sort(np.linalg.norm(pts[:, None] - pts[None], axis=2), axis=1)[:, 1] if len(pts) < 3000 else None
    eps = float(np.median(nn) * 4) if nn is not None else float(np.linalg.norm(np.ptp(pts, axis=0)) / 20)
    labels = np.asarray(sub.cluster_dbscan(eps=eps, min_points=3))
    if (labels >= 0).any():
        best = np.bincount(labels[labels >= 0]).argmax()
        keep[inliers[labels == best]] = True
    else:
        keep[inliers] = True
    return keep


def mask_centre(cameras: dict[str, Camera], masks: dict[str, np.ndarray]) -> np.ndarray:
    """The 3D point nearest (least squares) to the rays through the annotated masks' centroids: where the
    object is when too few reconstructed points lie on it. Needs two views that are not looking along one
    line."""
    rows, rhs = [], []
    for name, mask in masks.items():
        cam = cameras[name]
        ys, xs = np.nonzero(mask)
        ray = cam.R.T @ np.linalg.inv(cam.K) @ np.array([xs.mean() + 0.5, ys.mean() + 0.5, 1.0])
        ray /= np.linalg.norm(ray)
        proj = np.eye(3) - np.outer(ray, ray)  # distance to the ray, squared, is |proj (X - centre)|^2
        rows.append(proj)
        rhs.append(proj @ cam.centre)
    point, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)
    return point


def carve_volume(
    points: np.ndarray,
    cameras: dict[str, Camera],
    masks: dict[str, np.ndarray],
    resolution: int = 64,
    grow: float = 0.15,
) -> tuple[np.ndarray, float]:
    """Voxel centres (N, 3) inside a box around the object whose projection lies in the mask of every
    annotated view that sees them; and the voxel size.

    The box holds the grown bounding box of `points` and a cube, centred on their median, as large as the
    biggest annotated mask seen at that depth: a small object may offer only a handful of SIFT points, all on
    one side of it, while its masks show its whole size."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = (hi - lo) * grow + 1e-6
    lo, hi = lo - pad, hi + pad
    centre = np.median(points, axis=0)
    for name, mask in masks.items():
        cam = cameras[name]
        _, z = cam.project(centre[None])
        ys, xs = np.nonzero(mask)
        if len(ys) and z[0] > 0:
            half = 0.5 * np.hypot(np.ptp(ys) + 1, np.ptp(xs) + 1) * z[0] / cam.K[0, 0] * (1 + grow)
            lo, hi = np.minimum(lo, centre - half), np.maximum(hi, centre + half)
    size = float((hi - lo).max() / resolution)
    axes = [np.arange(lo[d] + size / 2, hi[d], size) for d in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    keep = np.ones(len(grid), dtype=bool)
    for name, mask in masks.items():
        cam = cameras[name]
        uv, z = cam.project(grid)
        x, y = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
        inside = (z > 0) & (x >= 0) & (x < mask.shape[1]) & (y >= 0) & (y < mask.shape[0])
        in_mask = np.zeros(len(grid), dtype=bool)
        in_mask[inside] = mask[y[inside], x[inside]]
        keep &= in_mask | ~inside  # a view only carves where it sees
    return grid[keep], size


def free_space_carve(
    voxels: np.ndarray, geometry: SceneGeometry, object_idx: np.ndarray, radius: int = 1, tol: float = 0.05
) -> np.ndarray:
    """Boolean (N,) of voxels kept after free-space carving: a voxel goes when some view observes a
    non-object point right where the voxel projects but clearly farther away (it sees through the voxel)."""
    keep = np.ones(len(voxels), dtype=bool)
    is_object = np.zeros(len(geometry.points), dtype=bool)
    is_object[object_idx] = True
    per_view: dict[str, list[tuple[float, float, int]]] = {}
    for i, track in enumerate(geometry.tracks):
        if is_object[i]:
            continue
        for name, x, y in track:
            per_view.setdefault(name, []).append((x, y, i))
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    for name, obs in per_view.items():
        cam = geometry.cameras.get(name)
        if cam is None:
            continue
        obs_arr = np.array(obs)
        _, z_pts = cam.project(geometry.points[obs_arr[:, 2].astype(np.int64)])
        depth = np.zeros((cam.height, cam.width), np.float32)
        x = np.clip(obs_arr[:, 0].astype(np.int64), 0, cam.width - 1)
        y = np.clip(obs_arr[:, 1].astype(np.int64), 0, cam.height - 1)
        np.maximum.at(depth, (y, x), z_pts.astype(np.float32))
        # the nearest observed point counts near each pixel: min over the neighbourhood, ignoring empties
        inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-9), 0).astype(np.float32)
        near = cv2.dilate(inv, kernel)  # largest inverse depth = nearest observed point around the pixel
        uv, z = cam.project(voxels)
        xi, yi = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
        inside = (z > 0) & (xi >= 0) & (xi < cam.width) & (yi >= 0) & (yi < cam.height)
        seen = np.zeros(len(voxels), np.float32)
        seen[inside] = near[yi[inside], xi[inside]]
        through = (seen > 0) & (z < (1.0 - tol) / np.maximum(seen, 1e-9))
        keep &= ~through
    return keep


def splat_mask(voxels: np.ndarray, size: float, camera: Camera) -> np.ndarray:
    """The voxels' silhouette in a view: each voxel drawn as a disc of its projected size, holes filled."""
    h, w = camera.height, camera.width
    mask = np.zeros((h, w), np.uint8)
    if len(voxels) == 0:
        return mask.astype(bool)
    uv, z = camera.project(voxels)
    ok = z > 1e-6
    uv, z = uv[ok], z[ok]
    radius = np.round(0.6 * camera.K[0, 0] * size / z).astype(np.int64)  # half the footprint, in pixels
    inside = (uv[:, 0] >= -radius) & (uv[:, 0] < w + radius) & (uv[:, 1] >= -radius) & (uv[:, 1] < h + radius)
    for r in np.unique(radius[inside]):
        sel = inside & (radius == r)
        layer = np.zeros((h, w), np.uint8)
        x = np.clip(uv[sel, 0].astype(np.int64), 0, w - 1)
        y = np.clip(uv[sel, 1].astype(np.int64), 0, h - 1)
        layer[y, x] = 1
        mask |= (
            layer
            if r == 0
            else cv2.dilate(layer, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        )
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))  # gaps between sub-pixel voxels
    return binary_fill_holes(mask > 0)


DEPTH_CARVE_VOTES = 2
"""A voxel is free space when at least this many views' stereo depth maps see past it."""
DEPTH_CARVE_TOLERANCE = 0.05
"""...that is, their surface lies more than this fraction of the voxel's depth behind it."""


def depth_carve(voxels: np.ndarray, views: list[tuple[Camera, np.ndarray, float]]) -> np.ndarray:
    """Boolean (N,) of voxels kept after carving with dense depth: `views` are (camera, depth map (NaN where
    unknown), coarse pixels per full-resolution pixel); a voxel goes when `DEPTH_CARVE_VOTES` views see a
    surface clearly behind it where it projects (they see through it). The annotations carve only along two
    directions; every view's depth carves along its own."""
    votes = np.zeros(len(voxels), np.int64)
    for camera, depth, scale in views:
        uv, z = camera.project(voxels)
        x = np.floor(uv[:, 0] * scale).astype(np.int64)
        y = np.floor(uv[:, 1] * scale).astype(np.int64)
        inside = (z > 0) & (x >= 0) & (x < depth.shape[1]) & (y >= 0) & (y < depth.shape[0])
        seen = np.full(len(voxels), np.nan)
        seen[inside] = depth[y[inside], x[inside]]
        with np.errstate(invalid="ignore"):
            votes += seen > z * (1 + DEPTH_CARVE_TOLERANCE)
    return votes < DEPTH_CARVE_VOTES


def stereo_views(
    geometry: SceneGeometry, images, masks: dict[str, np.ndarray]
) -> list[tuple[Camera, np.ndarray, float]]:
    """Every registered view's stereo depth map (`prior.stereo.view_depth`) for `depth_carve`; the annotated
    views' masks are their own holes (the object's depth there is not what they see past)."""
    from inconddiff.prior.stereo import covisible_neighbours, view_depth

    out = []
    for stem, camera in geometry.cameras.items():
        idx = geometry.observations.get(stem, (np.zeros(0, np.int64),))[0]
        _, z = camera.project(geometry.points[idx])
        z = z[z > 1e-6]
        if len(z) < 8:
            continue
        neighbours = [(geometry.cameras[n], images(n), None) for n in covisible_neighbours(geometry, stem)]
        depth_range = (np.percentile(z, 1) * 0.8, np.percentile(z, 99) * 1.25)
        dmap = view_depth(camera, images(stem), None, neighbours, depth_range)
        out.append((camera, dmap.depth, dmap.scale))
    return out


REFINE_RING = 0.25
"""GrabCut's seed: pixels within this fraction of the projected mask's size around it may be either; beyond it,
background."""
REFINE_CORE = 0.15
"""...and the mask eroded by this fraction of its size is taken as the object."""
REFINE_LIMITS = (0.5, 1.6)
"""A refined mask whose area leaves this range of the projected mask's is not trusted: the projection stays."""


def refine_with_image(image: np.ndarray, projected: np.ndarray, iterations: int = 4) -> np.ndarray:
    """`projected` (bool) moved onto the object's edges in `image` (uint8 RGB) by GrabCut, seeded by it; the
    projection itself where GrabCut's answer is implausible (`REFINE_LIMITS`)."""
    ys, xs = np.nonzero(projected)
    if len(ys) < 16:
        return projected
    size = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    ring, core = max(3, int(REFINE_RING * size)), max(1, int(REFINE_CORE * size))
    h, w = projected.shape
    y0, y1 = max(0, ys.min() - 2 * ring), min(h, ys.max() + 2 * ring + 1)
    x0, x1 = max(0, xs.min() - 2 * ring), min(w, xs.max() + 2 * ring + 1)
    m = projected[y0:y1, x0:x1].astype(np.uint8)
    disc = lambda r: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))  # noqa: E731
    seed = np.full(m.shape, cv2.GC_BGD, np.uint8)
    seed[cv2.dilate(m, disc(ring)) > 0] = cv2.GC_PR_BGD
    seed[m > 0] = cv2.GC_PR_FGD
    seed[cv2.erode(m, disc(core)) > 0] = cv2.GC_FGD
    if not (seed == cv2.GC_BGD).any() or not ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).any():
        return projected
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(crop, seed, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    refined = (seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)
    refined = binary_fill_holes(refined)
    ratio = refined.sum() / max(m.sum(), 1)
    if not REFINE_LIMITS[0] <= ratio <= REFINE_LIMITS[1]:
        return projected
    out = np.zeros_like(projected)
    out[y0:y1, x0:x1] = refined
    return out


MARGIN_FRACTION = 0.004
"""The default margin a propagated mask is grown by, as a fraction of the image's longer side (2 px at 512):
enough to cover the object's blended edge pixels, not so much that the fill must invent more."""


def default_margin(shape: tuple[int, int]) -> int:
    """`MARGIN_FRACTION` of an image of `shape` (h, w), at least one pixel."""
    return max(1, round(MARGIN_FRACTION * max(shape)))


def dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    """`mask` grown by `margin` pixels (a disc)."""
    if margin <= 0:
        return mask
    return (
        cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
        > 0
    )


def propagate(
    geometry: SceneGeometry,
    masks: dict[str, np.ndarray],
    margin: int | None = None,
    resolution: int = 64,
    grow: float = 0.3,
    images=None,
) -> dict[str, np.ndarray]:
    """Masks for every registered view from the annotated `masks` (by stem). With `images` (a function of a
    stem giving its uint8 image), the volume is also carved with the views' stereo depth (`depth_carve`) and
    each projected mask refined on its view's pixels (`refine_with_image`).

    `grow`: the carved box is grown by this fraction on each side (sparse SIFT points rarely reach the
    object's edges); carving removes what it holds beyond the object.
    """
    missing = sorted(set(masks) - set(geometry.cameras))
    if missing:
        raise ValueError(f"annotated views without geometry: {', '.join(missing)}")
    idx = object_points(geometry, masks)
    if len(idx) >= 4:
        pts = geometry.points[idx]
        pts = pts[clean_points(pts)]
        logger.info("object: %d points inside the masks, %d after cleaning", len(idx), len(pts))
    else:
        pts = mask_centre(geometry.cameras, masks)[None]
        logger.info("object: %d points inside the masks; located where the masks' centres meet", len(idx))
    voxels, size = carve_volume(pts, geometry.cameras, masks, resolution, grow)
    free = free_space_carve(voxels, geometry, idx)
    logger.info(
        "carved volume: %d voxels of size %.4g, %d left after free-space carving",
        len(voxels),
        size,
        free.sum(),
    )
    voxels = voxels[free]
    if images is not None and len(voxels):
        kept = depth_carve(voxels, stereo_views(geometry, images, masks))
        logger.info("%d voxels left after carving with the views' stereo depth", kept.sum())
        voxels = voxels[kept] if kept.any() else voxels
    out = {}
    for stem, cam in geometry.cameras.items():
        if stem in masks:
            out[stem] = masks[stem].copy()
            continue
        projected = splat_mask(voxels, size, cam)
        if images is not None and projected.any():
            projected = refine_with_image(images(stem), projected)
        out[stem] = dilate(projected, default_margin(projected.shape) if margin is None else margin)
    return out


def propagate_capture(
    capture: str | os.PathLike,
    from_views: list[str],
    out_dir: str | os.PathLike | None = None,
    sparse_dir: str | os.PathLike | None = None,
    margin: int | None = None,
) -> Path:
    """Read the annotated masks of `from_views` from CAPTURE/masks, write masks for every view to `out_dir`
    (default CAPTURE/masks_propagated; must not exist). Unregistered views get no mask file."""
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.capture import atomic_output_dir

    cap = load_capture(capture)
    unknown = [v for v in from_views if v not in cap.images]
    if unknown:
        raise CaptureError(cap.root / "images", f"no image named {', '.join(unknown)}")
    masks = {}
    for v in from_views:
        m = cap.mask(v)
        if m is None or not m.any():
            raise CaptureError(cap.root / "masks" / f"{v}.png", "annotated view has no (or an empty) mask")
        masks[v] = m
    geometry = load_scene_geometry(sparse_dir or cap.sparse_dir)
    try:
        result = propagate(geometry, masks, margin, images=cap.image)
    except ValueError as err:
        raise CaptureError(cap.root, str(err)) from err
    out = Path(out_dir) if out_dir is not None else cap.root / "masks_propagated"
    with atomic_output_dir(out) as tmp:
        for stem, m in result.items():
            write_image(tmp / f"{stem}.png", m)
    unregistered = sorted(set(cap.stems) - set(result))
    if unregistered:
        logger.warning("no geometry, no mask for: %s", ", ".join(unregistered))
    logger.info("wrote %d masks to %s", len(result), out)
    return out
