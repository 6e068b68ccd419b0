"""The default weights' recipe in one call: reconstruct the training captures, write training shards,
train (resuming from the latest checkpoint), export the pipeline."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

HELD_OUT = {"statue", "temple_ring", "sacre_coeur"}


def reconstruct_all(captures: list[Path], recon_dir: Path) -> list[tuple[str, Path, Path]]:
    """COLMAP models of `captures` under recon_dir/<name>/sparse/0 (made once); captures COLMAP cannot
    reconstruct are skipped with a warning. Returns (name, capture, sparse) for the usable ones."""
    from colmap_tools.reconstruct import reconstruct
    from inconddiff.capture import CaptureError

    scenes = []
    for cap in captures:
        if cap.name in HELD_OUT:
            raise ValueError(f"{cap} is a held-out test capture: never train on it")
        sparse = recon_dir / cap.name / "sparse" / "0"
        if not sparse.is_dir():
            try:
                reconstruct(cap, output_dir=recon_dir / cap.name)
            except CaptureError as err:
                logger.warning("skipping %s: %s", cap, err)
                continue
        scenes.append((cap.name, cap, sparse))
    return scenes


def reproduce(
    captures: list[str | os.PathLike],
    work_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    size: int = 64,
    samples_per_shard: int = 200,
    shards_per_scene: int = 3,
    max_minutes: float | None = None,
    seed: int = 0,
    synthetic: int = 0,
    val_captures: list[str | os.PathLike] = (),
    val_synthetic: int = 0,
    num_threads: int | None = None,
    init_from: str | os.PathLike | None = None,
    texture_dir: str | None = None,
) -> Path:
    """Run the whole recipe; returns the exported pipeline folder (output_dir/pipeline).

    `synthetic` adds that many photo-textured generated captures (exact geometry, object-free truth, textures
    cut from `texture_dir`) to the real ones, one shard each. `val_captures` and `val_synthetic` captures (seeds after the training ones) go to a
    validation set (one shard of samples_per_shard // 2 each) that the training log scores the model on.
    `init_from` starts training from that pipeline's weights (e.g. the shipped ones) instead of from scratch."""
    from inconddiff.training.samples import prepare_shards, synthetic_scenes
    from inconddiff.training.train import main as train_main

    work = Path(work_dir)
    scenes = reconstruct_all([Path(c) for c in captures], work / "train_recon")
    if not scenes and not synthetic:
        raise RuntimeError("no training capture could be reconstructed")
    shards = work / "train_samples"
    prepare_shards(scenes, shards, samples_per_shard, shards_per_scene, size, seed)
    if synthetic:
        synth = synthetic_scenes(work / "synthetic_train", synthetic, seed, texture_dir)
        prepare_shards(synth, shards, samples_per_shard, 1, size, seed + 1)
    argv = ["--data", str(shards), "--output_dir", str(output_dir), "--seed", str(seed)]
    val = reconstruct_all([Path(c) for c in val_captures], work / "train_recon")
    if val_synthetic:
        val += synthetic_scenes(
            work / "synthetic_train", val_synthetic, seed + max(synthetic, 0) + 100, texture_dir
        )
    if val:
        val_dir = work / "val_samples"
        prepare_shards(val, val_dir, max(1, samples_per_shard // 2), 1, size, seed + 2)
        argv += ["--val_data", str(val_dir)]
    if max_minutes is not None:
        argv += ["--max_minutes", str(max_minutes)]
    if num_threads is not None:
        argv += ["--num_threads", str(num_threads)]
    if init_from is not None:
        argv += ["--init_from", str(init_from)]
    train_main(argv)
    return Path(output_dir) / "pipeline"
