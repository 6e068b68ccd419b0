"""Fine-tuning on one capture: holes avoid the object, the object never enters the loss, a short run works."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from tiny_model import TINY

from inconddiff.capture import CaptureError, load_capture
from inconddiff.training.samples import SceneData, make_sample, write_shard
from inconddiff.training.shards import ShardData
from inconddiff.training.train import loss_fn


@pytest.fixture(scope="module")
def scene_and_masks(tiny_capture):
    cap = load_capture(tiny_capture)
    scene = SceneData.load(tiny_capture, tiny_capture / "gt" / "sparse" / "0")
    return scene, {s: cap.mask(s) for s in cap.stems}


def test_samples_keep_holes_off_the_object_and_mark_it_ignored(scene_and_masks):
    scene, masks = scene_and_masks
    rng = np.random.default_rng(0)
    samples = [s for s in (make_sample(scene, rng, 32, object_masks=masks) for _ in range(12)) if s]
    assert len(samples) >= 4
    assert any(s["ignore"].any() for s in samples)  # the object is in some crops
    for s in samples:
        # resized masks grow by a pixel at most; the hole was cut at least 4 pixels away from the object
        assert not (s["hole"] & s["ignore"]).any()


def test_ignored_pixels_do_not_change_the_loss(scene_and_masks, tmp_path):
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    scene, masks = scene_and_masks
    rng = np.random.default_rng(1)
    samples = [s for s in (make_sample(scene, rng, 32, object_masks=masks) for _ in range(12)) if s]
    samples = [s for s in samples if s["ignore"].any()][:3]
    assert samples
    write_shard(samples, tmp_path / "a.npz")
    batch = ShardData(tmp_path).batch(np.arange(len(samples)))
    torch.manual_seed(0)
    model = InConDiffDenoiser(**TINY)
    sched = InConDiffPipeline.default_scheduler()
    args = argparse.Namespace(
        max_timestep_fraction=0.6, prior_start_fraction=0.0, outside_weight=0.05, copied_weight=0.3
    )
    with torch.no_grad():
        a = loss_fn(model, sched, batch, torch.Generator().manual_seed(3), args)
        changed = dict(batch)
        ign = batch["ignore"]
        changed["truth"] = batch["truth"] * (1 - ign) + (-batch["truth"]) * ign
        b = loss_fn(model, sched, changed, torch.Generator().manual_seed(3), args)
    # the model input x_t depends on the truth too, but outside the hole the model returns the
    # condition's prior, so the loss only sees the truth through the weights
    assert torch.allclose(a, b, atol=1e-6)


def test_old_shards_without_ignore_still_load(scene_and_masks, tmp_path):
    scene, _ = scene_and_masks
    rng = np.random.default_rng(2)
    samples = [s for s in (make_sample(scene, rng, 32) for _ in range(6)) if s]
    assert "ignore" not in samples[0]
    write_shard(samples, tmp_path / "a.npz")
    batch = ShardData(tmp_path).batch(np.arange(len(samples)), np.random.default_rng(0))
    assert batch["ignore"].shape == (len(samples), 1, 32, 32) and not batch["ignore"].any()


def test_finetune_runs_from_a_pipeline_and_exports_one(tiny_capture, tmp_path):
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
    from inconddiff.training.finetune import finetune

    torch.manual_seed(0)
    base = InConDiffPipeline(InConDiffDenoiser(**TINY), InConDiffPipeline.default_scheduler())
    base.save_pretrained(tmp_path / "base")
    out = finetune(
        tiny_capture,
        tmp_path / "ft",
        model=tmp_path / "base",
        sparse_dir=tiny_capture / "gt" / "sparse" / "0",
        samples=8,
        size=32,
        steps=3,
        batch_size=2,
    )
    pipe = InConDiffPipeline.from_pretrained(out)
    assert list(pipe.unet.config.block_out_channels) == [8, 16]
    # done: the pipeline is kept, the scratch (checkpoints, samples) is not, and a second call trains nothing
    assert not (tmp_path / "ft" / "checkpoints").exists() and not (tmp_path / "ft" / "samples").exists()
    stamp = (out / "model_index.json").stat().st_mtime_ns
    again = finetune(
        tiny_capture,
        tmp_path / "ft",
        model=tmp_path / "base",
        sparse_dir=tiny_capture / "gt" / "sparse" / "0",
    )
    assert again == out
    assert (out / "model_index.json").stat().st_mtime_ns == stamp
    with pytest.raises(CaptureError, match="model_index.json"):
        finetune(tiny_capture, tmp_path / "ft2", model=tmp_path / "nothing")


def test_resume_ignores_a_checkpoint_interrupted_while_saving(tmp_path):
    from inconddiff.training.train import list_checkpoints

    for name in ("checkpoint-10", "checkpoint-200", "checkpoint-30", "checkpoint-300.tmp", "samples"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-400").write_text("not a folder")
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "checkpoint-10",
        "checkpoint-30",
        "checkpoint-200",
    ]
    assert list_checkpoints(tmp_path / "missing") == []
