"""Does the refit evaluation separate consistent from inconsistent edits?

On a synthetic orbit capture the object's holes are filled three ways, each scored by `evaluate_capture`:
  (a) sequential: `inconddiff.removal` with the copy fill (`--method warp`) and its default references, views
      filled earlier serving as references for later ones (multi-view consistent by construction, up to warp
      errors);
  (b) independent: the same driver with OpenCV's Telea and no references, each view filled on its own;
  (c) inconsistent: each hole filled with the ground-truth pixels of the view half an orbit away (plausible room
      texture, unrelated in every view);
  (d) truth, the calibration: each hole filled with its own ground-truth pixels (perfectly consistent, with the
      scene's real texture). Its score is what a flawless fill would get; how far (b) comes near it or passes it
      shows how much the PSNR score rewards a smooth fill for being easy to reproduce.
The removal runs on the capture's ground-truth sparse model (gt/sparse/0 copied to sparse/0), so differences come
from the filling, not from COLMAP. The score is hole PSNR of the renders against the edits on the views whose holes
were left out of the fit (split hole_heldout: the edit predicted from the other views' edits and the untouched
background); the fitted-hole figures (split train) are printed beside it. The evaluation must rank (a) > (b) > (c);
the target is (a) - (b) >= 2 dB. The same ranking by the consistency score (which also penalises blur) is
reported beside it.

The fits hold the removed object's volume empty (the evaluation's default, `nerf_integration.carve`): without it a
field explains smooth per-view fills (b) with a blurred ghost of the object that the masks hide from every view, and
predicts the held-out holes' smooth fills from it. `--no-carve` fits without.

The fits run a fixed number of steps (by default the evaluation's own, `nerf_integration.config.fit_steps`),
not a wall-clock budget: under a budget the field's fit, and with it every score, depends on the machine's load
(an under-fitted field reproduces smooth fills best), and its learning rate never decays.

`--arms` runs a subset (the ranking needs the first three arms, the margin the first two).

`--capture` runs on a real capture instead: a folder with its original images/, the object's masks/ and a COLMAP
model in sparse/0 (such as `inconddiff run`'s masks and model beside the original photos). With no truth there,
(c) fills each hole with the sequential edit of the view half the capture away, and (d) is not run. The
consistency score (`nerf_integration.evaluate.consistency_score`: hole PSNR less its LPIPS and a penalty for
blur) is reported beside the hole PSNR. A capture without object masks takes `--random-holes`: every view gets
an object-shaped hole (4-10% of the view, seeded) in a copy under WORKDIR/capture, and a COLMAP model is made
there if the capture has none.

    python benchmarks/nerf_consistency.py --views 20 --size 160x120 --seed 0
    python benchmarks/nerf_consistency.py --capture STATUE --arms sequential independent inconsistent \
        --workdir data_cache/nerf_consistency_statue --out benchmarks/results/nerf_consistency_statue.json
    python benchmarks/nerf_consistency.py --capture ../shared/data/temple_ring --random-holes \
        --arms sequential independent inconsistent --workdir data_cache/nerf_consistency_temple_ring
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from inconddiff.capture import load_capture, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("sequential", "independent", "inconsistent", "truth")
RANKED = VARIANTS[:3]
ABBREV = {"render_vs_edit": "r/edit", "edit_vs_gt": "edit/gt", "render_vs_gt": "r/gt"}


def with_sparse_model(capture_dir: Path) -> Path:
    """Give the capture its ground-truth sparse model as sparse/0 (the removal driver reads it from there)."""
    target = capture_dir / "sparse" / "0"
    if not target.is_dir():
        shutil.copytree(capture_dir / "gt" / "sparse" / "0", target)
    return capture_dir


def with_random_holes(capture: Path, out: Path, seed: int) -> Path:
    """A copy of a real capture (images linked, its COLMAP model linked or made) whose every view has a random
    object-shaped hole as its mask."""
    from inconddiff.training.holes import random_hole

    if not (out / "sparse" / "0").is_dir():
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / "images").symlink_to((capture / "images").resolve())
        if (capture / "sparse" / "0").is_dir():
            (out / "sparse").symlink_to((capture / "sparse").resolve())
        else:
            from colmap_tools.reconstruct import reconstruct

            reconstruct(out, output_dir=out)
    cap = load_capture(out)
    rng = np.random.default_rng(seed)
    for stem in cap.stems:
        hole = random_hole(cap.image(stem).shape[:2], rng, area=(0.04, 0.10))
        write_image(out / "masks" / f"{stem}.png", hole.astype(np.uint8) * 255)
    return out


def make_edit(capture_dir: Path, out: Path, variant: str, seed: int = 0) -> Path:
    """A copy of the capture whose holes are filled the `variant` way (masks and gt kept alongside)."""
    from inconddiff.prior.crops import resize_image
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.driver import remove_object

    if out.exists():
        shutil.rmtree(out)
    if variant == "sequential":
        remove_object(capture_dir, out, config=RemovalConfig(method="warp", seed=seed))
    elif variant == "independent":
        remove_object(capture_dir, out, config=RemovalConfig(refs=0, method="telea", seed=seed))
    elif variant in ("inconsistent", "truth"):
        cap = load_capture(capture_dir)
        stems = cap.stems
        source = capture_dir / "gt" / "images"
        if not source.is_dir():  # a real capture: another view's sequential edit stands in for its truth
            source = out.parent / "sequential" / "images"
            if variant == "truth" or not source.is_dir():
                raise SystemExit(
                    f"{capture_dir}: no truth; the inconsistent arm needs the sequential arm first"
                )
        for i, stem in enumerate(stems):
            edit, hole = cap.image(stem).copy(), cap.mask(stem)
            if hole is not None and hole.any():
                other = stems[(i + len(stems) // 2) % len(stems)] if variant == "inconsistent" else stem
                fill = read_image(next(source.glob(f"{other}.*")))
                if fill.shape != edit.shape:  # a photo collection mixes sizes: the other view, stretched
                    fill = resize_image(fill, edit.shape[:2])
                edit[hole] = fill[hole]
            write_image(out / "images" / f"{stem}.png", edit)
    else:
        raise ValueError(variant)
    if (out / "masks").exists():
        shutil.rmtree(out / "masks")
    shutil.copytree(capture_dir / "masks", out / "masks")
    if (capture_dir / "gt").is_dir() and not (out / "gt").exists():
        (out / "gt").symlink_to((capture_dir / "gt").resolve())
    if not (out / "sparse").exists():
        (out / "sparse").symlink_to((capture_dir / "sparse").resolve())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--size", default="160x120")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="fit steps (default: the evaluation's, by the number of views)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--time-budget", type=float, default=None, help="also stop each fit after this many seconds"
    )
    ap.add_argument("--holdout", type=int, default=2)
    ap.add_argument(
        "--no-carve",
        action="store_true",
        help="let the fits put density where the removed object stood (the evaluation's default holds it empty)",
    )
    ap.add_argument(
        "--no-appearance",
        action="store_true",
        help="fit every view in the same colours (the evaluation's default gives each its own colour transform)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--note", default="2-core CPU", help="what else ran on the machine (recorded in the JSON)"
    )
    ap.add_argument(
        "--reuse",
        nargs="*",
        default=[],
        choices=VARIANTS,
        help="arms read back from WORKDIR/<arm>_consistency/consistency.json of an earlier run instead of "
        "refitted (for an arm the changed code does not touch: independent and inconsistent edits do not "
        "depend on the reference choice)",
    )
    ap.add_argument(
        "--keep-edits",
        action="store_true",
        help="refit the edits an earlier run left in WORKDIR/<arm> instead of making them again (when only the "
        "refit changed since)",
    )
    ap.add_argument(
        "--arms",
        nargs="+",
        default=list(VARIANTS),
        choices=VARIANTS,
        help="arms to run (the ranking needs the first three, the margin the first two)",
    )
    ap.add_argument("--capture", type=Path, default=None, help="a real capture: images/, masks/, sparse/0")
    ap.add_argument(
        "--random-holes",
        action="store_true",
        help="give every view of --capture a random object-shaped hole (for captures without object masks)",
    )
    ap.add_argument("--workdir", type=Path, default=ROOT / "data_cache" / "nerf_consistency")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "nerf_consistency.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture
    from nerf_integration.evaluate import evaluate_capture

    w, h = (int(v) for v in args.size.split("x"))
    cap = args.capture or args.workdir / "capture"
    if args.capture is not None and args.random_holes:
        cap = with_random_holes(args.capture, args.workdir / "capture", args.seed)
    if args.capture is None:
        if not (cap / "gt" / "transforms.json").is_file():
            generate_capture(
                cap, SynthConfig(views=args.views, width=w, height=h, seed=args.seed), overwrite=True
            )
        with_sparse_model(cap)
    gt_images = cap / "gt" / "images" if (cap / "gt" / "images").is_dir() else None
    results = {}
    for variant in [v for v in VARIANTS if v in args.arms]:
        earlier = args.workdir / f"{variant}_consistency" / "consistency.json"
        if variant in args.reuse:
            if not earlier.is_file():
                raise SystemExit(f"{earlier}: no earlier result to reuse for {variant}")
            report = json.loads(earlier.read_text())
        else:
            edited = args.workdir / variant
            if not (args.keep_edits and (edited / "images").is_dir()):
                edited = make_edit(cap, edited, variant, seed=args.seed)
            report = evaluate_capture(
                edited,
                args.workdir / f"{variant}_consistency",
                gt_images=gt_images,
                holdout=args.holdout,
                max_steps=args.steps,
                time_budget=args.time_budget,
                overwrite=True,
                seed=args.seed,
                carve=not args.no_carve,
                appearance=not args.no_appearance,
            )
        results[variant] = {
            "consistency_score": report.get("consistency_score"),
            "summary": report["summary"],
            "fit_steps": report["fit_steps"],
            "fit_seconds": round(report["fit_seconds"], 1),
            "carved_cells": report.get("carved_cells"),
        }
        if variant in args.reuse:
            results[variant]["reused_from"] = str(earlier)
    keys = [
        ("render_vs_edit", "in_psnr"),
        ("render_vs_edit", "in_ssim"),
        ("render_vs_edit", "in_lpips"),
        ("render_vs_edit", "out_psnr"),
        ("render_vs_edit", "gap_psnr"),
        ("edit_vs_gt", "in_psnr"),
        ("render_vs_gt", "in_psnr"),
    ]
    for split in ("hole_heldout", "train"):
        print(f"\nsplit {split}\n{'variant':14s} " + " ".join(f"{ABBREV[g] + ' ' + k:>16s}" for g, k in keys))
        for variant, r in results.items():
            s = r["summary"].get(split, {})
            print(
                f"{variant:14s} "
                + " ".join(f"{(s.get(g) or {}).get(k) or float('nan'):16.3f}" for g, k in keys)
            )
    scores = {v: r["summary"]["hole_heldout"]["render_vs_edit"]["in_psnr"] for v, r in results.items()}
    fitted = {v: r["summary"]["train"]["render_vs_edit"]["in_psnr"] for v, r in results.items()}
    all_ranked = set(RANKED) <= set(scores)
    ranked = all_ranked and scores[RANKED[0]] > scores[RANKED[1]] > scores[RANKED[2]]
    margin = (
        scores["sequential"] - scores["independent"] if {"sequential", "independent"} <= set(scores) else None
    )
    line = "hole PSNR render vs edit, holes held out: " + ", ".join(f"{v} {s:.2f}" for v, s in scores.items())
    if all_ranked:
        line += f"; ranking (a)>(b)>(c): {ranked}"
    if margin is not None:
        line += f"; (a)-(b) = {margin:.2f} dB (target >= 2)"
    print(line + "; holes fitted: " + ", ".join(f"{v} {s:.2f}" for v, s in fitted.items()))
    consistency = {v: r.get("consistency_score") for v, r in results.items()}
    scored = all_ranked and all(consistency.get(v) is not None for v in RANKED)
    ranked_score = scored and consistency[RANKED[0]] > consistency[RANKED[1]] > consistency[RANKED[2]]
    print(
        "consistency score (hole PSNR less its LPIPS and blur terms): "
        + ", ".join(f"{v} {s:.2f}" for v, s in consistency.items() if s is not None)
        + (f"; ranking (a)>(b)>(c): {ranked_score}" if scored else "")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "setup": {
                    k: v for k, v in vars(args).items() if not (args.capture and k in ("views", "size"))
                }  # the synthetic capture's shape means nothing for a real one
                | {"workdir": str(args.workdir), "out": str(args.out)},
                "ranked_a_b_c": ranked if all_ranked else None,
                "score": "summary.hole_heldout.render_vs_edit.in_psnr",
                "hole_heldout_in_psnr": scores,
                "consistency_score": consistency,
                "ranked_a_b_c_by_consistency_score": ranked_score if scored else None,
                "fitted_hole_in_psnr": fitted,
                "sequential_minus_independent_db": margin,
                "note": f"{args.note}; torch threads {args.threads}",
                "results": results,
            },
            indent=1,
            default=str,
        )
    )
    print(f"wrote {args.out}; reports in {args.workdir}/*_consistency/consistency.html")


if __name__ == "__main__":
    main()
