"""Reconstruct a capture with COLMAP (pycolmap, in process, CPU): SIFT, matching, incremental mapping.

Writes `<output_dir>/sparse/0` (default: the capture itself) with the largest model; the database and
scratch models go to a temporary folder. The capture's images are only read.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

from inconddiff.capture import CaptureError, list_images

logger = logging.getLogger(__name__)

# Exhaustive matching up to this many images, sequential matching beyond.
EXHAUSTIVE_MAX_IMAGES = 60

# Incremental mapping settings that differ from COLMAP's defaults, and why:
MAPPER_OPTIONS = {
    # forward-facing captures (LLFF-like) never offer a first pair with COLMAP's default 16 degrees
    "mapper.init_min_tri_angle": 4.0,
    # small captures (3 to 9 views) must still give a model; COLMAP's default minimum is 10 images
    "min_model_size": 3,
    # low-resolution or wide-baseline captures have few matches per pair: register with fewer inliers
    # (COLMAP: 15 matches, 100 inliers for the first pair, 30 inliers and a 25% ratio per new view)
    "min_num_matches": 10,
    "mapper.init_min_num_inliers": 40,
    "mapper.abs_pose_min_num_inliers": 12,
    "mapper.abs_pose_min_inlier_ratio": 0.15,
}


def mapper_options():
    """pycolmap.IncrementalPipelineOptions with MAPPER_OPTIONS applied."""
    import pycolmap

    options = pycolmap.IncrementalPipelineOptions()
    for key, value in MAPPER_OPTIONS.items():
        target = options
        *path, leaf = key.split(".")
        for part in path:
            target = getattr(target, part)
        if not hasattr(target, leaf):
            raise AttributeError(f"pycolmap IncrementalPipelineOptions has no option {key!r}")
        setattr(target, leaf, value)
    return options


def _group_images_by_size(image_dir: Path) -> dict[tuple[int, int], list[str]]:
    from inconddiff.capture import image_size

    groups: dict[tuple[int, int], list[str]] = {}
    for p in list_images(image_dir):
        groups.setdefault(image_size(p), []).append(p.name)
    return groups


def reconstruct(
    capture_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    matcher: str = "auto",
    camera_model: str = "PINHOLE",
    num_threads: int = -1,
):
    """Reconstruct `capture_dir/images` and write the largest model to `<output_dir>/sparse/0`.

    `matcher` is 'auto' (exhaustive up to 60 images, else sequential), 'exhaustive' or 'sequential'.
    Images of one size share one camera; images of different sizes get one camera per size.
    Returns the pycolmap.Reconstruction. Views COLMAP could not register are logged by name.
    """
    import pycolmap

    capture_dir = Path(capture_dir)
    image_dir = capture_dir / "images"
    names = [p.name for p in list_images(image_dir)]
    if len(names) < 3:
        raise CaptureError(image_dir, f"need at least 3 images to reconstruct, found {len(names)}")
    out = Path(output_dir) if output_dir is not None else capture_dir
    target = out / "sparse" / "0"
    if matcher == "auto":
        matcher = "exhaustive" if len(names) <= EXHAUSTIVE_MAX_IMAGES else "sequential"
    if matcher not in ("exhaustive", "sequential"):
        raise ValueError(f"unknown matcher {matcher!r}: use 'auto', 'exhaustive' or 'sequential'")
    groups = _group_images_by_size(image_dir)
    if len(groups) > 1:
        logger.info("images come in %d sizes: one camera per size", len(groups))

    with tempfile.TemporaryDirectory(prefix="inconddiff_colmap_") as tmp:
        tmp = Path(tmp)
        db = tmp / "database.db"
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = camera_model
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = num_threads
        logger.info("extracting SIFT features from %d images", len(names))
        for size_names in groups.values():  # one call per image size: one shared camera each
            pycolmap.extract_features(
                db,
                image_dir,
                image_names=size_names,
                camera_mode=pycolmap.CameraMode.SINGLE,
                reader_options=reader,
                extraction_options=extraction,
                device=pycolmap.Device.cpu,
            )
        logger.info("matching (%s)", matcher)
        if matcher == "exhaustive":
            pycolmap.match_exhaustive(db, device=pycolmap.Device.cpu)
        else:
            pycolmap.match_sequential(db, device=pycolmap.Device.cpu)
        logger.info("incremental mapping")
        models = pycolmap.incremental_mapping(db, image_dir, tmp / "models", options=mapper_options())
        if not models:
            raise CaptureError(capture_dir, "COLMAP found no model: too few matches between the images")
        rec = max(models.values(), key=lambda r: r.num_reg_images())
        logger.info("largest model: %s", rec.summary().replace("\n", " "))
        registered = {img.name for img in rec.images.values() if img.has_pose}
        missing = sorted(set(names) - registered)
        if missing:
            logger.warning("%d views not registered (no geometry): %s", len(missing), ", ".join(missing))
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        rec.write(target)
    return rec


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("capture")
    p.add_argument("--out", default=None, help="write OUT/sparse/0 instead of CAPTURE/sparse/0")
    p.add_argument("--matcher", default="auto", choices=("auto", "exhaustive", "sequential"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    reconstruct(args.capture, args.out, args.matcher)


if __name__ == "__main__":
    main()
