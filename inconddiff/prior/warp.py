"""Warp a reference view into a target's crop through a depth of the target's pixels, with the tests that
mark where the warp cannot be trusted: the reference's own hole, occlusion, and mappings that fold or smear.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inconddiff.cameras import Camera


def projector(target: Camera, grid_uv: np.ndarray, reference: Camera):
    """For the target pixels `grid_uv` (h, w, 2): a function of their depth d (a number or h x w) giving
    where they land in `reference`: remap coordinates (mapx, mapy as float32 h x w, pixel centres at
    integers), their depth there (h x w) and whether they land in front of it and inside its image. A pixel
    lifted to depth d projects to a + d b in homogeneous reference coordinates, so many depths are cheap."""
    h, w = grid_uv.shape[:2]
    rays = np.concatenate([grid_uv.reshape(-1, 2), np.ones((h * w, 1))], 1) @ np.linalg.inv(target.K).T
    to_ref = target.R @ reference.R.T  # target camera frame -> reference camera frame, rows as vectors
    b = rays @ to_ref @ reference.K.T
    a = (reference.t - target.t @ to_ref) @ reference.K.T
    bx, by, bz = (np.ascontiguousarray(b[:, k].reshape(h, w)) for k in range(3))

    def project(depth) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = np.asarray(depth, dtype=np.float64)
        z = a[2] + d * bz
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_z = 1.0 / z
            mapx = ((a[0] + d * bx) * inv_z - 0.5).astype(np.float32)
            mapy = ((a[1] + d * by) * inv_z - 0.5).astype(np.float32)
        inside = (mapx >= 0) & (mapx <= reference.width - 1) & (mapy >= 0) & (mapy <= reference.height - 1)
        return mapx, mapy, z, (z > 1e-6) & inside

    return project


def lookup(
    target: Camera, depth: np.ndarray, grid_uv: np.ndarray, reference: Camera
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the target pixels `grid_uv` (h, w, 2), lifted to `depth` (h, w), land in the reference:
    remap coordinates (mapx, mapy as float32 h x w, pixel centres at integers), their depth in the
    reference (h x w) and geometric validity (finite depth, in front of the reference, inside its image)."""
    ok = np.isfinite(depth) & (depth > 0)
    mapx, mapy, z, valid = projector(target, grid_uv, reference)(np.where(ok, depth, 1.0))
    return mapx, mapy, z, valid & ok


def looked_up_box(
    mapx: np.ndarray, mapy: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The region (y0, y1, x0, x1) of an image of `shape` that bilinear lookups at (mapx, mapy) can touch,
    None when that is the whole image: converting or remapping only it spares a megapixel image's copy."""
    h, w = shape
    finite = np.isfinite(mapx) & np.isfinite(mapy)
    if not finite.all():
        return None  # OpenCV's treatment of a non-finite coordinate is its own
    x0, x1 = max(0, int(np.floor(mapx.min())) - 1), min(w, int(np.ceil(mapx.max())) + 2)
    y0, y1 = max(0, int(np.floor(mapy.min())) - 1), min(h, int(np.ceil(mapy.max())) + 2)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) >= h * w:
        return None
    return y0, y1, x0, x1


def sample_image(image: np.ndarray, mapx: np.ndarray, mapy: np.ndarray) -> np.ndarray:
    """Colours of `image` (uint8, or float in [0, 1]) at remap coordinates (mapx, mapy) as float32 in [0, 1]:
    bilinear, the image's edge repeated beyond it. Only the looked-up region is converted."""
    box = looked_up_box(mapx, mapy, image.shape[:2])
    if box is not None:
        y0, y1, x0, x1 = box
        image, mapx, mapy = image[y0:y1, x0:x1], mapx - x0, mapy - y0
    img = (
        image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32, copy=False)
    )
    return cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def invalid_at(invalid: np.ndarray, mapx: np.ndarray, mapy: np.ndarray) -> np.ndarray:
    """True where the looked-up position touches an invalid pixel (bilinear footprint) or leaves the image."""
    box = looked_up_box(mapx, mapy, invalid.shape)
    if box is not None:  # where the box stops short of the image no position reaches past it
        y0, y1, x0, x1 = box
        return invalid_at(invalid[y0:y1, x0:x1], mapx - x0, mapy - y0)
    bad = cv2.remap(
        invalid.astype(np.float32),
        mapx,
        mapy,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=1,
    )
    return bad >= 0.01


OCCLUSION_TOLERANCE = 0.05
"""A looked-up point is hidden in the reference when the reference's own surface lies more than this fraction
of its depth in front of it."""


@dataclass
class SurfaceMap:
    """The depth of the surface a view was measured to see (its stereo depth map, `stereo.DepthMap`), on a
    coarse grid of its image: what the occlusion test asks at every looked-up position. Where nothing was
    measured (NaN) the test says nothing, and the agreement between the views that see the point decides
    (`copy_fill`): depth interpolated between sparse points invents edges in front of what the views
    really saw."""

    depth: np.ndarray
    """z-depth (h', w') at the coarse grid's pixel centres, NaN where not measured."""
    scale: float
    """Coarse pixels per full-resolution pixel."""

    def occludes(
        self, mapx: np.ndarray, mapy: np.ndarray, z: np.ndarray, tolerance: float = OCCLUSION_TOLERANCE
    ) -> np.ndarray:
        """True where the surface lies clearly in front of the looked-up points (remap coordinates mapx, mapy
        at full resolution, their depth z in this view): something else is in the way there. False where the
        surface is unknown."""
        s = self.scale
        surface = cv2.remap(
            self.depth,
            (mapx + 0.5) * s - 0.5,
            (mapy + 0.5) * s - 0.5,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return surface < z * (1.0 - tolerance)


def jacobian(mapx: np.ndarray, mapy: np.ndarray) -> tuple[np.ndarray, ...]:
    """The target-to-reference mapping's Jacobian per pixel (a crop at least two pixels wide and high):
    d mapx / dx, d mapx / dy, d mapy / dx, d mapy / dy."""
    return (
        np.gradient(mapx, axis=1),
        np.gradient(mapx, axis=0),
        np.gradient(mapy, axis=1),
        np.gradient(mapy, axis=0),
    )


def folded(mapx: np.ndarray, mapy: np.ndarray) -> np.ndarray:
    """True where the target-to-reference mapping turns the image over (the Jacobian's determinant is not
    positive): there the lifted surface faces away from the reference or hides behind itself, so the
    reference shows some other point."""
    if min(mapx.shape) < 2:
        return np.zeros(mapx.shape, dtype=bool)
    a, b, c, d = jacobian(mapx, mapy)
    return a * d - b * c <= 0


def anisotropy(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per pixel, the ratio of a mapping's strongest to its weakest stretch (the singular values of its
    Jacobian [[a, b], [c, d]], from `jacobian`): 1 for a similarity, large where one direction is smeared."""
    with np.errstate(over="ignore", invalid="ignore"):  # a mapping that runs off to infinity: inf, distorted
        s = a * a + b * b + c * c + d * d
        det = np.abs(a * d - b * c)
        root = np.sqrt(np.maximum(s * s - 4 * det * det, 0))
        ratio = np.sqrt((s + root) / np.maximum(s - root, 1e-12))
    return np.where(np.isfinite(ratio), ratio, np.inf)


MAX_ANISOTROPY = 3.0
"""Pixels whose mapping is this many times more anisotropic than the warp's median over its valid pixels are
invalid (`distorted`); 0 keeps only the fold test. Where a depth interpolated through jagged samples jumps,
the warp smears a line of reference pixels across the target (it melts the texture) while a real surface's
stretch changes slowly."""


def distorted(mapx: np.ndarray, mapy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """True where the mapping folds over (`folded`) or is more than `MAX_ANISOTROPY` times as anisotropic
    as its median over the `valid` pixels."""
    if min(mapx.shape) < 2:
        return np.zeros(mapx.shape, dtype=bool)
    a, b, c, d = jacobian(mapx, mapy)
    bad = a * d - b * c <= 0  # folded
    good = valid & ~bad
    if MAX_ANISOTROPY > 0 and good.sum() >= 16:
        aniso = anisotropy(a, b, c, d)
        bad |= aniso > MAX_ANISOTROPY * np.median(aniso[good])
    return bad


def warp_reference(
    target: Camera,
    depth: np.ndarray,
    grid_uv: np.ndarray,
    reference: Camera,
    ref_image: np.ndarray,
    ref_invalid: np.ndarray | None,
    ref_surface: SurfaceMap | None = None,
    seen: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colours of the reference at the 3D points of the target pixels `grid_uv` (h, w, 2) lifted to
    `depth` (h, w). Pixels are invalid where they land in `ref_invalid` or outside the image, and where the
    mapping folds over or smears (`distorted`: the lifted surface is not what the reference shows there).
    Whether the reference sees the point at all is `seen` where it says so (float h x w: 1 seen, 0 hidden,
    NaN unknown), else the occlusion test against `ref_surface`.
    Returns (float image h x w x 3 in [0, 1], validity h x w)."""
    mapx, mapy, z, valid = lookup(target, depth, grid_uv, reference)
    warped = sample_image(ref_image, mapx, mapy)
    if ref_invalid is not None:
        valid &= ~invalid_at(ref_invalid, mapx, mapy)
    told = np.zeros(valid.shape, bool) if seen is None else ~np.isnan(seen)
    if ref_surface is not None:
        valid &= np.where(told, True, ~ref_surface.occludes(mapx, mapy, z))
    if seen is not None:
        valid &= np.where(told, seen > 0.5, True)
    # the fold and smear tests catch a wrong depth; where the views' depth maps confirm it, it is not wrong
    valid &= told | ~distorted(mapx, mapy, valid)
    return np.clip(warped, 0, 1).astype(np.float64), valid
