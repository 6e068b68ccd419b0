"""Export a reconstructed capture for nerfstudio: transforms.json (+ masks in nerfstudio's convention).

Our masks mark the object (255 = remove); nerfstudio's mark what to use (0 = ignore the pixel). So the
exported masks are inverted copies in their own folder (default OUT/masks_nerfstudio), and when any view
has a mask every registered view gets one (all 255 where the capture has none), because nerfstudio needs
`mask_path` on every frame or on none. Only registered views are exported. Camera distortion (SIMPLE_RADIAL,
RADIAL, OPENCV) is written per frame; file paths are relative to the folder of transforms.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, load_capture, write_image
from inconddiff.transforms_json import nerfstudio_frame, nerfstudio_transforms

logger = logging.getLogger(__name__)

# pycolmap camera model -> names of its distortion parameters after the focal lengths and principal point
_DISTORTION = {
    "SIMPLE_PINHOLE": (),
    "PINHOLE": (),
    "SIMPLE_RADIAL": ("k1",),
    "RADIAL": ("k1", "k2"),
    "OPENCV": ("k1", "k2", "p1", "p2"),
}


def camera_arrays(sparse_dir: str | os.PathLike) -> dict[str, dict]:
    """Per registered image name: K (3x3), R, t (world-to-camera, OpenCV axes), width, height and its
    distortion as a dict (empty for pinhole cameras)."""
    import pycolmap

    sparse_dir = Path(sparse_dir)
    if not sparse_dir.is_dir():
        raise CaptureError(sparse_dir, "COLMAP model folder not found")
    rec = pycolmap.Reconstruction(str(sparse_dir))
    out = {}
    for image in rec.images.values():
        if not image.has_pose:
            continue
        cam = rec.cameras[image.camera_id]
        model = cam.model.name
        if model not in _DISTORTION:
            raise CaptureError(
                sparse_dir, f"camera model {model} cannot be exported: undistort the images first"
            )
        params = list(cam.params)
        n_intr = 3 if model.startswith("SIMPLE") or model == "RADIAL" else 4
        pose = image.cam_from_world().matrix()
        out[image.name] = {
            "K": cam.calibration_matrix(),
            "R": pose[:, :3].copy(),
            "t": pose[:, 3].copy(),
            "width": cam.width,
            "height": cam.height,
            "distortion": dict(zip(_DISTORTION[model], map(float, params[n_intr:]), strict=True)),
        }
    return out


def export_nerfstudio(
    capture_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    sparse_dir: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `<out_dir or capture>/transforms.json` for the registered views; returns its path.

    Masks (ours: True = object) are written inverted (nerfstudio: 0 = ignore) to out_dir/masks_nerfstudio.
    Refuses to replace an existing transforms.json or mask folder unless `overwrite`.
    """
    cap = load_capture(capture_dir, masks_dir=masks_dir)
    out = Path(out_dir) if out_dir is not None else cap.root
    out.mkdir(parents=True, exist_ok=True)
    path = out / "transforms.json"
    mask_out = out / "masks_nerfstudio"
    if not overwrite:
        for p in (path, mask_out):
            if p.exists():
                raise CaptureError(p, "already exists (pass overwrite=True / --overwrite to replace it)")
    cams = camera_arrays(sparse_dir or cap.sparse_dir)
    by_name = {p.name: stem for stem, p in cap.images.items()}
    frames, mask_paths = [], []
    exported = [n for n in sorted(cams) if n in by_name]
    if not exported:
        raise CaptureError(cap.root, "no registered view of the model matches an image of the capture")
    any_mask = any(by_name[n] in cap.masks for n in exported)
    tmp_masks = out / ".masks_nerfstudio.partial"
    if any_mask:
        tmp_masks.mkdir(exist_ok=True)
    for name in exported:
        c, stem = cams[name], by_name[name]
        rel = os.path.relpath(cap.images[stem], out)
        frame = nerfstudio_frame(c["K"], c["R"], c["t"], c["width"], c["height"], rel)
        frame.update(c["distortion"])
        frames.append(frame)
        if any_mask:
            m = cap.mask(stem)
            keep = np.full((c["height"], c["width"]), 255, np.uint8)
            if m is not None:
                keep[m] = 0
            write_image(tmp_masks / f"{stem}.png", keep)
            mask_paths.append(f"masks_nerfstudio/{stem}.png")
        else:
            mask_paths.append(None)
    data = nerfstudio_transforms(frames, mask_paths)
    if any(c["distortion"] for c in cams.values()):  # per-frame distortion: no shared zero values on top
        for key in ("k1", "k2", "p1", "p2"):
            data.pop(key, None)
    if any_mask:
        if mask_out.exists():
            import shutil

            shutil.rmtree(mask_out)
        os.replace(tmp_masks, mask_out)
    tmp = out / ".transforms.json.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    skipped = sorted(set(by_name) - set(exported))
    if skipped:
        logger.warning(
            "%d views not registered, left out of transforms.json: %s", len(skipped), ", ".join(skipped)
        )
    logger.info("wrote %s (%d frames, masks: %s)", path, len(frames), "yes" if any_mask else "no")
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture")
    p.add_argument("--out", default=None, help="folder for transforms.json (default: the capture)")
    p.add_argument("--sparse", default=None, help="COLMAP model (default CAPTURE/sparse/0)")
    p.add_argument("--masks", default=None, help="mask folder (default CAPTURE/masks)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    export_nerfstudio(a.capture, a.out, a.sparse, a.masks, a.overwrite)


if __name__ == "__main__":
    main()
