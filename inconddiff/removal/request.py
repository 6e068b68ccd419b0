"""A fill request: the crop around a target's hole at working resolution and its references warped into it.

Shared by the driver and the training data, so that the model learns from what the driver will give it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inconddiff.cameras import Camera, SceneGeometry, crop_pixel_grid
from inconddiff.prior.crops import CropBox, crop_around_hole, resize_image, resize_mask
from inconddiff.prior.hole_depth import hole_depths
from inconddiff.prior.homography import homography_warp, to_uint8
from inconddiff.prior.plane_sweep import swept_hole_depth
from inconddiff.prior.warp import observed_depth_samples, warp_reference


@dataclass
class PreparedReference:
    """One reference view, made ready for a target crop."""

    name: str
    score: float
    warped: np.ndarray
    """The reference warped into the target crop (float h x w x 3)."""
    valid: np.ndarray
    """Where the warp has trustworthy pixels (bool h x w)."""
    crop: np.ndarray
    """The reference's region matching the target crop, unwarped (float h' x w' x 3), for attention."""
    crop_invalid: np.ndarray
    """Its hole and out-of-image parts (bool h' x w')."""
    filled: bool = False
    """True when this reference is a view filled earlier in the run."""
    alternatives: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """Other warps of the same reference into the crop, (image, validity), e.g. by a homography."""


@dataclass
class FillRequest:
    """A target crop at working resolution and what is known about it."""

    image: np.ndarray
    """float h x w x 3 in [0, 1]; hole pixels hold whatever the capture had there."""
    hole: np.ndarray
    """bool h x w, True = fill."""
    references: list[PreparedReference] = field(default_factory=list)
    seed: int = 0


def candidate_warps(request: FillRequest) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every warp of every reference of a request (depth warps, then their alternatives): the prior's
    candidates."""
    warps, valids = [], []
    for r in request.references:
        for warped, valid in [(r.warped, r.valid), *r.alternatives]:
            warps.append(warped)
            valids.append(valid)
    return warps, valids


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


def prepare_request(
    stem: str,
    image: np.ndarray,
    mask: np.ndarray,
    refs: list[tuple[str, float]],
    geometry: SceneGeometry,
    keep: np.ndarray,
    invalid: dict[str, np.ndarray | None],
    images,
    working_size: int,
    context: float = 0.5,
    seed: int = 0,
    homography_candidates: bool = True,
    depth_alternatives: bool = True,
    plane_sweep: bool = False,
) -> tuple[FillRequest, CropBox]:
    """The crop around the hole at working resolution and its references warped into it.

    `invalid[name]` is the reference's untrustworthy region (its own unfilled hole) or None; `images(name)`
    returns a reference's current pixels (uint8). With `homography_candidates`, each reference is also
    warped by a homography fit to SIFT matches between the crops (exact for planar surfaces, where the
    sparse depth is noisy): one more candidate (`PreparedReference.alternatives`) that the prior's checks
    (`geometric_prior`) may prefer. With `depth_alternatives`, each reference is also warped with the other
    plausible depths of `hole_depths`, and with `plane_sweep` (given two or more references) through the depth
    where they agree (`swept_hole_depth`). Shared by the driver and the training data.
    """
    box = crop_around_hole(mask, working_size, context)
    work = box.work_shape
    crop = resize_image(box.cut(image).astype(np.float32) / 255.0, work).astype(np.float64)
    hole = resize_mask(box.cut(mask), work)
    prepared: list[PreparedReference] = []
    cam = geometry.cameras.get(stem)
    if cam is not None and refs:
        depth, others = hole_depths(cam, geometry, keep, box, alternatives=depth_alternatives)
        grid = crop_pixel_grid((box.y0, box.y1, box.x0, box.x1), work)
        if depth_alternatives and plane_sweep and len(refs) >= 2:
            swept = swept_hole_depth(cam, geometry, keep, box, grid, refs, images, invalid)
            if swept is not None:
                others.append(np.where(np.isfinite(swept), swept, depth))
        for name, score in refs:
            ref_cam = geometry.cameras[name]
            ref_img = images(name)
            samples = observed_depth_samples(ref_cam, name, geometry, keep)
            warped, valid = warp_reference(cam, depth, grid, ref_cam, ref_img, invalid.get(name), samples)
            rcrop, rinvalid = reference_crop(
                cam, depth, grid, ref_cam, ref_img, invalid.get(name), working_size
            )
            ref = PreparedReference(name, score, warped, valid, rcrop, rinvalid)
            for other in others:
                ref.alternatives.append(
                    warp_reference(cam, other, grid, ref_cam, ref_img, invalid.get(name), samples)
                )
            if homography_candidates:
                hw = homography_warp(to_uint8(crop), hole, to_uint8(rcrop), rinvalid)
                if hw.H is not None:
                    ref.alternatives.append((hw.warped, hw.valid))
            prepared.append(ref)
    return FillRequest(image=crop, hole=hole, references=prepared, seed=seed), box
