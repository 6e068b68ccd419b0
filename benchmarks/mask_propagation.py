"""Mask propagation from 2 annotated views, scored against the given masks of every other view.

Captures: ../shared/data/statue (masks for all 29 views; model from data_cache/heldout_recon/statue or
data_cache/bench_recon/statue, reconstructed with colmap_tools.reconstruct if neither exists) and synthetic
captures (gt masks), each with its COLMAP model (data_cache/bench_recon/<name>, made by
benchmarks/reconstruction_accuracy.py or here) and with the generator's perfect sparse model (gt/sparse/0).
For several pairs of annotated views (3 spread over the capture, 1 of neighbouring views) and margins 0 and 3 px:
IoU of the propagated mask with the given one over the views not annotated (mean and worst), and recall
(fraction of the true object covered). Target on statue: mean IoU >= 0.75.

Run: .venv/bin/python benchmarks/mask_propagation.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SYNTH = {
    "synth_orbit_s0": dict(views=30, seed=0, path="orbit"),
    "synth_forward_s0": dict(views=30, seed=0, path="forward"),
}


def model_for(name: str, capture: Path) -> Path:
    from colmap_tools.reconstruct import reconstruct

    for folder in (ROOT / "data_cache" / "bench_recon" / name, ROOT / "data_cache" / "heldout_recon" / name):
        if (folder / "sparse" / "0").exists():
            return folder / "sparse" / "0"
    out = ROOT / "data_cache" / "bench_recon" / name
    reconstruct(capture, output_dir=out)
    return out / "sparse" / "0"


def evaluate(capture: Path, sparse: Path, pairs: list[tuple[str, str]], margins=(0, 3)) -> list[dict]:
    from colmap_tools.propagate_masks import propagate
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.capture import load_capture

    cap = load_capture(capture)
    geometry = load_scene_geometry(sparse)
    truth = {s: cap.mask(s) for s in cap.masks}
    rows = []
    for a, b in pairs:
        for margin in margins:
            t0 = time.time()
            try:
                result = propagate(geometry, {a: truth[a], b: truth[b]}, margin=margin)
            except ValueError as err:
                rows.append({"pair": [a, b], "margin": margin, "error": str(err)})
                continue
            ious, recalls = [], []
            for s, m in truth.items():
                if s in (a, b):
                    continue
                p = result.get(s)
                if p is None:  # unregistered view: no mask, counts as a miss
                    p = np.zeros_like(m)
                ious.append((p & m).sum() / max((p | m).sum(), 1))
                recalls.append((p & m).sum() / max(m.sum(), 1))
            rows.append(
                {
                    "pair": [a, b],
                    "margin": margin,
                    "views": len(ious),
                    "iou_mean": float(np.mean(ious)),
                    "iou_worst": float(np.min(ious)),
                    "recall_mean": float(np.mean(recalls)),
                    "seconds": time.time() - t0,
                }
            )
    return rows


def spread_pairs(stems: list[str], n: int = 3) -> list[tuple[str, str]]:
    """n pairs of views half the capture apart, starting at evenly spaced views, and one pair of
    neighbouring views (a narrow baseline: the hardest case for carving)."""
    k = len(stems)
    pairs = [(stems[(i * k) // (2 * n)], stems[((i * k) // (2 * n) + k // 2) % k]) for i in range(n)]
    return pairs + [(stems[k // 3], stems[k // 3 + 1])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from inconddiff.capture import load_capture
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    jobs = []
    if (SHARED / "statue").is_dir():
        jobs.append(("statue", SHARED / "statue", "colmap"))
    for name, cfg in SYNTH.items():
        capture = ROOT / "data_cache" / "bench_synth" / name
        if args.only and name not in args.only:
            continue
        if not (capture / "gt" / "cameras.npz").exists():
            generate_capture(capture, SynthConfig(**cfg))
        jobs += [(name, capture, "colmap"), (name, capture, "gt_sparse")]
    rows = []
    for name, capture, model in jobs:
        if args.only and name not in args.only:
            continue
        sparse = capture / "gt" / "sparse" / "0" if model == "gt_sparse" else model_for(name, capture)
        stems = sorted(load_capture(capture).masks)
        for r in evaluate(capture, sparse, spread_pairs(stems)):
            rows.append({"capture": name, "model": model, **r})
            print(name, model, r, flush=True)

    print(
        f"\n{'capture':<18} {'model':<9} {'annotated':<26} {'margin':>6} {'IoU mean':>8} {'worst':>6} {'recall':>6}"
    )
    for r in rows:
        pair = "+".join(r["pair"])
        if "error" in r:
            print(f"{r['capture']:<18} {r['model']:<9} {pair:<26} {r['margin']:>6} failed: {r['error']}")
            continue
        print(
            f"{r['capture']:<18} {r['model']:<9} {pair:<26} {r['margin']:>6} {r['iou_mean']:8.3f} "
            f"{r['iou_worst']:6.3f} {r['recall_mean']:6.3f}"
        )
    summary = {}
    for key in sorted({(r["capture"], r["model"], r["margin"]) for r in rows}):
        sel = [r for r in rows if (r["capture"], r["model"], r["margin"]) == key and "error" not in r]
        if sel:
            summary["/".join(map(str, key))] = {
                "iou_mean": float(np.mean([r["iou_mean"] for r in sel])),
                "iou_worst": float(np.min([r["iou_worst"] for r in sel])),
                "recall_mean": float(np.mean([r["recall_mean"] for r in sel])),
            }
    print("\naverage over pairs (worst = worst view over all pairs)")
    for k, v in summary.items():
        print(
            f"{k:<32} IoU mean {v['iou_mean']:.3f}  worst {v['iou_worst']:.3f}  recall {v['recall_mean']:.3f}"
        )
    out = ROOT / "benchmarks" / "results" / "mask_propagation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
