"""Carry object masks from a few annotated views to every registered view through the reconstruction.

1. Object points: sparse points that an annotated view observes inside its mask and no annotated view
   observes outside it.
2. Cleaning with open3d: statistical outlier removal, then DBSCAN; the clusters of some size are the object.
3. A dense volume: voxels in a box around the object points whose projections fall inside the mask of
   every annotated view that sees them (a visual hull carved by the annotations), and whose depth in each
   annotated view lies within a slab around the points' (about one object width deep).
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

import numpy as np

from colmap_tools.mask_refinement import default_margin, dilate, refine_with_image
from colmap_tools.object_volume import (
    carve_volume,
    clean_points,
    depth_carve,
    free_space_carve,
    mask_centre,
    object_points,
    splat_mask,
    stereo_views,
)
from inconddiff.cameras import SceneGeometry
from inconddiff.capture import CaptureError, load_capture, write_image

logger = logging.getLogger(__name__)


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
    from rich.progress import track

    out = {}
    views = list(geometry.cameras.items())
    for stem, cam in track(views, description=f"masks for {len(views)} views", disable=None):
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
