"""The diffusion model inside `remove`: adapted to the capture first (resumable), 'diffusion' and 'auto' keep
every pixel outside the holes and leave the input untouched."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tree_hash
from tiny_model import TINY

from inconddiff.capture import load_capture, read_image
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.driver import remove_object


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory) -> Path:
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    torch.manual_seed(0)
    unet = InConDiffDenoiser(**TINY, sample_size=32)
    for p in unet.parameters():  # a model that corrects its prior, as a trained one does
        torch.nn.init.normal_(p, std=0.05)
    path = tmp_path_factory.mktemp("pipe") / "tiny"
    InConDiffPipeline(unet, InConDiffPipeline.default_scheduler()).save_pretrained(path)
    return path


def test_adaptation_lowers_the_loss_on_the_captures_own_samples(capture, tiny_pipeline, tmp_path):
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
    from inconddiff.training.finetune import adapt, adaptation_samples, masks_for
    from inconddiff.training.samples import SceneData
    from inconddiff.training.shards import ShardData
    from inconddiff.training.train import loss_fn

    cap = load_capture(capture)
    masks = {s: cap.mask(s) for s in cap.stems}
    scene = SceneData.shrunk("tiny", load_scene_geometry(capture / "sparse" / "0"), cap.image, 640)
    shard = adaptation_samples(scene, masks_for(scene, masks), tmp_path / "held" / "a.npz", 8, 32, seed=7)
    batch = ShardData(shard.parent).batch(np.arange(8))
    args = argparse.Namespace(
        max_timestep_fraction=0.3, prior_start_fraction=1.0, outside_weight=0.05, copied_weight=0.3
    )
    scheduler = InConDiffPipeline.default_scheduler()

    def loss(path: Path) -> float:
        model = InConDiffDenoiser.from_pretrained(path, subfolder="unet").eval()
        with torch.no_grad():
            return float(loss_fn(model, scheduler, batch, torch.Generator().manual_seed(0), args))

    out = adapt(
        scene,
        masks,
        tmp_path / "adapted",
        tiny_pipeline,
        minutes=5,
        samples=24,
        size=32,
        steps=40,
        learning_rate=1e-3,
        batch_size=4,
    )
    assert loss(out) < loss(tiny_pipeline)
    assert (tmp_path / "adapted" / "adapted.txt").is_file() and not (
        tmp_path / "adapted" / "checkpoints"
    ).exists()


def test_an_interrupted_removal_resumes_with_the_adapted_weights_on_disk(
    capture, tiny_pipeline, tmp_path, monkeypatch
):
    import inconddiff.removal.diffusion_filler as diffusion_filler
    import inconddiff.training.finetune as finetune

    config = RemovalConfig(method="diffusion", model=str(tiny_pipeline), adapt_minutes=0.05)
    calls = {"n": 0}
    original = diffusion_filler.DiffusionFiller.__call__

    def stop_on_third(self, request):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("stopped")
        return original(self, request)

    monkeypatch.setattr(diffusion_filler.DiffusionFiller, "__call__", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        remove_object(capture, tmp_path / "out", config=config)
    adapted = tmp_path / "out.partial" / "adapted"
    assert (adapted / "adapted.txt").is_file() and (adapted / "pipeline" / "model_index.json").is_file()

    def no_training(argv):
        raise AssertionError("adapted again")

    monkeypatch.setattr("inconddiff.training.train.main", no_training)
    monkeypatch.setattr(diffusion_filler.DiffusionFiller, "__call__", original)
    out = remove_object(capture, tmp_path / "out", config=config)
    assert (out / "adapted" / "pipeline" / "model_index.json").is_file()
    assert finetune.DONE == "adapted.txt"


@pytest.mark.parametrize("method", ["diffusion", "auto"])
def test_the_model_keeps_every_unmasked_pixel_and_the_input(capture, tiny_pipeline, tmp_path, method):
    before = tree_hash(capture)
    config = RemovalConfig(method=method, model=str(tiny_pipeline), adapt_minutes=0)
    out = remove_object(capture, tmp_path / method, config=config)
    assert tree_hash(capture) == before
    cap = load_capture(capture)
    for stem in cap.stems:
        mask, result = cap.mask(stem), read_image(out / "images" / f"{stem}.png")
        assert np.array_equal(result[~mask], cap.image(stem)[~mask])
        assert not np.array_equal(result[mask], cap.image(stem)[mask])
