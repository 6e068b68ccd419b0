"""The shipped default weights: load offline from the package and fill a hole, pixels outside kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.fillers import default_weights_dir, make_filler

WEIGHTS = default_weights_dir()
pytestmark = pytest.mark.skipif(
    not (WEIGHTS / "model_index.json").is_file(), reason="no default weights shipped in this checkout"
)


def test_default_weights_are_small_safetensors_and_load_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = [p for p in WEIGHTS.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert not any(p.suffix in (".bin", ".pt", ".ckpt") for p in files)
    assert sum(p.stat().st_size for p in files) <= 50 * 2**20
    pipe = InConDiffPipeline.from_pretrained(str(WEIGHTS))
    pipe.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (40, 56, 3))
    hole = np.zeros((40, 56), bool)
    hole[12:28, 18:38] = True
    ref = np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1)
    result = pipe(
        image,
        hole,
        reference_images=[ref],
        reference_masks=[None],
        warped_references=[ref],
        warped_masks=[np.ones_like(hole)],
        generator=torch.Generator().manual_seed(0),
    )
    out, prior = result.images[0], result.priors[0]
    assert np.array_equal(out[~hole], image[~hole])
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # the shipped denoiser corrects its prior (an untrained one, its output layer at zero, returns it as it is),
    # and a fill guided by an almost exact warp stays close to it
    assert np.abs(out[hole] - prior[hole]).mean() > 1e-3
    assert np.abs(out[hole] - ref[hole]).mean() < 0.1


def test_auto_method_uses_the_default_weights():
    filler = make_filler(RemovalConfig(method="auto"))
    assert [f.name for f in filler.candidates] == ["warp", "diffusion", "telea"]
