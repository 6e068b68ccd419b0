"""Mask propagation from 2 annotated views, scored against the given masks of every other view.

Captures: ../shared/data/statue (masks for all 29 views; its COLMAP model in data_cache/bench_recon/statue,
reconstructed if missing) and the photo-textured benchmark scenes of `benchmarks/removal_quality.py`
(`inconddiff.evaluation.photo_scenes.BENCHMARK_SCENES`, ground-truth masks; the capture and its run-0 COLMAP model
from data_cache/removal_quality, made here if missing). For several pairs of annotated views (3 spread over the
capture, 1 of neighbouring views), margins 0 px and the default (0.4% of the longer side), with and without the refinement on each view's pixels
(GrabCut): IoU of the propagated mask with the true one over the views not annotated (mean and worst), and recall
(fraction of the true object covered).

Run: .venv/bin/python benchmarks/mask_propagation.py [--only NAME ...] (--only keeps the other captures' rows)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def model_for(name: str, capture: Path) -> Path:
    from colmap_tools.reconstruct import reconstruct

    for folder in (ROOT / "data_cache" / "bench_recon" / name, ROOT / "data_cache" / "heldout_recon" / name):
        if (folder / "sparse" / "0").exists():
            return folder / "sparse" / "0"
    out = ROOT / "data_cache" / "bench_recon" / name
    reconstruct(capture, output_dir=out)
    return out / "sparse" / "0"


def evaluate(
    capture: Path, sparse: Path, pairs: list[tuple[str, str]], margins=(0, None), refine=(False, True)
) -> list[dict]:
    from colmap_tools.mask_refinement import default_margin, dilate
    from colmap_tools.propagate_masks import propagate
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.capture import load_capture

    cap = load_capture(capture)
    geometry = load_scene_geometry(sparse)
    truth = {s: cap.mask(s) for s in cap.masks}
    rows = []
    for a, b in pairs:
        for with_image in refine:
            t0 = time.time()
            images = cap.image if with_image else None
            try:
                # the margin is the last step (a dilation): one propagation serves every margin
                bare = propagate(geometry, {a: truth[a], b: truth[b]}, margin=0, images=images)
            except ValueError as err:
                for margin in margins:
                    rows.append(
                        {
                            "pair": [a, b],
                            "margin": "default" if margin is None else margin,
                            "refine": with_image,
                            "error": str(err),
                        }
                    )
                continue
            seconds = time.time() - t0
            for margin in margins:
                ious, recalls = [], []
                for s, m in truth.items():
                    if s in (a, b):
                        continue
                    p = bare.get(s)
                    if p is None:  # unregistered view: no mask, counts as a miss
                        p = np.zeros_like(m)
                    p = dilate(p, default_margin(p.shape) if margin is None else margin)
                    ious.append((p & m).sum() / max((p | m).sum(), 1))
                    recalls.append((p & m).sum() / max(m.sum(), 1))
                rows.append(
                    {
                        "pair": [a, b],
                        "margin": "default" if margin is None else margin,
                        "refine": with_image,
                        "views": len(ious),
                        "iou_mean": float(np.mean(ious)),
                        "iou_worst": float(np.min(ious)),
                        "recall_mean": float(np.mean(recalls)),
                        "seconds": seconds,
                    }
                )
    return rows


def spread_pairs(stems: list[str], n: int = 3) -> list[tuple[str, str]]:
    """n pairs of views half the capture apart, starting at evenly spaced views, and one pair of
    neighbouring views (a narrow baseline: the hardest case for carving)."""
    k = len(stems)
    pairs = [(stems[(i * k) // (2 * n)], stems[((i * k) // (2 * n) + k // 2) % k]) for i in range(n)]
    return pairs + [(stems[k // 3], stems[k // 3 + 1])]


def _pooled(entries: list[dict]) -> dict:
    """Mean IoU and recall of `entries`, and the worst IoU of any of them."""
    return {
        "iou_mean": float(np.mean([e["iou_mean"] for e in entries])),
        "iou_worst": float(np.min([e["iou_worst"] for e in entries])),
        "recall_mean": float(np.mean([e["recall_mean"] for e in entries])),
    }


def summarise(rows: list[dict]) -> dict:
    """Mean IoU per capture/margin/refine over the pairs (worst: the worst view of any pair), and the same over
    the photo scenes together."""
    summary = {}
    for key in sorted({(r["capture"], r["margin"], r["refine"]) for r in rows}, key=str):
        sel = [r for r in rows if (r["capture"], r["margin"], r["refine"]) == key and "error" not in r]
        if sel:
            summary["/".join(map(str, key))] = _pooled(sel)
    for margin in (0, "default"):
        for refine in (False, True):
            suffix = f"/{margin}/{refine}"
            sel = [v for k, v in summary.items() if k.endswith(suffix) and not k.startswith("statue")]
            if sel:
                summary[f"photo_scenes{suffix}"] = _pooled(sel)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--only", nargs="*", default=None, help="recompute these captures; the JSON keeps the others' rows"
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from dataclasses import replace

    from inconddiff.capture import load_capture
    from inconddiff.evaluation.photo_scenes import BENCHMARK_SCENES, generate_photo_scene

    jobs = []
    if (SHARED / "statue").is_dir():
        jobs.append(("statue", SHARED / "statue", None))
    textures = SHARED / "train"
    for name, cfg in BENCHMARK_SCENES.items():
        if args.only and name not in args.only:
            continue
        capture = ROOT / "data_cache" / "removal_quality" / name / "capture"
        if not capture.is_dir():
            generate_photo_scene(
                capture, replace(cfg, texture_dir=str(textures) if textures.is_dir() else None)
            )
        jobs.append((name, capture, ROOT / "data_cache" / "removal_quality" / name / "run0"))
    rows = []
    for name, capture, run in jobs:
        if args.only and name not in args.only:
            continue
        if run is None:
            sparse = model_for(name, capture)
        else:
            sys.path.insert(0, str(Path(__file__).parent))
            from removal_quality import run_folder  # the same scenes and models as the removal benchmark

            sparse = run_folder(capture, run, seed=0) / "sparse" / "0"
        stems = sorted(load_capture(capture).masks)
        for r in evaluate(capture, sparse, spread_pairs(stems)):
            rows.append({"capture": name, **r})
            print(name, r, flush=True)

    out = ROOT / "benchmarks" / "results" / "mask_propagation.json"
    if args.only and out.is_file():
        kept = [r for r in json.loads(out.read_text())["rows"] if r["capture"] not in args.only]
        rows = kept + rows
    summary = summarise(rows)
    print("\naverage over pairs (worst = worst view over all pairs); key = capture/margin/refined")
    for k, v in summary.items():
        print(
            f"{k:<32} IoU mean {v['iou_mean']:.3f}  worst {v['iou_worst']:.3f}  recall {v['recall_mean']:.3f}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
