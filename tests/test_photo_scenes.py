"""Photo-textured captures and the ground-truth oracles: the synthetic layout, truth that differs only
inside the masks, an object of the requested size, determinism, and oracles that copy what other views saw."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inconddiff.capture import load_capture, read_image
from inconddiff.evaluation.oracle import copy_oracle, seen_fraction, seen_masks
from inconddiff.evaluation.photo_scenes import BENCHMARK_SCENES, PhotoSceneConfig, generate_photo_scene

SHARED_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
TINY = PhotoSceneConfig(views=6, width=64, height=48, seed=5, object_fraction=0.08)


@pytest.fixture(scope="module")
def photo_capture(tmp_path_factory) -> Path:
    """6 arc views at 64x48 with procedural textures (read-only)."""
    return generate_photo_scene(tmp_path_factory.mktemp("photo") / "tiny", TINY)


@pytest.fixture(scope="module")
def small_object_capture(tmp_path_factory) -> Path:
    """8 arc views at 96x72 of an object covering about 3% of a view, and its copy oracle (read-only)."""
    cfg = replace(TINY, views=8, width=96, height=72, seed=7, object_fraction=0.03)
    return generate_photo_scene(tmp_path_factory.mktemp("photo") / "small", cfg)


def test_layout_is_a_valid_capture(photo_capture):
    cap = load_capture(photo_capture, same_size=True)
    stems = [f"view_{i:03d}" for i in range(6)]
    assert cap.stems == stems and set(cap.masks) == set(stems)
    assert cap.sizes["view_000"] == (48, 64)
    for sub in ("gt/images", "gt/depth", "gt/depth_clean"):
        assert len(list((photo_capture / sub).iterdir())) == 6
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        assert (photo_capture / "gt" / "sparse" / "0" / name).is_file()
    assert len(json.loads((photo_capture / "gt" / "transforms.json").read_text())["frames"]) == 6
    cams = np.load(photo_capture / "gt" / "cameras.npz")
    assert cams["K"].shape == (3, 3) and cams["R"].shape == (6, 3, 3) and cams["t"].shape == (6, 3)
    meta = json.loads((photo_capture / "gt" / "scene.json").read_text())
    assert meta["config"]["seed"] == 5 and len(meta["mask_coverage"]) == 6
    assert 3 <= len(meta["boxes"]) <= 6
    for stem in stems:
        clean = np.load(photo_capture / "gt" / "depth_clean" / f"{stem}.npy")
        full = np.load(photo_capture / "gt" / "depth" / f"{stem}.npy")
        assert clean.dtype == np.float32 and np.isfinite(clean).all() and (clean > 0).all()
        outside = ~cap.mask(stem)
        assert np.array_equal(clean[outside], full[outside])
        assert (full <= clean).all()


def test_truth_differs_only_inside_masks_and_object_has_requested_size(photo_capture):
    cap = load_capture(photo_capture)
    coverage = []
    for stem in cap.stems:
        mask = cap.mask(stem)
        assert mask.any(), f"object not visible in {stem}"
        img = cap.image(stem)
        clean = read_image(photo_capture / "gt" / "images" / f"{stem}.png")
        assert np.array_equal(img[~mask], clean[~mask]), f"{stem}: pixels outside the mask differ"
        assert (img != clean).any(axis=2)[mask].mean() > 0.8  # the object is drawn where the mask says
        coverage.append(mask.mean())
    assert TINY.object_fraction / 2 < np.mean(coverage) < TINY.object_fraction * 2


def test_same_seed_same_images(photo_capture, tmp_path):
    again = generate_photo_scene(tmp_path / "again", TINY)
    for sub in ("images", "masks", "gt/images"):
        for p in sorted((photo_capture / sub).iterdir()):
            assert p.read_bytes() == (again / sub / p.name).read_bytes(), f"{sub}/{p.name} differs"
    other = generate_photo_scene(tmp_path / "other", replace(TINY, seed=6))
    assert not np.array_equal(
        read_image(other / "images" / "view_000.png"), read_image(photo_capture / "images" / "view_000.png")
    )


def test_orbit_path_renders(tmp_path):
    out = generate_photo_scene(tmp_path / "orbit", replace(TINY, path="orbit", views=5, seed=3))
    cap = load_capture(out)
    assert all(cap.mask(s).any() for s in cap.stems)


def test_seen_fraction(photo_capture, small_object_capture):
    for capture in (photo_capture, small_object_capture):
        fractions = seen_fraction(capture)
        assert set(fractions) == set(load_capture(capture).stems)
        assert all(0.0 <= f <= 1.0 for f in fractions.values())
    assert np.mean(list(seen_fraction(small_object_capture).values())) > 0.4


def test_copy_oracle_copies_what_others_saw(small_object_capture, tmp_path):
    out = copy_oracle(small_object_capture, tmp_path / "oracle")
    cap = load_capture(small_object_capture)
    assert load_capture(out).stems == cap.stems and set(load_capture(out).masks) == set(cap.masks)
    seen = seen_masks(small_object_capture)
    oracle_err, flat_err = [], []
    for stem in cap.stems:
        mask, img = cap.mask(stem), cap.image(stem)
        filled = read_image(out / "images" / f"{stem}.png")
        assert np.array_equal(filled[~mask], img[~mask])
        truth = read_image(small_object_capture / "gt" / "images" / f"{stem}.png").astype(float)
        s = seen[stem]
        oracle_err.append(np.abs(filled[s] - truth[s]).mean())
        flat_err.append(np.abs(truth[mask].mean(0) - truth[s]).mean())
    assert np.mean(oracle_err) < 0.6 * np.mean(flat_err)  # the rest: resampling a textured 96 px image


def test_oracle_reads_synthetic_captures(tiny_capture):
    fractions = seen_fraction(tiny_capture)
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions.values())


def test_benchmark_scenes_cover_the_ranges():
    configs = list(BENCHMARK_SCENES.values())
    assert len(configs) >= 6 and {c.path for c in configs} == {"arc", "orbit"}
    fractions = [c.object_fraction for c in configs]
    assert min(fractions) <= 0.03 and max(fractions) >= 0.15
    sides = [max(c.width, c.height) for c in configs]
    assert min(sides) == 256 and max(sides) == 1024
    assert all(16 <= c.views <= 24 for c in configs)


@pytest.mark.shared_data
def test_photo_textures_from_shared_data(tmp_path):
    if not SHARED_TRAIN.is_dir():
        pytest.skip(f"{SHARED_TRAIN} is absent")
    out = generate_photo_scene(tmp_path / "photos", replace(TINY, views=4, texture_dir=str(SHARED_TRAIN)))
    meta = json.loads((out / "gt" / "scene.json").read_text())
    photos = [s["photo"] for s in meta["surfaces"]]
    assert len(photos) >= 8 and all(Path(p).is_relative_to(SHARED_TRAIN) for p in photos)
    img = read_image(out / "gt" / "images" / "view_000.png")
    assert img.std() > 10  # textured, not flat
