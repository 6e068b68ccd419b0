"""Undistorted PINHOLE copies of a capture whose COLMAP cameras model lens distortion.

The rest of the pipeline (depth warps, mask projection, nerfstudio export) assumes pinhole cameras. When a
capture is reconstructed with a distortion model (SIMPLE_RADIAL, OPENCV, ...), `undistort_capture` writes a
new capture folder (never the input): `images/` undistorted by COLMAP, `sparse/0` with PINHOLE cameras, and
`masks/` undistorted the same way where the input has them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, atomic_output_dir

logger = logging.getLogger(__name__)

PINHOLE_MODELS = {"SIMPLE_PINHOLE", "PINHOLE"}


def needs_undistortion(sparse_dir: str | os.PathLike) -> bool:
    """True when any camera of the model at `sparse_dir` has lens distortion."""
    from colmap_tools.reconstruct import load_reconstruction

    rec = load_reconstruction(sparse_dir)
    return any(cam.model.name not in PINHOLE_MODELS for cam in rec.cameras.values())


def _undistort_masks(masks_dir: Path, rec, undistorted_rec, out_masks: Path) -> int:
    """Remap each view's mask through its camera's undistortion (nearest neighbour, stays binary)."""
    import cv2

    from inconddiff.capture import read_mask, write_image

    by_name = {img.name: img for img in undistorted_rec.images.values()}
    count = 0
    out_masks.mkdir(parents=True, exist_ok=True)
    for img in rec.images.values():
        stem = Path(img.name).stem
        path = masks_dir / f"{stem}.png"
        if not path.is_file() or img.name not in by_name:
            continue
        src_cam = rec.cameras[img.camera_id]
        dst_cam = undistorted_rec.cameras[by_name[img.name].camera_id]
        mask = read_mask(path, (src_cam.height, src_cam.width))
        ys, xs = np.mgrid[0 : dst_cam.height, 0 : dst_cam.width]
        pix = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1).astype(np.float64)
        rays = dst_cam.cam_from_img(pix)
        src = src_cam.img_from_cam(np.concatenate([rays, np.ones((len(rays), 1))], 1)) - 0.5
        map_x = src[:, 0].reshape(dst_cam.height, dst_cam.width).astype(np.float32)
        map_y = src[:, 1].reshape(dst_cam.height, dst_cam.width).astype(np.float32)
        out = cv2.remap(mask.astype(np.uint8) * 255, map_x, map_y, cv2.INTER_NEAREST, borderValue=0)
        write_image(out_masks / f"{stem}.png", out)
        count += 1
    return count


def undistort_capture(
    capture_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    sparse_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the undistorted capture (images/, sparse/0 with PINHOLE cameras, masks/) to a new `out_dir`."""
    import pycolmap

    from colmap_tools.reconstruct import load_reconstruction

    capture_dir = Path(capture_dir)
    sparse_dir = Path(sparse_dir) if sparse_dir is not None else capture_dir / "sparse" / "0"
    rec = load_reconstruction(sparse_dir)
    out_dir = Path(out_dir)
    if out_dir.resolve() == capture_dir.resolve():
        raise CaptureError(out_dir, "undistorted images go to a new folder, not into the capture")
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp_out:
        with tempfile.TemporaryDirectory(prefix="inconddiff_undistort_") as tmp:
            # COLMAP aborts when its output folder exists (FACTS.md): give it a fresh one
            target = Path(tmp) / "undistorted"
            pycolmap.undistort_images(str(target), str(sparse_dir), str(capture_dir / "images"))
            shutil.move(str(target / "images"), str(tmp_out / "images"))
            undistorted = pycolmap.Reconstruction(str(target / "sparse"))
            (tmp_out / "sparse" / "0").mkdir(parents=True)
            undistorted.write(str(tmp_out / "sparse" / "0"))
        masks = capture_dir / "masks"
        if masks.is_dir():
            n = _undistort_masks(masks, rec, undistorted, tmp_out / "masks")
            logger.info("undistorted %d masks", n)
    logger.info("undistorted capture: %s", out_dir)
    return out_dir
