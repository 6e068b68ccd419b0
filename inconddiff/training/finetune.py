"""Adapt the denoiser to one capture, self-supervised, before removing its object.

Training samples are cut from the capture's own views exactly as `samples.make_sample` cuts them from the
training captures (mostly phantom objects standing in every view, the copy fill the driver would make as the
prior), away from the real object: every view's object is invalid in the sources and left out of the geometry,
and the target's object pixels never enter the loss. The model thus learns this scene's textures, lighting and
copy errors from pixels whose truth is known, and nothing from the object it will remove. Samples are made once
(a shard in the output folder), then the ordinary train script runs from the base weights; the result is an
`InConDiffPipeline` in `<out>/pipeline`, and a second call with the same folder finds it there.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, load_capture

logger = logging.getLogger(__name__)

SAMPLE_SIDE = 640
"""Views are shrunk to this longer side before samples are cut from them (samples are a few dozen pixels)."""
DONE = "adapted.txt"
"""Written beside the adapted pipeline when the adaptation has finished (an interrupted one resumes training)."""
SAMPLE_SHARE = 0.4
"""Share of an adaptation's time budget that making samples may take; training gets the rest."""


def adaptation_samples(
    scene,
    masks: dict[str, np.ndarray],
    path: Path,
    count: int,
    size: int,
    seed: int,
    seconds: float | None = None,
) -> Path:
    """Write (once) a shard of up to `count` self-supervised samples of `scene` to `path`, stopping early after
    `seconds`."""
    from rich.progress import Progress

    from inconddiff.training.samples import make_sample, write_shard

    if path.exists():
        return path
    rng = np.random.default_rng([seed, count, size])
    samples, misses, start = [], 0, time.monotonic()
    with Progress(disable=None, transient=True) as progress:
        task = progress.add_task("adaptation samples", total=count)
        while len(samples) < count and misses < 10 * count:
            if seconds is not None and samples and time.monotonic() - start > seconds:
                break
            sample = make_sample(scene, rng, size, object_masks=masks)
            if sample is None:
                misses += 1
                continue
            samples.append(sample)
            progress.advance(task)
    if not samples:
        raise CaptureError(path.parent, "no adaptation sample could be made (too few registered views?)")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_shard(samples, path)
    logger.info("wrote %s (%d samples in %.0f s)", path, len(samples), time.monotonic() - start)
    return path


def adapt(
    scene,
    masks: dict[str, np.ndarray],
    out: str | os.PathLike,
    base: str | os.PathLike,
    minutes: float,
    samples: int = 300,
    size: int = 64,
    steps: int | None = None,
    learning_rate: float = 5e-5,
    batch_size: int = 8,
    seed: int = 0,
) -> Path:
    """Fine-tune the pipeline `base` on `scene` (a `samples.SceneData`) whose object is `masks`, within about
    `minutes` (samples included); returns `<out>/pipeline`. Running it again finds the pipeline there, or
    resumes from the latest checkpoint."""
    from inconddiff.training.train import main as train_main

    out = Path(out)
    if (out / DONE).is_file():
        logger.info("adapted weights already in %s", out / "pipeline")
        return out / "pipeline"
    if not (Path(base) / "model_index.json").is_file():
        raise CaptureError(base, "no pipeline to adapt here (model_index.json missing)")
    if not any(m is not None and m.any() for m in masks.values()):
        raise CaptureError(out, "adapting needs the object's masks")
    start = time.monotonic()
    scene = scene.downscaled(SAMPLE_SIDE)
    adaptation_samples(
        scene,
        masks_for(scene, masks),
        out / "samples" / "adapt.npz",
        samples,
        size,
        seed,
        seconds=SAMPLE_SHARE * minutes * 60,
    )
    left = max(0.1, minutes - (time.monotonic() - start) / 60)
    argv = ["--data", str(out / "samples"), "--output_dir", str(out), "--init_from", str(base)]
    argv += ["--learning_rate", str(learning_rate), "--train_batch_size", str(batch_size)]
    argv += ["--ema_decay", "0.99", "--checkpoint_minutes", "2", "--sample_every", "0"]
    argv += ["--max_minutes", str(left), "--seed", str(seed)]
    if steps is not None:
        argv += ["--max_train_steps", str(steps)]
    train_main(argv)
    (out / DONE).write_text(f"adapted from {base}\n")
    for scratch in ("checkpoints", "samples"):  # the pipeline is what a resumed run needs
        shutil.rmtree(out / scratch, ignore_errors=True)
    return out / "pipeline"


def masks_for(scene, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`masks` brought to the sizes of `scene`'s (possibly shrunk) views."""
    import cv2

    out = {}
    for stem, m in masks.items():
        if m is None or stem not in scene.images:
            continue
        h, w = scene.images[stem].shape[:2]
        out[stem] = (
            m
            if m.shape == (h, w)
            else cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA) > 0
        )
    return out


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
    """`adapt` the pipeline `model` (default: the shipped weights) to `capture` (with object masks in
    masks/) and return the adapted pipeline folder `<out>/pipeline`. Its COLMAP model is `sparse_dir`, else
    `capture/sparse/0`, else one is reconstructed into `<out>/recon`."""
    from inconddiff.removal.fillers import default_weights_dir
    from inconddiff.training.samples import SceneData

    out = Path(out)
    base = Path(model) if model is not None else default_weights_dir()
    if not (base / "model_index.json").is_file():
        raise CaptureError(base, "no pipeline to adapt here (model_index.json missing)")
    if sparse_dir is None:
        sparse_dir = Path(capture) / "sparse" / "0"
        if not sparse_dir.is_dir():
            sparse_dir = out / "recon" / "sparse" / "0"
            if not sparse_dir.is_dir():
                from colmap_tools.reconstruct import reconstruct

                reconstruct(capture, output_dir=out / "recon")
    cap = load_capture(capture)
    masks = {s: m for s in cap.stems if (m := cap.mask(s)) is not None}
    if not any(m.any() for m in masks.values()):
        raise CaptureError(cap.root / "masks", "fine-tuning needs object masks (masks/<stem>.png)")
    scene = SceneData.load(capture, sparse_dir)
    return adapt(scene, masks, out, base, minutes, samples, size, steps, learning_rate, batch_size, seed)
