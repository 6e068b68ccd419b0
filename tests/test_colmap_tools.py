"""colmap_tools: reconstruction of a synthetic capture, mask propagation, the run command's chain."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from colmap_tools.propagate_masks import propagate, propagate_capture
from colmap_tools.reconstruct import reconstruct
from colmap_tools.scene_arrays import load_scene_geometry
from inconddiff.capture import CaptureError, load_capture, write_image


def test_reconstruct_registers_every_view_and_keeps_the_capture(small_capture, tmp_path):
    before = sorted(p.name for p in small_capture.rglob("*"))
    rec = reconstruct(small_capture, output_dir=tmp_path / "recon")
    assert rec.num_reg_images() == 16
    assert sorted(p.name for p in small_capture.rglob("*")) == before  # nothing written into the capture
    geometry = load_scene_geometry(tmp_path / "recon" / "sparse" / "0")
    assert len(geometry.cameras) == 16 and len(geometry.points) > 100


def test_reconstruct_refuses_fewer_than_three_images(tmp_path):
    for i in range(2):
        write_image(tmp_path / "c" / "images" / f"{i}.png", np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(CaptureError, match="at least 3 images"):
        reconstruct(tmp_path / "c")


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
    from inconddiff.pipeline_run import run_capture
    from inconddiff.removal import RemovalConfig

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
