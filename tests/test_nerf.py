"""The `inconddiff-fit` nerfstudio method and the 3D-consistency evaluation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inconddiff.capture import read_image
from nerf_integration.evaluate import region_scores, summarise


def test_entry_point_registered():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="nerfstudio.method_configs")}
    assert names.get("inconddiff-fit") == "nerf_integration.config:inconddiff_fit"
    from nerfstudio.plugins.registry import discover_methods

    methods, descriptions = discover_methods()
    assert "inconddiff-fit" in methods
    assert methods["inconddiff-fit"].method_name == "inconddiff-fit"


def test_region_scores_known_answers():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (48, 64, 3)).astype(np.uint8)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:40] = True
    same = region_scores(a, a.copy(), hole, None)
    assert same["in_psnr"] == 100.0 and same["out_psnr"] == 100.0  # identical -> inf, reported as 100 dB
    assert same["in_ssim"] == pytest.approx(1.0) and same["out_ssim"] == pytest.approx(1.0)
    # a constant offset of 51/255 = 0.2 inside the hole only: MSE 0.04 -> PSNR 10 log10(1/0.04) = 13.98 dB
    b = a.copy()
    b[hole] += 51
    s = region_scores(b, a, hole, None)
    assert s["in_psnr"] == pytest.approx(10 * np.log10(1 / 0.04), abs=1e-6)
    assert s["out_psnr"] == 100.0
    # no hole: only the whole-image scores
    s = region_scores(b, a, None, None)
    assert "in_psnr" not in s and s["out_psnr"] == pytest.approx(
        10 * np.log10(1 / (0.04 * hole.mean())), abs=1e-6
    )
    views = [
        {"split": "train", "render_vs_edit": {"in_psnr": 20.0}},
        {"split": "train", "render_vs_edit": {"in_psnr": 30.0}},
        {"split": "heldout", "render_vs_edit": {"in_psnr": None}},
    ]
    summary = summarise(views)
    assert summary["train"]["render_vs_edit"]["in_psnr"] == 25.0
    assert summary["heldout"]["render_vs_edit"]["in_psnr"] is None


def test_lpips_region_scores_identical_is_zero():
    from inconddiff.metrics import LPIPS

    a = np.random.default_rng(1).integers(0, 255, (48, 64, 3)).astype(np.uint8)
    hole = np.zeros((48, 64), bool)
    hole[5:20, 5:20] = True
    s = region_scores(a, a.copy(), hole, LPIPS(device="cpu"))
    assert s["in_lpips"] == pytest.approx(0.0, abs=1e-6) and s["out_lpips"] == pytest.approx(0.0, abs=1e-6)


def test_fit_through_entry_point_and_render(tiny_capture, tmp_path):
    """A few iterations of the registered method (nerfstudio's Trainer, in-process, on CPU) on a tiny capture."""
    import copy

    from nerfstudio.plugins.registry import discover_methods

    from nerf_integration.fit import fit, prepare_fit_data, render_views

    data, train, held = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=2)
    assert len(held) == 2 and len(train) == 6 and not set(held) & set(train)
    config = copy.deepcopy(discover_methods()[0]["inconddiff-fit"])
    config.machine.device_type = "cpu"
    result = fit(data, tmp_path / "run", max_steps=3, method_config=config)
    assert result.steps == 3
    assert result.config_path.is_file()
    assert list((result.config_path.parent / "nerfstudio_models").glob("step-*.ckpt"))
    renders = render_views(result.pipeline)
    assert sorted(renders) == sorted(train + held)
    rgb, depth = renders[held[0]]
    assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64)
    assert np.isfinite(rgb).all() and 0 <= rgb.min() and rgb.max() <= 1 and (depth > 0).all()


def test_evaluate_capture_writes_report(tiny_capture, tmp_path):
    from nerf_integration.evaluate import evaluate_capture

    edited = tmp_path / "edited"
    shutil.copytree(tiny_capture, edited)
    report = evaluate_capture(
        edited, tmp_path / "out", gt_images=edited / "gt" / "images", holdout=2, max_steps=3, use_lpips=False
    )
    out = tmp_path / "out"
    saved = json.loads((out / "consistency.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(report["summary"]))
    assert len(saved["views"]) == 8 and sum(v["split"] == "heldout" for v in saved["views"]) == 2
    v = saved["views"][0]
    assert {"render_vs_edit", "render_vs_gt", "edit_vs_gt"} <= set(v)
    # the capture's images are the originals (object present) so edit vs truth differs only in the holes
    assert v["edit_vs_gt"]["out_psnr"] > 40
    assert (out / "consistency.html").read_text().count("<tr>") >= 8
    assert read_image(out / "renders" / f"{v['name']}.png").shape == (48, 64, 3)


@pytest.mark.slow
def test_ns_train_cli(tiny_capture, tmp_path):
    from nerf_integration.fit import prepare_fit_data

    data, _, _ = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=1)
    ns_train = Path(sys.executable).parent / "ns-train"
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    help_out = subprocess.run([ns_train, "inconddiff-fit", "--help"], capture_output=True, text=True, env=env)
    assert help_out.returncode == 0 and "tv-weight" in help_out.stdout
    run = subprocess.run(
        [
            ns_train,
            "inconddiff-fit",
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "runs"),
            "--max-num-iterations",
            "4",
            "--machine.device-type",
            "cpu",
            "--vis",
            "tensorboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert list((tmp_path / "runs").rglob("step-*.ckpt"))
