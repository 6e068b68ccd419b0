"""colmap_tools: reconstruction of a synthetic capture, mask propagation, the run command's chain."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from colmap_tools.propagate_masks import propagate, propagate_capture
from colmap_tools.reconstruct import LARGE_CAPTURE_IMAGES, mapper_options, reconstruct
from colmap_tools.sparse_model import load_scene_geometry
from inconddiff.capture import CaptureError, load_capture, write_image


def test_reconstruct_registers_every_view_and_keeps_the_capture(small_capture, tmp_path):
    before = sorted(p.name for p in small_capture.rglob("*"))
    rec = reconstruct(small_capture, output_dir=tmp_path / "recon")
    assert rec.num_reg_images() == 16
    assert sorted(p.name for p in small_capture.rglob("*")) == before  # nothing written into the capture
    geometry = load_scene_geometry(tmp_path / "recon" / "sparse" / "0")
    assert len(geometry.cameras) == 16 and len(geometry.points) > 100


def test_large_captures_map_with_lighter_bundle_adjustment_and_presets_still_win():
    small = mapper_options(num_images=LARGE_CAPTURE_IMAGES)
    large = mapper_options(num_images=LARGE_CAPTURE_IMAGES + 1)
    assert not small.mapper.ba_global_ignore_redundant_points3D and small.ba_global_frames_ratio == 1.4
    assert large.mapper.ba_global_ignore_redundant_points3D and large.ba_global_frames_ratio == 2.0
    assert large.ba_local_max_refinements == 1 and large.num_threads == 1 and large.random_seed == 0
    hard = mapper_options({"ba_local_max_refinements": 3}, seed=4, num_images=500)
    assert hard.ba_local_max_refinements == 3 and hard.mapper.random_seed == 4


def test_features_come_from_a_working_size_and_the_model_keeps_the_images_size(
    small_capture, tmp_path, monkeypatch
):
    from colmap_tools import reconstruct as module

    def keypoints(rec):
        return [np.array([p.xy for p in img.points2D]) for img in rec.images.values()]

    full = keypoints(reconstruct(small_capture, output_dir=tmp_path / "full"))
    monkeypatch.setitem(module.EXTRACTION_OPTIONS, "max_image_size", 128)  # the capture is 160x120
    rec = reconstruct(small_capture, output_dir=tmp_path / "shrunk")
    assert rec.num_reg_images() >= 12  # at 128 px some views have too few matches
    (camera,) = rec.cameras.values()
    assert (camera.width, camera.height) == (160, 120)
    shrunk = keypoints(rec)
    # SIFT saw smaller images: fewer keypoints in each
    assert np.mean([len(k) for k in shrunk]) < 0.9 * np.mean([len(k) for k in full])
    xy = np.concatenate(shrunk)
    assert xy[:, 0].max() > 140 and xy[:, 1].max() > 100  # keypoints in the full image's pixels


def test_reconstruct_refuses_fewer_than_three_images(tmp_path):
    for i in range(2):
        write_image(tmp_path / "c" / "images" / f"{i}.png", np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(CaptureError, match="at least 3 images"):
        reconstruct(tmp_path / "c")
    with pytest.raises(CaptureError, match="no images/ folder"):
        reconstruct(tmp_path / "nothing_here")
    from colmap_tools.reconstruct import load_reconstruction

    with pytest.raises(CaptureError, match="model folder not found"):
        load_reconstruction(tmp_path / "c" / "sparse" / "0")


def test_reconstruct_gives_no_model_error_for_unmatchable_images(tmp_path):
    for i in range(3):  # flat grey: no features at all
        write_image(tmp_path / "c" / "images" / f"{i}.png", np.full((60, 80, 3), 90 + i, np.uint8))
    with pytest.raises(CaptureError, match="no model"):
        reconstruct(tmp_path / "c", output_dir=tmp_path / "out", retry_hard=False)
    assert not (tmp_path / "out" / "sparse").exists()


@pytest.mark.slow
def test_reconstruct_mixed_sizes_and_an_unregistrable_view(small_capture, tmp_path, caplog):
    """Half the views at twice the size get their own camera; a noise image is listed as unregistered."""
    import logging

    import cv2

    from colmap_tools.reconstruct import model_stats
    from inconddiff.capture import read_image

    cap = tmp_path / "cap"
    shutil.copytree(small_capture / "images", cap / "images")
    for p in sorted((cap / "images").iterdir())[::2]:
        img = read_image(p)
        write_image(p, cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC))
    noise = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    write_image(cap / "images" / "zz_noise.png", noise)
    with caplog.at_level(logging.INFO, logger="colmap_tools.reconstruct"):
        rec = reconstruct(cap, output_dir=tmp_path / "out", retry_hard=False)
    assert len(rec.cameras) == 2
    sizes = sorted((c.width, c.height) for c in rec.cameras.values())
    assert sizes == [(160, 120), (320, 240)]
    stats = model_stats(tmp_path / "out" / "sparse" / "0")
    assert len(stats["registered"]) == 16 and "zz_noise.png" not in stats["registered"]
    assert stats["reprojection_error_px"] < 1.0
    assert any("not registered" in r.message and "zz_noise.png" in r.message for r in caplog.records)
    assert any("largest model" in r.message for r in caplog.records)


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_propagated_masks_match_the_true_masks(tiny_capture):
    cap = load_capture(tiny_capture)
    geometry = load_scene_geometry(tiny_capture / "gt" / "sparse" / "0")
    annotated = {v: cap.mask(v) for v in ("view_000", "view_003")}
    result = propagate(geometry, annotated, margin=0)
    assert set(result) == set(cap.stems)
    scores = [iou(result[s], cap.mask(s)) for s in cap.stems if s not in annotated]
    assert np.mean(scores) > 0.5
    recall = [(result[s] & cap.mask(s)).sum() / cap.mask(s).sum() for s in cap.stems if s not in annotated]
    assert np.mean(recall) > 0.85  # the object is covered: over-covering is the safe side


def test_propagate_capture_writes_a_new_folder_and_checks_its_input(tiny_capture, tmp_path):
    cap = tmp_path / "cap"
    shutil.copytree(tiny_capture, cap)
    for p in (cap / "masks").iterdir():
        if p.stem not in ("view_000", "view_004"):
            p.unlink()
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    out = propagate_capture(cap, ["view_000", "view_004"], tmp_path / "masks_out")
    assert len(list(out.iterdir())) == 8
    with pytest.raises(CaptureError, match="already exists"):
        propagate_capture(cap, ["view_000", "view_004"], tmp_path / "masks_out")
    with pytest.raises(CaptureError, match="no .*mask"):
        propagate_capture(cap, ["view_000", "view_001"], tmp_path / "m2")
    with pytest.raises(CaptureError, match="no image named"):
        propagate_capture(cap, ["nope"], tmp_path / "m3")


def test_run_chains_propagation_and_removal(tiny_capture, tmp_path):
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.run import run_capture

    cap = tmp_path / "cap"
    shutil.copytree(tiny_capture, cap)
    for p in (cap / "masks").iterdir():
        if p.stem not in ("view_000", "view_004"):
            p.unlink()
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    out = run_capture(cap, ["view_000", "view_004"], tmp_path / "out", RemovalConfig(method="warp"))
    assert len(list((out / "images").iterdir())) == 8
    assert len(list((tmp_path / "out.work" / "masks").iterdir())) == 8
    truth, result = load_capture(tiny_capture), load_capture(out)
    hit = []
    for stem in truth.stems:
        if stem not in ("view_000", "view_004"):
            changed = (result.image(stem) != truth.image(stem)).any(axis=2)
            hit.append((changed & truth.mask(stem)).sum() / truth.mask(stem).sum())
    assert np.mean(hit) > 0.8  # the object was found and filled in the views nobody annotated


@pytest.mark.slow
def test_reconstruct_command_with_nerfstudio_export_and_pairs(small_capture, tmp_path):
    import json

    from colmap_tools.pairs import read_pairs
    from inconddiff.cli import main

    out = tmp_path / "out"
    assert main(["reconstruct", str(small_capture), "--out", str(out), "--nerfstudio", "--pairs"]) == 0
    assert (out / "sparse" / "0").is_dir()
    frames = json.loads((out / "transforms.json").read_text())["frames"]
    assert len(frames) == 16 and all("mask_path" in f for f in frames)
    pairs = read_pairs(out / "pairs.txt")
    assert len(pairs) == 16 and all(len(v) >= 3 for v in pairs.values())
    assert not (small_capture / "sparse").exists()  # the capture stays read-only


def test_masks_command_reconstructs_a_capture_without_a_model_beside_its_output(
    small_capture, tmp_path, caplog
):
    from inconddiff.cli import main

    cap = tmp_path / "cap"
    shutil.copytree(small_capture, cap)
    for p in (cap / "masks").iterdir():
        if p.stem not in ("view_000", "view_008"):
            p.unlink()
    before = sorted(p.relative_to(cap) for p in cap.rglob("*"))
    assert main(["masks", "propagate", str(cap), "--from", "view_000", "view_008", "--sparse", "nope"]) == 1
    assert any("nope" in r.getMessage() and "not found" in r.getMessage() for r in caplog.records)
    assert (
        main(["masks", "propagate", str(cap), "--from", "view_000", "view_008", "--out", str(tmp_path / "m")])
        == 0
    )
    assert len(list((tmp_path / "m").iterdir())) == 16
    assert (tmp_path / "m.model" / "sparse" / "0").is_dir()
    assert sorted(p.relative_to(cap) for p in cap.rglob("*")) == before  # the capture is untouched
    truth = load_capture(small_capture)
    ious = []
    for stem in truth.stems:
        m = truth.mask(stem)
        p = load_capture(cap, masks_dir=tmp_path / "m").mask(stem)
        ious.append((p & m).sum() / (p | m).sum())
    assert np.mean(ious) > 0.5


def test_distortion_model_gets_an_undistorted_pinhole_copy(small_capture, tmp_path):
    from colmap_tools.reconstruct import load_reconstruction
    from colmap_tools.undistort import needs_undistortion, undistort_capture
    from inconddiff.capture import read_mask

    rec_dir = tmp_path / "recon"
    reconstruct(small_capture, output_dir=rec_dir, camera_model="SIMPLE_RADIAL")
    sparse = rec_dir / "sparse" / "0"
    assert needs_undistortion(sparse)
    capture = tmp_path / "capture"
    shutil.copytree(small_capture / "images", capture / "images")
    shutil.copytree(small_capture / "masks", capture / "masks")
    before = sorted((p.name, p.stat().st_size) for p in capture.rglob("*"))
    out = undistort_capture(capture, tmp_path / "undistorted", sparse_dir=sparse)
    assert sorted((p.name, p.stat().st_size) for p in capture.rglob("*")) == before
    assert not needs_undistortion(out / "sparse" / "0")
    rec = load_reconstruction(out / "sparse" / "0")
    assert {c.model.name for c in rec.cameras.values()} == {"PINHOLE"}
    assert len(list((out / "images").iterdir())) == 16
    masks = sorted((out / "masks").iterdir())
    assert len(masks) == len(list((capture / "masks").iterdir()))
    cam = next(iter(rec.cameras.values()))
    for path in masks:
        m = read_mask(path, (cam.height, cam.width))
        original = read_mask(capture / "masks" / path.name)
        # the object is still there, in a binary mask of the undistorted size, at about its size
        # (the lens model is fit to a pinhole rendering, so its distortion is small)
        if original.any():
            assert abs(m.mean() - original.mean()) < 0.25 * original.mean()
        assert m.any() == original.any()
    with pytest.raises(CaptureError, match="already exists"):
        undistort_capture(capture, out, sparse_dir=sparse)


def _looking_at(centre: np.ndarray, size: int = 128):
    """A camera at `centre` looking at the origin (world y down), focal length `size`."""
    from inconddiff.cameras import Camera
    from inconddiff.evaluation.synthetic import look_at

    R = look_at(centre, np.zeros(3), up=(0.0, -1.0, 0.0))
    K = np.array([[size, 0, size / 2], [0, size, size / 2], [0, 0, 1.0]])
    return Camera(K, R, -R @ centre, size, size)


def test_carved_volume_is_bounded_in_depth_when_the_annotated_views_face_each_other():
    """Masks of two views facing each other leave the object free along their common axis; the depth slabs
    around its points keep the volume about as deep as the object, so a side view sees it at its size."""
    from colmap_tools.object_volume import carve_volume, splat_mask

    cube = np.stack(np.meshgrid(*[np.linspace(-0.2, 0.2, 9)] * 3, indexing="ij"), -1).reshape(-1, 3)
    cameras = {"front": _looking_at(np.array([0, 0, -4.0])), "back": _looking_at(np.array([0, 0, 4.0]))}
    side = _looking_at(np.array([4.0, 0, 0]))
    masks = {name: splat_mask(cube, 0.05, cam) for name, cam in cameras.items()}
    surface = cube[np.isclose(np.abs(cube[:, 2]), 0.2)]  # what sparse points see: the faces toward the views
    voxels, size = carve_volume(surface, cameras, masks, resolution=48, grow=0.3)
    assert np.abs(voxels[:, 2]).max() < 0.2 + 0.5 * 0.4 + 2 * size  # at most half a width behind the points
    truth = splat_mask(cube, 0.05, side)
    seen = splat_mask(voxels, size, side)
    assert iou(seen, truth) > 0.6


def test_object_points_in_parts_are_all_kept_and_strays_dropped():
    from colmap_tools.object_volume import clean_points

    rng = np.random.default_rng(0)
    ball = rng.normal(0.0, 0.1, (120, 3)) + [0.0, 0.0, 1.2]  # a textured ball: many points
    column = np.stack([rng.normal(0, 0.01, 20), rng.normal(0, 0.01, 20), np.linspace(0.1, 0.5, 20)], 1)
    strays = rng.normal(0.0, 0.02, (3, 3)) + [2.0, 2.0, 0.0]  # background points inside both masks by chance
    keep = clean_points(np.concatenate([ball, column, strays]))
    assert keep[120:140].mean() > 0.8  # the thin column under the ball is part of the object
    assert not keep[140:].any()
    assert keep[:120].mean() > 0.9
