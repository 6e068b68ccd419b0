"""Which sampler, step count and start strength should the pipeline use? Measured on validation shards.

Each configuration fills the hole of every sample (the shard's own prior and references, as in training) and
is scored against the truth: masked PSNR and LPIPS (real AlexNet weights) on the crop, beside the geometric
prior the model was given (what the warp fill alone would paste). Configurations:

- `x0@s`: one denoiser call from the prior noised to strength s (SDEdit, one step: the x0 prediction);
- `ddim{n}@s`, `dpm{n}@s`: n steps of DDIM / DPM-Solver++ from strength s (s = 1: from pure noise).

Use shards the model was not trained on (e.g. synthetic ones: `python -m inconddiff.training.samples
--synthetic 2 --seed 500 --synthetic-dir data_cache/synthetic_val --out data_cache/val_samples
--samples-per-shard 100 --shards-per-scene 1`), never the held-out test captures.

    .venv/bin/python benchmarks/sampler_sweep.py --model runs/inconddiff_v1/pipeline --data data_cache/val_samples
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ("x0@0.1", "x0@0.2", "x0@0.4", "ddim4@0.5", "dpm4@0.5", "ddim10@1.0")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="pipeline folder (e.g. a run's pipeline/)")
    p.add_argument("--data", type=Path, required=True, help="folder of validation shards (*.npz)")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sampler_sweep.json")
    return p.parse_args()


def parse_config(text: str) -> tuple[str, int, float]:
    """'ddim4@0.5' -> ('ddim', 4, 0.5); 'x0@0.2' -> ('ddim', 1, 0.2)."""
    name, strength = text.split("@")
    if name == "x0":
        return "ddim", 1, float(strength)
    kind = name.rstrip("0123456789")
    return kind, int(name[len(kind) :]), float(strength)


def main() -> None:
    args = parse_args()
    import torch
    from diffusers import DPMSolverMultistepScheduler

    from inconddiff.evaluation.metrics import LPIPS, psnr
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
    from inconddiff.training.shards import ShardData

    torch.set_num_threads(2)
    data = ShardData(args.data)
    if len(data) == 0:
        raise SystemExit(f"no shards in {args.data}")
    pipe = InConDiffPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    schedulers = {
        "ddim": pipe.scheduler,
        "dpm": DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++"),
    }
    lp = LPIPS()
    idx = np.random.default_rng(args.seed).permutation(len(data))[: args.samples]
    results: dict[str, dict] = {}
    scores: dict[str, list[tuple[float, float]]] = {"prior": []}
    seconds: dict[str, float] = {}
    for i in idx:
        a = {k: data.arrays[k][i] for k in ShardData.KEYS}
        truth, hole = a["truth"], a["hole"]
        prior = a["prior"]
        scores["prior"].append((psnr(prior, truth, hole), lp(prior, truth)))
    for text in args.configs:
        kind, steps, strength = parse_config(text)
        pipe.scheduler = schedulers[kind]
        t0 = time.perf_counter()
        scores[text] = []
        for n, i in enumerate(idx):
            a = {k: data.arrays[k][i] for k in ShardData.KEYS}
            k = int(a["num_refs"])
            out = pipe(
                a["truth"],
                a["hole"],
                reference_images=[a["refs"][j] for j in range(k)],
                reference_masks=[a["ref_invalid"][j] for j in range(k)],
                warped_references=[a["prior"] / 255.0],
                warped_masks=[np.ones_like(a["hole"])],
                num_inference_steps=steps,
                strength=strength,
                generator=torch.Generator().manual_seed(args.seed * 1000 + n),
            ).images[0]
            out8 = np.round(out * 255).astype(np.uint8)
            scores[text].append((psnr(out8, a["truth"], a["hole"]), lp(out8, a["truth"])))
        seconds[text] = (time.perf_counter() - t0) / len(idx)
    print(f"{'config':12s} {'masked PSNR':>12s} {'LPIPS':>8s} {'s/sample':>9s}  (n = {len(idx)} samples)")
    for name, vals in scores.items():
        arr = np.array(vals)
        results[name] = {
            "masked_psnr": float(arr[:, 0].mean()),
            "lpips": float(arr[:, 1].mean()),
            "seconds_per_sample": seconds.get(name, 0.0),
        }
        r = results[name]
        print(f"{name:12s} {r['masked_psnr']:12.2f} {r['lpips']:8.3f} {r['seconds_per_sample']:9.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
