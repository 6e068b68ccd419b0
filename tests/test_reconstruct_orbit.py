"""COLMAP on a hard orbit: 16 views 22.5 degrees apart at 256x192, of photo-textured ground, boxes and an
object whose four sides look alike. Plain SIFT matched the repeated texture into a bent model here (camera
centres off by a third of the orbit); the reconstruction must place every camera right."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from colmap_tools.reconstruct import reconstruct
from inconddiff.evaluation.camera_error import camera_errors, true_poses
from inconddiff.evaluation.photo_scenes import BENCHMARK_SCENES, generate_photo_scene

SHARED_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


@pytest.mark.shared_data
def test_sparse_orbit_of_repeated_texture_registers_every_camera_in_place(tmp_path):
    if not SHARED_TRAIN.is_dir():
        pytest.skip(f"{SHARED_TRAIN} is absent")
    capture = generate_photo_scene(
        tmp_path / "orbit", replace(BENCHMARK_SCENES["orbit_mid_256"], texture_dir=str(SHARED_TRAIN))
    )
    rec = reconstruct(capture, tmp_path / "model", seed=0)
    truth = true_poses(capture)
    assert rec.num_reg_images() == len(truth)
    errors = camera_errors(tmp_path / "model" / "sparse" / "0", truth).centre
    assert np.mean(errors) < 0.01 and np.max(errors) < 0.03
