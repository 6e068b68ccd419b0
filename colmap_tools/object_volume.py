"""The removed object's volume from a few annotated views: its sparse points (inside every annotating view's
mask, cleaned with open3d), a voxel hull carved by the masks, free space and the views' stereo depth, and its
projection into any view (`propagate_masks` steps 1-4)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from inconddiff.cameras import Camera, SceneGeometry


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


CLUSTER_FRACTION = 0.1
"""DBSCAN clusters of object points with at least this fraction of the largest one's points are kept: an object
is often several parts far apart for its sparse points (a ball on a thin column on a base), while a stray
background point that falls inside every annotated mask rarely has many neighbours."""


def clean_points(points: np.ndarray, nb_neighbors: int = 10, std_ratio: float = 2.0) -> np.ndarray:
    """Boolean mask of the points kept: statistical outliers removed, then the DBSCAN clusters with at least
    `CLUSTER_FRACTION` of the largest one's points."""
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
        counts = np.bincount(labels[labels >= 0])
        kept = np.nonzero(counts >= CLUSTER_FRACTION * counts.max())[0]
        keep[inliers[np.isin(labels, kept)]] = True
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
    annotated view that sees them, and within each annotated view's depth slab (`within_depth_slabs`); and
    the voxel size.

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
    keep &= within_depth_slabs(grid, points, cameras, masks)
    return grid[keep], size


SLAB_FRONT = 0.25
"""Along an annotated view, the object may start this many of its widths in front of its nearest point..."""
SLAB_BACK = 0.5
"""...and end this many of its widths behind its farthest: sparse points lie on the surface the view sees,
and an object is rarely much deeper than it is wide."""


def within_depth_slabs(
    grid: np.ndarray, points: np.ndarray, cameras: dict[str, Camera], masks: dict[str, np.ndarray]
) -> np.ndarray:
    """Boolean (N,) of `grid` points inside every annotated view's depth slab: between its object points'
    nearest and farthest depths (2nd and 98th percentiles), widened by `SLAB_FRONT` and `SLAB_BACK` times the
    object's width (its mask's narrower side at that depth). Two masks alone bound the object only across
    their own lines of sight: views facing each other, or close together, leave it free in depth, and the
    hull they carve then projects far larger than the object into the views between them."""
    keep = np.ones(len(grid), dtype=bool)
    centre = np.median(points, axis=0)
    for name, mask in masks.items():
        cam = cameras[name]
        _, z_centre = cam.project(centre[None])
        ys, xs = np.nonzero(mask)
        if not len(ys) or z_centre[0] <= 0:
            continue
        width = min(np.ptp(ys) + 1, np.ptp(xs) + 1) * z_centre[0] / cam.K[0, 0]
        _, z_points = cam.project(points)
        near, far = np.percentile(z_points, 2), np.percentile(z_points, 98)
        _, z = cam.project(grid)
        keep &= (z >= near - SLAB_FRONT * width) & (z <= far + SLAB_BACK * width)
    return keep


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
    from rich.progress import track

    from inconddiff.prior.stereo import covisible_neighbours, view_depth

    out = []
    views = list(geometry.cameras.items())
    for stem, camera in track(views, description=f"stereo depth of {len(views)} views", disable=None):
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
