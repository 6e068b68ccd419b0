"""Reconstruct a capture with COLMAP (pycolmap, in process, CPU): SIFT, matching, incremental mapping.

Writes `<output_dir>/sparse/0` (default: the capture itself) with the largest model; the database and
scratch models go to a temporary folder. The capture's images are only read: images with an EXIF rotation
are reconstructed from upright copies there, so that the model's cameras are those of the displayed images.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from colmap_tools.retrieval import retrieval_pairs, write_pairs
from inconddiff.capture import CaptureError, exif_orientation, list_images

logger = logging.getLogger(__name__)

# Exhaustive matching up to this many images; beyond, retrieval pairs (`retrieval`), whose number grows
# linearly with the images.
EXHAUSTIVE_MAX_IMAGES = 60
MATCHERS = ("exhaustive", "retrieval", "sequential")

WORKING_SIZE = 2048
"""Longer side, in pixels, of the images SIFT sees."""

# Feature extraction settings that differ from COLMAP's defaults, and why:
EXTRACTION_OPTIONS = {
    # affine-adapted SIFT: with plain SIFT, wide-baseline views (20 degrees apart) of repeated texture at
    # low resolution matched the wrong copies of the texture and the model came out bent; affine adaptation
    # registers them right, with more points everywhere, and reconstruction takes about 1.3x as long
    "sift.estimate_affine_shape": True,
    # SIFT works on images shrunk to WORKING_SIZE (keypoints are scaled back, cameras keep the images' own
    # size): at COLMAP's 3,200 px, 12 MP photos cost four times the extraction and five times the matching of
    # 1080p frames (`benchmarks/scale.py`, 4032x3024 series)
    "max_image_size": WORKING_SIZE,
}

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
    # global bundle adjustment each time the model grows by 40% (COLMAP: 10%): with hundreds of views the
    # global adjustments dominate mapping, and the local ones keep the new views in place between them
    "ba_global_frames_ratio": 1.4,
    "ba_global_points_ratio": 1.4,
}

# Bundle adjustment is most of the mapping of a large capture, and its cost follows the observations, which grow
# faster than the views: a denser capture sees each point from more views (1080p orbits: 5.7 views a point at
# 50 views, 12.1 at 200). Above LARGE_CAPTURE_IMAGES views, global adjustments leave out points that add no
# coverage and come each time the model doubles, and every adjustment stops after fewer iterations and
# refinements. 1080p orbits of 100/200 views map in 51/123 s instead of 92/299 s, and a 120-frame 1080p walk in
# 211 s instead of 1,241, with every orbit camera as close to its true place (within 0.03% of the extent).
LARGE_CAPTURE_IMAGES = 60
LARGE_CAPTURE_MAPPER_OPTIONS = {
    "mapper.ba_global_ignore_redundant_points3D": True,
    "ba_global_frames_ratio": 2.0,
    "ba_global_points_ratio": 2.0,
    "ba_global_max_num_iterations": 20,
    "ba_global_max_refinements": 2,
    "ba_local_max_num_iterations": 10,
    "ba_local_max_refinements": 1,
}


# Second attempt for captures the first one could not register completely (few, wide-baseline or weakly
# textured views, e.g. 8 frames picked from a video): more SIFT features (lower peak threshold), a looser
# ratio test, fewer inliers needed per pair and per view, smaller triangulation angles. (Domain-size pooling
# and guided matching were tried too: many minutes for 8 images on 2 cores, so they are left out.)
HARD_PRESET = {
    "extraction": {"sift.peak_threshold": 0.003, "sift.max_num_features": 12000},
    "matching": {"sift.max_ratio": 0.85},
    "verification": {"min_num_inliers": 10},
    "mapper": {
        "mapper.init_min_tri_angle": 2.0,
        "mapper.init_min_num_inliers": 20,
        "mapper.abs_pose_min_num_inliers": 10,
        "mapper.abs_pose_min_inlier_ratio": 0.1,
        "mapper.filter_min_tri_angle": 1.0,
        "min_num_matches": 8,
    },
}


def _apply(options, overrides: dict, what: str):
    """Set dotted `overrides` on a pycolmap options object, refusing names it does not have."""
    for key, value in overrides.items():
        target = options
        *path, leaf = key.split(".")
        for part in path:
            target = getattr(target, part)
        if not hasattr(target, leaf):
            raise AttributeError(f"pycolmap {what} has no option {key!r}")
        setattr(target, leaf, value)
    return options


def mapper_options(overrides: dict | None = None, seed: int = 0, num_images: int = 0):
    """pycolmap.IncrementalPipelineOptions with MAPPER_OPTIONS (LARGE_CAPTURE_MAPPER_OPTIONS too for more than
    LARGE_CAPTURE_IMAGES images, then `overrides`) applied, seeded."""
    import pycolmap

    options = _apply(pycolmap.IncrementalPipelineOptions(), MAPPER_OPTIONS, "IncrementalPipelineOptions")
    if num_images > LARGE_CAPTURE_IMAGES:
        _apply(options, LARGE_CAPTURE_MAPPER_OPTIONS, "IncrementalPipelineOptions")
    options.random_seed = options.mapper.random_seed = seed
    # the mapper's threads change the order of its floating-point work and the model with it
    options.num_threads = options.mapper.num_threads = 1
    return _apply(options, overrides or {}, "IncrementalPipelineOptions")


# COLMAP warnings that say nothing about the result (kept at debug level)
HARMLESS_WARNINGS = ("use the maximum number of threads on the machine",)


@contextlib.contextmanager
def colmap_log_to_logger():
    """Route COLMAP's own log (glog on the process's stderr) into this module's logger: warnings and
    errors as warnings, the rest at debug level. At debug level COLMAP's info lines are kept too."""
    import pycolmap

    previous = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 0 if logger.isEnabledFor(logging.DEBUG) else 1
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            pycolmap.logging.minloglevel = previous
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if not line.strip():
                    continue
                level = logging.WARNING if line[:1] in "WEF" else logging.DEBUG
                if any(text in line for text in HARMLESS_WARNINGS):
                    level = logging.DEBUG
                logger.log(level, "colmap: %s", line)


def upright_images(image_dir: Path, scratch: Path) -> Path:
    """The folder COLMAP should read `image_dir`'s images from, upright as displayed.

    pycolmap reads image files as stored, while every other stage applies their EXIF orientation. When no
    image has an orientation other than 1, that is `image_dir` itself (only headers are read); otherwise
    `scratch` (created), with upright copies of the rotated images and links to the others, under the same
    names. The copies keep the rest of their EXIF (focal length) for COLMAP's intrinsics.
    """
    from PIL import Image, ImageOps

    paths = list_images(image_dir)
    rotated = [p for p in paths if exif_orientation(p) != 1]
    if not rotated:
        return image_dir
    logger.info("%d images carry an EXIF rotation: reconstructing from upright copies", len(rotated))
    scratch.mkdir(parents=True)
    for p in paths:
        if p not in rotated:
            (scratch / p.name).symlink_to(p.resolve())
            continue
        with Image.open(p) as im:
            upright = ImageOps.exif_transpose(im)  # also drops the orientation tag from its EXIF
            upright.save(scratch / p.name, format=im.format, quality=95, exif=upright.getexif())
    return scratch


def _group_images_by_size(image_dir: Path) -> dict[tuple[int, int], list[str]]:
    from inconddiff.capture import image_size

    groups: dict[tuple[int, int], list[str]] = {}
    for p in list_images(image_dir):
        groups.setdefault(image_size(p), []).append(p.name)
    return groups


def _attempt(
    image_dir: Path, groups, tmp: Path, matcher: str, camera_model: str, num_threads: int, preset, seed: int
):
    """One extraction + matching + mapping run in `tmp`; returns the largest model or None."""
    import pycolmap

    pycolmap.set_random_seed(seed)
    preset = preset or {}
    db = tmp / "database.db"
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera_model
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = num_threads
    _apply(extraction, EXTRACTION_OPTIONS, "FeatureExtractionOptions")
    _apply(extraction, preset.get("extraction", {}), "FeatureExtractionOptions")
    matching = _apply(pycolmap.FeatureMatchingOptions(), preset.get("matching", {}), "FeatureMatchingOptions")
    # matching threads finish their pairs in an order the scheduler picks, and verification draws its RANSAC
    # samples per thread: one thread keeps both in one order
    matching.num_threads = num_threads
    verification = _apply(
        pycolmap.TwoViewGeometryOptions(), preset.get("verification", {}), "TwoViewGeometryOptions"
    )
    verification.ransac.random_seed = seed
    n = sum(len(v) for v in groups.values())
    logger.info("extracting SIFT features from %d images", n)
    with colmap_log_to_logger():
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
    with colmap_log_to_logger():
        if matcher == "exhaustive":
            pycolmap.match_exhaustive(
                db, matching_options=matching, verification_options=verification, device=pycolmap.Device.cpu
            )
        elif matcher == "retrieval":
            pairing = pycolmap.ImportedPairingOptions()
            pairing.match_list_path = write_pairs(retrieval_pairs(db, seed), tmp / "pairs.txt")
            pycolmap.match_image_pairs(
                db,
                matching_options=matching,
                pairing_options=pairing,
                verification_options=verification,
                device=pycolmap.Device.cpu,
            )
        else:
            pycolmap.match_sequential(
                db, matching_options=matching, verification_options=verification, device=pycolmap.Device.cpu
            )
    logger.info("incremental mapping")
    with colmap_log_to_logger():
        models = pycolmap.incremental_mapping(
            db, image_dir, tmp / "models", options=mapper_options(preset.get("mapper"), seed, n)
        )
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def reconstruct(
    capture_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    matcher: str = "auto",
    camera_model: str = "SIMPLE_PINHOLE",
    num_threads: int = 1,
    retry_hard: bool = True,
    seed: int = 0,
):
    """Reconstruct `capture_dir/images` and write the largest model to `<output_dir>/sparse/0`.

    `matcher` is 'auto' (exhaustive up to 60 images, else retrieval), 'exhaustive', 'retrieval' (each image
    with the images most like it and the next few in name order: `retrieval`) or 'sequential'.
    Images of one size share one camera; images of different sizes get one camera per size.
    `camera_model` defaults to SIMPLE_PINHOLE (one focal length, principal point at the centre): PINHOLE's
    separate fx, fy drift apart where the focal length is weakly observed (forward-facing captures).
    When views stay unregistered (or no model is found) and `retry_hard`, a second run with
    HARD_PRESET is made and the model with more registered views kept. Every random choice (RANSAC, the
    mapper's) is seeded with `seed`, and feature extraction and matching (`num_threads`, default 1) and mapping
    run on one thread, whose order of work does not change from run to run: the same images give the same model
    on the same machine. More threads are faster and may give a slightly different model each time.
    Returns the pycolmap.Reconstruction. Views COLMAP could not register are logged by name.
    """
    capture_dir = Path(capture_dir)
    image_dir = capture_dir / "images"
    if not image_dir.is_dir():
        raise CaptureError(image_dir, "no images/ folder")
    names = [p.name for p in list_images(image_dir)]
    if len(names) < 3:
        raise CaptureError(image_dir, f"need at least 3 images to reconstruct, found {len(names)}")
    out = Path(output_dir) if output_dir is not None else capture_dir
    target = out / "sparse" / "0"
    if matcher == "auto":
        matcher = "exhaustive" if len(names) <= EXHAUSTIVE_MAX_IMAGES else "retrieval"
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}: use 'auto', {', '.join(map(repr, MATCHERS))}")
    groups = _group_images_by_size(image_dir)
    if len(groups) > 1:
        logger.info("images come in %d sizes: one camera per size", len(groups))

    with tempfile.TemporaryDirectory(prefix="inconddiff_colmap_") as tmp:
        tmp = Path(tmp)
        image_dir = upright_images(image_dir, tmp / "upright")
        (tmp / "a").mkdir()
        rec = _attempt(image_dir, groups, tmp / "a", matcher, camera_model, num_threads, None, seed)
        if retry_hard and (rec is None or rec.num_reg_images() < len(names)):
            got = 0 if rec is None else rec.num_reg_images()
            logger.info("%d/%d views registered: retrying with the preset for hard captures", got, len(names))
            (tmp / "b").mkdir()
            hard = _attempt(
                image_dir, groups, tmp / "b", matcher, camera_model, num_threads, HARD_PRESET, seed
            )
            if hard is not None and (rec is None or hard.num_reg_images() > rec.num_reg_images()):
                rec = hard
        if rec is None:
            raise CaptureError(capture_dir, "COLMAP found no model: too few matches between the images")
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


def load_reconstruction(sparse_dir: str | os.PathLike):
    """A COLMAP model folder (binary or text) as a pycolmap.Reconstruction; CaptureError if absent or broken.
    For plain arrays (cameras by stem, points, tracks) use colmap_tools.sparse_model.load_scene_geometry."""
    import pycolmap

    sparse_dir = Path(sparse_dir)
    if not sparse_dir.is_dir():
        raise CaptureError(sparse_dir, "COLMAP model folder not found")
    try:
        return pycolmap.Reconstruction(str(sparse_dir))
    except Exception as err:
        raise CaptureError(sparse_dir, f"unreadable COLMAP model ({err})") from err


def model_stats(sparse_dir: str | os.PathLike) -> dict:
    """Registered image names, number of points and mean reprojection error (px) of a COLMAP model."""
    rec = load_reconstruction(sparse_dir)
    return {
        "registered": sorted(img.name for img in rec.images.values() if img.has_pose),
        "points": rec.num_points3D(),
        "reprojection_error_px": float(rec.compute_mean_reprojection_error()),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("capture")
    p.add_argument("--out", default=None, help="write OUT/sparse/0 instead of CAPTURE/sparse/0")
    p.add_argument("--matcher", default="auto", choices=("auto", *MATCHERS))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    reconstruct(args.capture, args.out, args.matcher)


if __name__ == "__main__":
    main()
