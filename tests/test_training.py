"""Training pieces: hole shapes, samples made with the driver's preparation, shards, and a few steps that
lower the loss on a fixed batch."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest
import torch
from tiny_model import TINY

from inconddiff.training.holes import random_hole
from inconddiff.training.samples import MAX_REFS, SceneData, make_sample, without_view, write_shard
from inconddiff.training.shards import ShardData
from inconddiff.training.train import loss_fn


def test_random_holes_have_the_asked_area():
    rng = np.random.default_rng(0)
    areas = [random_hole((60, 80), rng, area=(0.04, 0.1)).mean() for _ in range(30)]
    assert min(areas) >= 0.04 and max(areas) <= 0.1


@pytest.fixture(scope="module")
def scene(tiny_capture):
    return SceneData.load(tiny_capture, tiny_capture / "gt" / "sparse" / "0")


def test_without_view_drops_the_views_observations(scene):
    g = without_view(scene.geometry, "view_000")
    assert all(all(o[0] != "view_000" for o in t) for t in g.tracks)
    assert all(len(t) >= 2 for t in g.tracks)
    assert 0 < len(g.points) < len(scene.geometry.points)


def test_samples_and_shards(scene, tmp_path):
    rng = np.random.default_rng(1)
    samples = [s for s in (make_sample(scene, rng, 32) for _ in range(8)) if s is not None]
    assert len(samples) >= 4
    s = samples[0]
    assert s["truth"].shape == (32, 32, 3) and s["refs"].shape == (MAX_REFS, 32, 32, 3)
    assert s["hole"].any() and s["truth"].dtype == np.uint8
    for s in samples:  # unused reference slots are marked invalid everywhere
        assert s["ref_invalid"][int(s["num_refs"]) :].all()
    write_shard(samples, tmp_path / "a.npz")
    data = ShardData(tmp_path)
    assert len(data) == len(samples)
    batch = data.batch(np.arange(len(samples)), np.random.default_rng(0))
    assert batch["condition"].shape == (len(samples), 8, 32, 32)
    assert batch["truth"].min() >= -1 and batch["truth"].max() <= 1


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(scene, tmp_path):
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    rng = np.random.default_rng(2)
    samples = [s for s in (make_sample(scene, rng, 32) for _ in range(6)) if s is not None]
    write_shard(samples, tmp_path / "a.npz")
    batch = ShardData(tmp_path).batch(np.arange(len(samples)))
    torch.manual_seed(0)
    model = InConDiffDenoiser(**TINY)
    scheduler = InConDiffPipeline.default_scheduler()
    args = argparse.Namespace(
        max_timestep_fraction=0.6, prior_start_fraction=0.5, outside_weight=0.05, copied_weight=0.3
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def fixed_loss():
        return loss_fn(model, scheduler, batch, torch.Generator().manual_seed(7), args)

    with torch.no_grad():
        before = fixed_loss().item()
    for _ in range(25):
        loss = fixed_loss()
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after = fixed_loss().item()
    assert after < 0.8 * before


def test_train_script_runs_checkpoints_and_resumes(scene, tmp_path):
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
    from inconddiff.training.train import main

    rng = np.random.default_rng(3)
    samples = [s for s in (make_sample(scene, rng, 32) for _ in range(6)) if s is not None]
    (tmp_path / "shards").mkdir()
    write_shard(samples, tmp_path / "shards" / "a.npz")
    common = [
        "--data",
        str(tmp_path / "shards"),
        "--output_dir",
        str(tmp_path / "run"),
        "--train_batch_size",
        "2",
    ]
    common += [
        "--block_out_channels",
        "8",
        "16",
        "--attention_levels",
        "1",
        "--log_every",
        "2",
        "--sample_every",
        "4",
    ]
    main([*common, "--max_train_steps", "4"])
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-4").is_dir()
    assert (tmp_path / "run" / "loss.png").is_file() and (tmp_path / "run" / "samples_0000004.png").is_file()
    main([*common, "--max_train_steps", "6"])
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-6").is_dir()
    pipe = InConDiffPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert list(pipe.unet.config.block_out_channels) == [8, 16]
    shutil.rmtree(tmp_path / "run")


def test_without_view_matches_rebuilding_the_model_from_its_tracks():
    from inconddiff.cameras import SceneGeometry
    from inconddiff.training.samples import without_view

    rng = np.random.default_rng(0)
    names = [f"v{i}" for i in range(6)]
    points = rng.normal(size=(300, 3))
    tracks = [
        [
            (n, float(rng.uniform(0, 99)), float(rng.uniform(0, 99)))
            for n in rng.choice(names, 3, replace=False)
        ]
        for _ in range(300)
    ]
    geometry = SceneGeometry({n: None for n in names}, points, tracks)
    reduced = without_view(geometry, "v2")
    rebuilt = SceneGeometry(geometry.cameras, reduced.points, reduced.tracks)  # observations from tracks
    assert "v2" not in reduced.observations
    for n in names:
        if n != "v2":
            assert np.array_equal(reduced.observations[n][0], rebuilt.observations[n][0])
            assert np.allclose(reduced.observations[n][1], rebuilt.observations[n][1])
    kept = [X for X, t in zip(points, tracks, strict=True) if sum(o[0] != "v2" for o in t) >= 2]
    assert np.allclose(reduced.points, np.array(kept))


def test_accelerate_launch_trains_on_two_processes(scene, tmp_path):
    """`accelerate launch --num_processes 2` (here on the CPU, as on several GPUs): both processes train, the
    checkpoint holds each one's random state, and the exported pipeline loads."""
    import os
    import subprocess
    import sys

    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    rng = np.random.default_rng(4)
    samples = [s for s in (make_sample(scene, rng, 32) for _ in range(6)) if s is not None]
    (tmp_path / "shards").mkdir()
    write_shard(samples, tmp_path / "shards" / "a.npz")
    # --multi_gpu is accelerate's launcher for several processes; without a visible GPU they train on the CPU
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += [
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
    ]
    train = ["-m", "inconddiff.training.train", "--data", str(tmp_path / "shards"), "--output_dir"]
    train += [str(tmp_path / "run"), "--train_batch_size", "2", "--block_out_channels", "8", "16"]
    train += [
        "--attention_levels",
        "1",
        "--max_train_steps",
        "3",
        "--num_threads",
        "1",
        "--sample_every",
        "0",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([*launch, *train], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-3"
    assert sorted(p.name for p in checkpoint.glob("random_states_*.pkl")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]
    pipe = InConDiffPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert list(pipe.unet.config.block_out_channels) == [8, 16]
