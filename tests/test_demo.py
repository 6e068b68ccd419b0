"""The demo end to end on a small capture: reconstruct, remove, cross-view and radiance-field checks."""

from __future__ import annotations

import json
import math

import pytest

from inconddiff.capture import CaptureError
from inconddiff.demo import run_demo


def test_demo_removes_the_object_and_scores_it(tmp_path):
    summary = run_demo(tmp_path / "demo", views=14, size=(128, 96), seed=1, nerf_steps=30)
    s = summary["scores"]
    assert s["against_truth"]["views"] > 0
    # the object is gone: much closer to the object-free truth than the input was
    assert s["against_truth"]["masked_psnr"] > s["input_against_truth"]["masked_psnr"] + 3
    assert s["against_truth"]["box_lpips"] < s["input_against_truth"]["box_lpips"]
    assert math.isfinite(s["cross_view"]["fill_vs_fill_psnr"])
    # some views' holes were left out of the refit: their renders there are the consistency score
    assert s["nerf"]["hole_heldout"]["views"] > 0
    assert math.isfinite(s["nerf"]["hole_heldout"]["render_vs_edit"]["in_psnr"])
    assert math.isfinite(s["nerf"]["train"]["render_vs_edit"]["out_psnr"])
    assert (tmp_path / "demo" / "removed" / "report.html").is_file()
    assert (tmp_path / "demo" / "consistency" / "consistency.html").is_file()
    assert json.loads((tmp_path / "demo" / "demo.json").read_text())["scores"]["nerf"]
    with pytest.raises(CaptureError, match="already exists"):
        run_demo(tmp_path / "demo", views=14, size=(128, 96), nerf_steps=0)
