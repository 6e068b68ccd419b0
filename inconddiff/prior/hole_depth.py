"""The depth of the background hidden behind a hole, from the sparse 3D points around it.

The background behind an object is seen by other views: the reconstruction's points that project into
the target's hole from behind the object (and those around it) sample the hidden surface's depth.
Inverse depth interpolated linearly over a Delaunay triangulation in the image is exact for planes and
piecewise planar elsewhere; a robust plane is preferred where it explains most samples.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
from threadpoolctl import threadpool_limits

from inconddiff.cameras import Camera, SceneGeometry, crop_pixel_grid
from inconddiff.prior.crops import CropBox


def interpolate_depth(uv: np.ndarray, depth: np.ndarray, query_uv: np.ndarray) -> np.ndarray:
    """Depth at `query_uv` from samples (uv, depth): linear in inverse depth inside the samples' convex
    hull, nearest sample outside it. NaN when there are no samples."""
    if len(uv) == 0:
        return np.full(len(query_uv), np.nan)
    inv = 1.0 / depth
    if len(uv) >= 3:
        try:
            # the triangulation's barycentric transforms are thousands of tiny LAPACK solves, which more than
            # one BLAS thread slows down many times on a busy machine
            with threadpool_limits(1):
                lin = LinearNDInterpolator(uv, inv)(query_uv)
        except Exception:  # degenerate (collinear) samples
            lin = np.full(len(query_uv), np.nan)
    else:
        lin = np.full(len(query_uv), np.nan)
    near = NearestNDInterpolator(uv, inv)(query_uv)
    out = np.where(np.isfinite(lin), lin, near)
    return 1.0 / np.maximum(out, 1e-9)


PLANE_TOLERANCE = 0.015
"""A sample lies on a plane when its inverse depth is within this fraction of the plane's."""


def fit_inverse_depth_plane(
    uv: np.ndarray, depth: np.ndarray, tol: float = PLANE_TOLERANCE, iters: int = 256, seed: int = 0
) -> tuple[np.ndarray | None, float]:
    """Robust plane through depth samples: inverse depth affine in the pixel coordinates (a plane in 3D).

    RANSAC over triples, a sample is an inlier within `tol` relative inverse-depth error; the plane is refit
    on the inliers. Returns (coefficients a, b, c of 1/z = a u + b v + c, inlier fraction), or (None, 0).
    """
    n = len(uv)
    if n < 6:
        return None, 0.0
    inv = 1.0 / depth
    design = np.concatenate([uv, np.ones((n, 1))], 1)
    rng = np.random.default_rng(seed)
    triples = np.stack([rng.choice(n, 3, replace=False) for _ in range(iters)])
    a = design[triples]
    ok = np.abs(np.linalg.det(a)) > 1e-9
    if not ok.any():
        return None, 0.0
    coef = np.linalg.solve(a[ok], inv[triples[ok]][..., None])[..., 0]
    resid = np.abs(coef @ design.T - inv[None]) / inv[None]
    inliers = resid < tol
    best = inliers[np.argmax(inliers.sum(1))]
    coef, *_ = np.linalg.lstsq(design[best], inv[best], rcond=None)
    final = np.abs(design @ coef - inv) / inv < tol
    return coef, float(final.mean())


PLANE_MIN_INLIERS = 0.7
"""The surface behind a hole is taken as one plane when it explains at least this fraction of the samples."""


def plane_depth(uv: np.ndarray, depth: np.ndarray, query_uv: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Depth at `query_uv` of the robust plane through the samples (`fit_inverse_depth_plane`), None when
    there is none or it passes behind the camera there; and the plane's inlier fraction."""
    coef, frac = fit_inverse_depth_plane(uv, depth)
    if coef is None:
        return None, 0.0
    inv = np.concatenate([query_uv, np.ones((len(query_uv), 1))], 1) @ coef
    return (1.0 / inv if (inv > 1e-9).all() else None), frac


def surface_depth(
    uv: np.ndarray, depth: np.ndarray, query_uv: np.ndarray, min_inliers: float = PLANE_MIN_INLIERS
) -> np.ndarray:
    """Depth of the surface the samples lie on at `query_uv`: one robust plane when it explains at least
    `min_inliers` of them (walls, floors, ground: noise in the sparse points then averages out instead of
    making the interpolated surface jagged), else `interpolate_depth`."""
    plane, frac = plane_depth(uv, depth, query_uv)
    if plane is not None and frac >= min_inliers:
        return plane
    return interpolate_depth(uv, depth, query_uv)


def hole_depth_samples(
    camera: Camera, points: np.ndarray, window: tuple[int, int, int, int], margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Projections (M, 2) and depths (M,) of background points in front of the camera that land in the
    window (y0, y1, x0, x1), grown by `margin` times its size on each side.

    Where several points land close together at different depths (the hidden background and a nearer
    occluder), all are kept: interpolation then follows the nearer surface only where the points say so.
    """
    uv, z = camera.project(points)
    y0, y1, x0, x1 = window
    gy, gx = (y1 - y0) * margin, (x1 - x0) * margin
    sel = (
        (z > 1e-6)
        & (uv[:, 0] >= x0 - gx)
        & (uv[:, 0] < x1 + gx)
        & (uv[:, 1] >= y0 - gy)
        & (uv[:, 1] < y1 + gy)
    )
    return uv[sel], z[sel]


def hole_depth(camera: Camera, geometry: SceneGeometry, keep: np.ndarray, box: CropBox) -> np.ndarray:
    """Depth of the background behind the hole over the crop at working resolution, from the background
    points (`keep`) around it (`surface_depth`); NaN where no point is known."""
    window = (box.y0, box.y1, box.x0, box.x1)
    uv, z = hole_depth_samples(camera, geometry.points[keep], window)
    grid = crop_pixel_grid(window, box.work_shape).reshape(-1, 2)
    return surface_depth(uv, z, grid).reshape(box.work_shape)
