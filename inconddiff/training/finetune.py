"""Adapt the denoiser to one capture, self-supervised, before removing its object.

Holes are cut away from the object in the capture's own views; every view's object is invalid in the
references and left out of the geometry, and the target's object pixels never enter the loss. The model
thus learns this scene's textures, lighting and warp errors from pixels whose truth is known, and nothing
from the object it will remove. Samples are made once (a shard in the output folder), then the ordinary
train script runs from the base weights; the result is an `InConDiffPipeline` in `<out>/pipeline`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, load_capture

logger = logging.getLogger(__name__)


def finetune_samples(
    capture: str | os.PathLike,
    sparse_dir: str | os.PathLike,
    out_dir: Path,
    count: int = 300,
    size: int = 64,
    seed: int = 0,
) -> Path:
    """Write (once) a shard of `count` self-supervised samples of `capture` to out_dir/finetune.npz."""
    from inconddiff.training.samples import SceneData, make_sample, write_shard

    path = out_dir / "finetune.npz"
    if path.exists():
        return path
    cap = load_capture(capture)
    masks = {s: cap.mask(s) for s in cap.stems}
    if not any(m is not None and m.any() for m in masks.values()):
        raise CaptureError(cap.root / "masks", "fine-tuning needs object masks (masks/<stem>.png)")
    scene = SceneData.load(capture, sparse_dir)
    rng = np.random.default_rng([seed, count, size])
    samples, misses = [], 0
    while len(samples) < count and misses < 10 * count:
        sample = make_sample(scene, rng, size, object_masks=masks)
        if sample is None:
            misses += 1
            continue
        samples.append(sample)
    if not samples:
        raise CaptureError(cap.root, "no fine-tuning sample could be made (too few registered views?)")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_shard(samples, path)
    logger.info("wrote %s (%d samples)", path, len(samples))
    return path


def finetune(
    capture: str | os.PathLike,
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    sparse_dir: str | os.PathLike | None = None,
    samples: int = 300,
    size: int = 64,
    minutes: float = 10.0,
    steps: int | None = None,
    learning_rate: float = 5e-5,
    batch_size: int = 8,
    seed: int = 0,
) -> Path:
    """Fine-tune `model` (a pipeline folder; default: the shipped weights) on `capture` and return the
    fine-tuned pipeline folder `<out>/pipeline`. Running it again resumes from the latest checkpoint.

    The capture needs object masks; its COLMAP model is `sparse_dir`, else `capture/sparse/0`, else one is
    reconstructed into `<out>/recon`.
    """
    from inconddiff.removal.fillers import default_weights_dir
    from inconddiff.training.train import main as train_main

    out = Path(out)
    base = Path(model) if model is not None else default_weights_dir()
    if not (base / "model_index.json").is_file():
        raise CaptureError(base, "no pipeline to fine-tune here (model_index.json missing)")
    if sparse_dir is None:
        sparse_dir = Path(capture) / "sparse" / "0"
        if not sparse_dir.is_dir():
            sparse_dir = out / "recon" / "sparse" / "0"
            if not sparse_dir.is_dir():
                from colmap_tools.reconstruct import reconstruct

                reconstruct(capture, output_dir=out / "recon")
    finetune_samples(capture, sparse_dir, out / "samples", samples, size, seed)
    argv = ["--data", str(out / "samples"), "--output_dir", str(out), "--init_from", str(base)]
    argv += ["--learning_rate", str(learning_rate), "--train_batch_size", str(batch_size)]
    argv += ["--ema_decay", "0.99", "--checkpoint_minutes", "5", "--sample_every", "200"]
    argv += ["--max_minutes", str(minutes), "--seed", str(seed)]
    if steps is not None:
        argv += ["--max_train_steps", str(steps)]
    train_main(argv)
    return out / "pipeline"
