"""Dense depth of what a view sees, by plane-sweep stereo against its covisible neighbours (CPU, plain arrays).

COLMAP's dense stereo needs CUDA; this is the classical sweep at a coarse working size instead. For each
fronto-parallel plane (uniform in inverse depth from the nearest of the view's sparse points on to infinity,
`sweep_inverse_depths`), every neighbour is warped onto the view and compared with it by normalised
cross-correlation over a small window; a pixel's cost at a plane is the mean of its best two neighbours' (so
one neighbour that does not see the surface does no harm), and the cheapest plane wins, refined to sub-plane
precision. Pixels are trusted where the winner is a clear match on texture; a neighbour's own hole (the object)
never counts as seeing anything.

The depth maps serve twice: the hidden background behind a target's hole is the surface along its rays that
the other views' depth maps confirm (`surface_along_rays`), and a source view hides a point wherever its own
surface lies in front of it (`warp.SurfaceMap`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from inconddiff.cameras import Camera, SceneGeometry
from inconddiff.prior.warp import projector
from inconddiff.threads import worker_threads

STEREO_SIDE = 256
"""Depth maps are computed at this many pixels along the view's longer side."""
STEREO_PLANES = 128
"""Fronto-parallel planes swept between the sparse points' depth bounds, uniform in inverse depth (and a
few more beyond, at the same step)."""
STEREO_NEIGHBOURS = 4
"""Covisible views each view is matched against."""
NCC_WINDOW = 7
"""Side of the window normalised cross-correlation is computed over (pixels of the depth map)."""
MAX_COST = 0.5
"""A pixel is trusted when its best two neighbours' mean (1 - NCC) is below this."""
MIN_TEXTURE = 0.01
"""...and its window's intensity standard deviation (in [0, 1]) is at least this: no texture, no match."""
REFINE_STEPS = 9
"""Depths per pixel of the finer sweep around the planes' winner."""
MIN_ANGLE_DEG = 1.0
"""Neighbours closer than this in viewing angle to the view (at their shared points) measure no depth."""


def sweep_inverse_depths(near: float, far: float, planes: int) -> np.ndarray:
    """Inverse depths to sweep, nearest first: `planes` steps uniform in inverse depth from `near` to `far`, then
    on at the same step until infinity (the last one a quarter step short of it). The far bound comes from
    sparse points, which rarely reach the sky, a distant facade or trees far behind: beyond it the sweep needs
    few more planes, and content out there would otherwise have no depth at all."""
    step = (1.0 / near - 1.0 / far) / max(planes - 1, 1)
    inv = 1.0 / near - step * np.arange(int(np.floor(1.0 / near / step)) + 1)
    inv = inv[inv > 0.5 * step]
    return np.append(inv, 0.25 * step)


@dataclass
class DepthMap:
    """A view's dense z-depth on a coarse grid of its image (NaN where not trusted)."""

    depth: np.ndarray
    scale: float
    """Coarse pixels per full-resolution pixel."""

    def points(self, camera: Camera, keep: np.ndarray | None = None) -> np.ndarray:
        """World points (N, 3) of the trusted pixels (and of `keep`, a coarse bool map, when given)."""
        ok = np.isfinite(self.depth)
        if keep is not None:
            ok &= keep
        ys, xs = np.nonzero(ok)
        uv = np.stack([(xs + 0.5) / self.scale, (ys + 0.5) / self.scale], 1)
        return camera.unproject(uv, self.depth[ys, xs].astype(np.float64))


def sweep_shape(work_shape: tuple[int, int], side: int = STEREO_SIDE // 2) -> tuple[int, int]:
    """The (h, w) at which a crop of `work_shape` is looked at in depth: depth varies more slowly than colour."""
    h, w = work_shape
    s = min(1.0, side / max(h, w))
    return max(2, round(h * s)), max(2, round(w * s))


def covisible_neighbours(geometry: SceneGeometry, stem: str, k: int = STEREO_NEIGHBOURS) -> list[str]:
    """The `k` views sharing most sparse points with `stem`, among those seeing them from at least
    `MIN_ANGLE_DEG` away."""
    obs = geometry.observations
    if stem not in obs:
        return []
    mine = obs[stem][0]
    centre = geometry.cameras[stem].centre
    ranked = []
    for name, (idx, _) in obs.items():
        if name == stem or name not in geometry.cameras:
            continue
        shared = np.intersect1d(mine, idx, assume_unique=False)
        if len(shared) < 8:
            continue
        point = np.median(geometry.points[shared], axis=0)
        a, b = centre - point, geometry.cameras[name].centre - point
        cos = a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
        if np.degrees(np.arccos(np.clip(cos, -1, 1))) >= MIN_ANGLE_DEG:
            ranked.append((-len(shared), name))
    return [name for _, name in sorted(ranked)[:k]]


def _small_gray(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    return cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _coarse_shape(camera: Camera, side: int) -> tuple[tuple[int, int], float]:
    scale = min(1.0, side / max(camera.width, camera.height))
    return (max(8, round(camera.height * scale)), max(8, round(camera.width * scale))), scale


def view_depth(
    camera: Camera,
    image: np.ndarray,
    invalid: np.ndarray | None,
    neighbours: list[tuple[Camera, np.ndarray, np.ndarray | None]],
    depth_range: tuple[float, float],
    side: int = STEREO_SIDE,
    planes: int = STEREO_PLANES,
) -> DepthMap:
    """Dense depth of the view (`camera`, `image`; `invalid` = its own hole, left NaN) from `neighbours`
    (camera, image, own hole or None), sweeping `depth_range` (nearest, farthest, and on to infinity): planes
    first, then a finer sweep of `REFINE_STEPS` depths per pixel around each pixel's winner (a plane's step
    is a few percent of the depth over a wide range)."""
    shape, scale = _coarse_shape(camera, side)
    h, w = shape
    if len(neighbours) == 0:
        return DepthMap(np.full(shape, np.nan, np.float32), scale)
    ys, xs = np.mgrid[0:h, 0:w]
    grid = np.stack([(xs + 0.5) / scale, (ys + 0.5) / scale], -1)
    matcher = _Matcher(_small_gray(image, shape), grid, camera, neighbours, side)
    near, far = depth_range
    inv_depths = sweep_inverse_depths(near, far, planes)
    with ThreadPoolExecutor(max_workers=worker_threads()) as pool:  # planes are independent
        costs = np.stack(list(pool.map(lambda d: matcher.cost(np.full(shape, 1.0 / d)), inv_depths)))
    best = np.argmin(costs, axis=0)
    interior = best > 0  # the farthest plane stands for everything beyond it
    step = inv_depths[1] - inv_depths[0] if len(inv_depths) > 1 else 0.0
    fine = np.linspace(-1.0, 1.0, REFINE_STEPS) * step  # the winner's plane and half a step either side
    coarse = inv_depths[best]
    farthest = inv_depths[-1]
    with ThreadPoolExecutor(max_workers=worker_threads()) as pool:
        fine_costs = np.stack(
            list(pool.map(lambda f: matcher.cost(1.0 / np.maximum(coarse + f, farthest)), fine))
        )
    k = np.argmin(fine_costs, axis=0)
    c0 = np.take_along_axis(fine_costs, k[None], 0)[0]
    cm = np.take_along_axis(fine_costs, np.maximum(k - 1, 0)[None], 0)[0]
    cp = np.take_along_axis(fine_costs, np.minimum(k + 1, REFINE_STEPS - 1)[None], 0)[0]
    curvature = cm + cp - 2 * c0
    offset = np.where(curvature > 1e-6, 0.5 * (cm - cp) / np.maximum(curvature, 1e-6), 0.0)
    offset = np.clip(np.where((k > 0) & (k < REFINE_STEPS - 1), offset, 0.0), -0.5, 0.5)
    inv = np.maximum(coarse + fine[k] + offset * (fine[1] - fine[0]), farthest)
    trusted = (c0 < MAX_COST) & (np.sqrt(matcher.var_ref) >= MIN_TEXTURE) & interior
    if invalid is not None:
        own = cv2.resize(invalid.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
        # a window that reaches into the hole matches the object's texture, and carries the object's depth
        # onto the background beside it: no depth within half a window of the hole
        trusted &= cv2.dilate(own.astype(np.uint8), np.ones((NCC_WINDOW, NCC_WINDOW), np.uint8)) == 0
    depth = np.where(trusted & (inv > 0), 1.0 / np.maximum(inv, 1e-12), np.nan).astype(np.float32)
    return DepthMap(depth, scale)


class _Matcher:
    """A view against its neighbours: the matching cost of any depth map of its pixels."""

    def __init__(self, ref: np.ndarray, grid: np.ndarray, camera: Camera, neighbours, side: int):
        self.win = (NCC_WINDOW, NCC_WINDOW)
        self.ref = ref
        self.mu_ref = cv2.blur(ref, self.win)
        self.var_ref = np.maximum(cv2.blur(ref * ref, self.win) - self.mu_ref**2, 0)
        self.others = []
        for cam, img, inv in neighbours:
            nshape, nscale = _coarse_shape(cam, side)
            bad = None
            if inv is not None:
                bad = cv2.resize(inv.astype(np.float32), nshape[::-1], interpolation=cv2.INTER_AREA) > 0
            self.others.append((projector(camera, grid, cam), _small_gray(img, nshape), bad, nscale))

    def cost(self, depth: np.ndarray) -> np.ndarray:
        """Per pixel, the mean (1 - NCC) over a window of its best two neighbours at `depth` (2 where a
        neighbour does not see the point, or sees it in its own hole)."""
        per = []
        for project, gray, bad, nscale in self.others:
            mapx, mapy, _, valid = project(depth)
            mx, my = (mapx + 0.5) * nscale - 0.5, (mapy + 0.5) * nscale - 0.5
            warped = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mu_w = cv2.blur(warped, self.win)
            var_w = np.maximum(cv2.blur(warped * warped, self.win) - mu_w**2, 0)
            cov = cv2.blur(self.ref * warped, self.win) - self.mu_ref * mu_w
            ncc = cov / np.sqrt(self.var_ref * var_w + 1e-6)
            if bad is not None:
                valid &= cv2.remap(bad.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderValue=1) == 0
            per.append(np.where(valid, 1.0 - ncc, 2.0).astype(np.float32))
        if len(per) == 1:
            return per[0]
        first, second = np.minimum(per[0], per[1]), np.maximum(per[0], per[1])
        for other in per[2:]:  # the two lowest, without sorting the stack
            second = np.minimum(second, np.maximum(first, other))
            first = np.minimum(first, other)
        return (first + second) / 2


RAY_PLANES = 160
"""`surface_along_rays` tries this many depths per ray, uniform in inverse depth."""
_REMAP_ROWS = 16384
"""OpenCV's remap takes maps of fewer than 32768 rows: planes are looked up together up to this many."""
RAY_TOLERANCE = 0.03
"""A source's depth map confirms a point along a ray when it lies within this fraction of the point's depth,
or when the surface it shows there lands within one sample of the ray in the target: far surfaces, whose
stereo depth is coarse, are confirmed as precisely as the target can tell them apart."""


def _epipolar_offset(source: Camera, target: Camera, grid: np.ndarray) -> tuple[np.ndarray, float]:
    """For the target pixels `grid` (h, w, 2): how far a point slid along a source's ray moves in the target.

    A target pixel q lifted to depth D is X = D K^-1 q in the target's frame; the source's ray through it
    passes the source's centre c (in the target's frame). Its point at lambda times X's source depth is
    c + lambda (X - c), which lands in the target at q + (1 - lambda) (e - e_z q) / ((1 - lambda) c_z + lambda D),
    e = K c. Returns (|e_xy - e_z q| per pixel, c_z)."""
    c = target.R @ source.centre + target.t
    e = target.K @ c
    offset = np.hypot(e[0] - e[2] * grid[..., 0], e[1] - e[2] * grid[..., 1])
    return offset, float(c[2])


def surface_along_rays(
    target: Camera,
    window: tuple[int, int, int, int],
    shape: tuple[int, int],
    sources: list[tuple[Camera, DepthMap, np.ndarray | None]],
    depth_range: tuple[float, float],
    planes: int = RAY_PLANES,
) -> tuple[np.ndarray, np.ndarray]:
    """The depth of the first surface along each of the target's rays over `window` (sampled at `shape`) that
    at least two `sources` (camera, depth map, own hole or None) see: a point at depth d is seen by a source
    when the source's own depth where it lands agrees with the point's depth in that source (within
    `RAY_TOLERANCE`) outside the source's hole. With the object gone, the target sees the nearest such surface:
    points in front of it are seen by no one (they are empty space, or the object, which every source's hole
    excludes), and one stereo mistake cannot make a surface. Points behind it can be seen by many views (a wall
    behind a box that the object hides, seen past the box from the side), so the most confirmed depth is not
    the answer; the best confirmed plane that puts the surface within `RAY_TOLERANCE` twice of the first is.
    Returns
    (depth, per source whether it sees that point: float (sources, h, w), 1 seen, 0 its map shows another
    surface there, NaN it cannot tell); NaN where fewer than two sources confirm any depth."""
    from inconddiff.cameras import crop_pixel_grid

    h, w = shape
    grid = crop_pixel_grid(window, shape)
    near, far = depth_range
    inv = sweep_inverse_depths(near, far, planes)
    maps = []
    for camera, dmap, invalid in sources:
        d = dmap.depth.copy()
        if invalid is not None:
            own = cv2.resize(invalid.astype(np.float32), d.shape[::-1], interpolation=cv2.INTER_AREA) > 0
            d[own] = np.nan
        maps.append((projector(target, grid, camera), d, dmap.scale, *_epipolar_offset(camera, target, grid)))
    # a sample's size in the target's pixels: how far apart the target can tell two surfaces
    sample_px = max((window[1] - window[0]) / h, (window[3] - window[2]) / w, 1.0)
    supports = np.zeros((len(inv), h, w), np.int64)
    residuals = np.zeros((len(inv), h, w))
    log_ratio = np.zeros((len(inv), h, w))
    # 1: the source sees the point; 0: its map shows another surface there; -1: it cannot tell
    hits = np.empty((len(inv), len(maps), h, w), np.int8)
    chunk = max(1, _REMAP_ROWS // h)  # all planes of a chunk looked up in one remap

    def confirm(source, depth):
        """Where one source sees the points at `depth` (n, 1, 1) along the rays: (hit, relative depth residual,
        log of its depth over the point's, 1 / 0 / -1 state as in `hits`)."""
        project, d, scale, offset, centre_z = source
        n = len(depth)
        mapx, mapy, z, valid = project(depth)
        seen = cv2.remap(
            d,
            ((mapx + 0.5) * scale - 0.5).reshape(n * h, w),
            ((mapy + 0.5) * scale - 0.5).reshape(n * h, w),
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=np.nan,
        ).reshape(n, h, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.abs(seen - z) / z
            # where the surface the source shows lands in the target (`_epipolar_offset`)
            lam = seen / z
            ahead = (1 - lam) * centre_z + lam * depth
            moved = np.where(ahead > 1e-9, np.abs(1 - lam) * offset / ahead, np.inf)
            hit = valid & ((r <= RAY_TOLERANCE) | (moved <= sample_px))
        state = np.where(hit, 1, np.where(valid & np.isfinite(seen), 0, -1)).astype(np.int8)
        return hit, np.where(hit, r, 0.0), np.where(hit, np.log(np.where(hit, lam, 1.0)), 0.0), state

    # the sources' tests are independent array work that releases the GIL: one thread per core
    with ThreadPoolExecutor(max_workers=max(1, min(len(maps), worker_threads()))) as pool:
        for lo in range(0, len(inv), chunk):
            depth = 1.0 / inv[lo : lo + chunk, None, None]
            at = slice(lo, lo + len(depth))
            # summed in the sources' order whatever the threads' timing: the same result on any machine
            for k, (hit, r, log_r, state) in enumerate(pool.map(confirm, maps, [depth] * len(maps))):
                supports[at] += hit
                residuals[at] += r
                log_ratio[at] += log_r
                hits[at, k] = state
    residuals /= np.maximum(supports, 1)
    ratios = log_ratio / np.maximum(supports, 1)
    # a plane's confirming maps put the surface at its depth times their depths over the plane's (near a far
    # surface, planes some way in front of it are confirmed too: the target cannot tell them apart)
    surface = np.exp(ratios) / inv[:, None, None]
    # the nearest surface two sources confirm, then the best confirmed plane (most sources, then closest) that
    # puts the surface no farther than `RAY_TOLERANCE` twice behind it
    confirmed = supports >= 2
    found = confirmed.any(0)
    first = np.argmax(confirmed, axis=0)
    nearest = np.take_along_axis(surface, first[None], 0)[0]
    band = confirmed & (np.arange(len(inv))[:, None, None] >= first[None])
    band &= surface <= nearest[None] * (1 + 2 * RAY_TOLERANCE)
    best = np.argmax(np.where(band, supports - residuals, -np.inf), axis=0)
    depth = np.where(found, np.take_along_axis(surface, best[None], 0)[0], np.nan)
    state = np.take_along_axis(hits, best[None, None], 0)[0]
    seen_by = np.where(found[None] & (state >= 0), state, np.nan).astype(np.float64)
    return depth, seen_by
