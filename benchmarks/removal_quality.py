"""Object removal on scenes unlike the ones the method was tuned on: photo-textured clutter, the object in every view.

Scenes: `inconddiff.evaluation.photo_scenes.BENCHMARK_SCENES` (forward arcs and orbits, objects covering 3-15% of
a view, 256 to 1024 px, several background surfaces at different depths), textured with photos cut from
`../shared/data/train` (procedural textures when that folder is absent). Each scene is rendered once with its
object-free truth; then, per run, a fresh COLMAP model is made (seed = run number, so two runs show the spread
that the reconstruction alone causes) and every method removes the object using that model:

- `telea`: OpenCV Telea per view, no references
- `homography`: the classical reference fill per view: the neighbour with the most SIFT inliers among the five
  best ranked, warped by a homography fit near the hole, colour matched, Telea where it has no pixels
- `independent`: the product's default method with no references (each view on its own, K = 0)
- `warp`: the copy fill (every view that saw the hole; what none saw invented as `--invent` says by default, each
  view inventing its own)
- `warp_carry`: the same, what no view saw invented once and carried to the later views (`--carry`)
- `warp_smooth`, `warp_texture`, `warp_detail`: the copy fill inventing what no view saw as a smooth membrane, from
  the surroundings' patches, or as the membrane with the patches' detail (`--invent smooth|texture|detail`)
- `ours`: `inconddiff remove` with its default settings
Oracle rows use the true geometry: `seen` is the share of each view's hole that some other view sees
(true depth and visibility); `copy_oracle` copies each hole pixel from the nearest view that sees it and takes the
mean colour where none does.

Scores, means over the masked views of each scene, then over scenes: masked PSNR, LPIPS on the hole's box,
cross-view disagreement (mean absolute difference, 0-255, between two views' fills of the same surface point,
true depth), PSNR of fills against other views' observations of the same points, seconds. `--refit` also scores
the named methods by the radiance-field refit (`inconddiff evaluate`: its consistency score, and the hole PSNR
of the renders of views whose holes were left out of the fit against their edits). For removals that write
provenance maps, the gap to the copy oracle is split by where it lives (`gap_breakdown`): seen pixels the fill
copied, seen pixels it did not, and pixels no view sees.

    .venv/bin/python benchmarks/removal_quality.py                  # all scenes, two runs
    .venv/bin/python benchmarks/removal_quality.py --scenes arc_small_256 --runs 1 --methods telea ours
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TEXTURES = ROOT.parent / "shared" / "data" / "train"

METHODS = {
    "telea": dict(method="telea", refs=0),
    "homography": None,  # not the driver: see homography_removal
    "independent": dict(refs=0),
    "warp": dict(method="warp"),
    "warp_carry": dict(method="warp", carry=True),
    "warp_smooth": dict(method="warp", invent="smooth"),
    "warp_texture": dict(method="warp", invent="texture"),
    "warp_detail": dict(method="warp", invent="detail"),
    "ours": dict(),
}
KEYS = ("masked_psnr", "box_lpips", "disagreement", "fill_vs_observed_psnr", "seconds")


def homography_removal(capture: Path, out: Path) -> None:
    """Each masked view filled on its own by the homography baseline (neighbours from the pairs ranking)."""
    from colmap_tools.pairs import rank_references
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.cameras import background_points
    from inconddiff.capture import load_capture, write_image
    from inconddiff.prior.homography import homography_fill

    cap = load_capture(capture)
    masks = {s: m for s in cap.stems if (m := cap.mask(s)) is not None and m.any()}
    geometry = load_scene_geometry(capture / "sparse" / "0")
    keep = background_points(geometry, masks)
    for stem in cap.stems:
        image = cap.image(stem)
        if stem in masks and stem in geometry.cameras:
            names = [n for n, _ in rank_references(stem, masks[stem], geometry, keep, masks)[:5]]
            fill, _ = homography_fill(
                image, masks[stem], [cap.image(n) for n in names], [masks.get(n) for n in names]
            )
            image = np.where(masks[stem][..., None], np.round(fill * 255).astype(np.uint8), image)
        write_image(out / "images" / f"{stem}.png", image)
    shutil.copytree(capture / "masks", out / "masks")


def scores(capture: Path, edited: Path, seconds: float) -> dict:
    from inconddiff.evaluation.consistency import synthetic_consistency
    from inconddiff.evaluation.truth import score_against_truth

    row = {"seconds": seconds, **score_against_truth(capture, edited)}
    consistency = synthetic_consistency(capture, edited).as_dict()
    row["disagreement"] = consistency["fill_vs_fill_mae"]
    row["fill_vs_observed_psnr"] = consistency["fill_vs_observed_psnr"]
    return row


GAP_CLASSES = ("copied", "missed", "unseen")
"""Where a fill's error against the copy oracle lives: hole pixels some other view sees (true geometry) that the
fill copied, seen pixels it did not copy (invented or carried), and pixels no view sees."""


def gap_breakdown(capture: Path, edited: Path, oracle: Path, seen: dict[str, np.ndarray]) -> dict[str, float]:
    """Per class of `GAP_CLASSES`, its share of the hole pixels and the PSNR (pooled over the masked views) of
    the fill and of the copy oracle there (`seen`: the capture's `oracle.seen_masks`); {} when the removal wrote
    no provenance maps."""
    from inconddiff.capture import load_capture, read_image
    from inconddiff.evaluation.consistency import psnr_from_sse
    from inconddiff.prior.copy_fill import COPIED
    from inconddiff.removal.output import read_provenance

    if not (edited / "provenance").is_dir():
        return {}
    cap = load_capture(capture)
    sse = {c: np.zeros(2) for c in GAP_CLASSES}
    count = dict.fromkeys(GAP_CLASSES, 0)
    for stem, seen_by_others in seen.items():
        hole = cap.mask(stem)
        copied = read_provenance(edited / "provenance" / f"{stem}.png") == COPIED
        truth = read_image(capture / "gt" / "images" / f"{stem}.png").astype(np.float64)
        fills = [read_image(f / "images" / f"{stem}.png").astype(np.float64) for f in (edited, oracle)]
        classes = (hole & seen_by_others & copied, hole & seen_by_others & ~copied, hole & ~seen_by_others)
        for c, sel in zip(GAP_CLASSES, classes, strict=True):
            count[c] += int(sel.sum())
            sse[c] += [((f[sel] - truth[sel]) ** 2).mean(-1).sum() for f in fills]
    total = max(sum(count.values()), 1)
    out = {}
    for c in GAP_CLASSES:
        out[f"{c}_share"] = count[c] / total
        for k, who in enumerate(("fill", "oracle")):
            out[f"{c}_psnr_{who}"] = psnr_from_sse(sse[c][k] / 255.0**2, count[c])
    return out


def run_folder(capture: Path, folder: Path, seed: int) -> Path:
    """A capture that shares `capture`'s images, masks and truth and has its own COLMAP model (seeded)."""
    from colmap_tools.reconstruct import reconstruct

    if not (folder / "sparse" / "0").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("images", "masks", "gt"):
            link = folder / name
            if not link.exists():
                link.symlink_to((capture / name).resolve())
        reconstruct(folder, seed=seed)
    return folder


def refit_score(capture: Path, edited: Path, work: Path) -> dict[str, float]:
    """The refit's scores of an edit: its consistency score (`inconddiff evaluate`: hole PSNR of the renders
    of views whose holes were left out of the fit against their edits, less a penalty for fills with less
    detail than their surroundings) and that hole PSNR alone."""
    from nerf_integration.evaluate import evaluate_capture

    done = work / "consistency.json"  # written last, when the evaluation has finished
    if done.is_file() and done.stat().st_mtime >= (edited / "images").stat().st_mtime:
        report = json.loads(done.read_text())
    else:
        if work.exists():
            shutil.rmtree(work)
        report = evaluate_capture(edited, work, gt_images=capture / "gt" / "images", holdout=2)
    return {
        "refit_consistency": float(report["consistency_score"]),
        "refit_hole_psnr": float(report["summary"]["hole_heldout"]["render_vs_edit"]["in_psnr"]),
    }


def parse_args() -> argparse.Namespace:
    from inconddiff.evaluation.photo_scenes import BENCHMARK_SCENES

    names = list(BENCHMARK_SCENES)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=names, choices=names)
    p.add_argument("--runs", type=int, default=2, help="COLMAP models per scene (seeds 0, 1, ...)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument(
        "--refit", nargs="*", default=[], choices=list(METHODS), help="methods also scored by refit"
    )
    p.add_argument("--workdir", default=str(ROOT / "data_cache" / "removal_quality"))
    p.add_argument("--fresh", action="store_true", help="recompute the removals (scenes and models are kept)")
    p.add_argument("--out", default=str(RESULTS / "removal_quality.json"))
    return p.parse_args()


def recorded_seconds(out: Path) -> float:
    """The seconds a removal's log.json records (NaN without one: the homography baseline writes none)."""
    log = out / "log.json"
    if not log.is_file():
        return float("nan")
    return float(json.loads(log.read_text()).get("seconds_total_this_run", float("nan")))


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    from dataclasses import replace

    from inconddiff.evaluation.oracle import copy_oracle, seen_fraction, seen_masks
    from inconddiff.evaluation.photo_scenes import BENCHMARK_SCENES, generate_photo_scene
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.driver import remove_object

    work = Path(args.workdir)
    textures = str(TEXTURES) if TEXTURES.is_dir() else None
    rows: dict[str, dict[str, list[dict]]] = {}
    for name in args.scenes:
        capture = work / name / "capture"
        if not capture.is_dir():
            generate_photo_scene(capture, replace(BENCHMARK_SCENES[name], texture_dir=textures))
        scene = rows.setdefault(name, {})
        seen = seen_masks(capture)  # once per scene: the truth's, shared by every method and run
        fractions = seen_fraction(capture, seen)
        scene["seen"] = [{"seen_fraction": float(np.mean(list(fractions.values())))}]
        oracle = work / name / "copy_oracle"
        if not oracle.is_dir():
            copy_oracle(capture, oracle)
        scene["copy_oracle"] = [scores(capture, oracle, 0.0)]
        for run in range(args.runs):
            folder = run_folder(capture, work / name / f"run{run}", seed=run)
            for method in args.methods:
                out = folder / method
                if args.fresh and out.exists():
                    shutil.rmtree(out)
                t0 = time.time()
                if not out.is_dir():
                    if METHODS[method] is None:  # written aside, so that a stopped run leaves no half folder
                        partial = out.with_name(out.name + ".partial")
                        shutil.rmtree(partial, ignore_errors=True)
                        homography_removal(folder, partial)
                        partial.rename(out)
                    else:
                        remove_object(folder, out, config=RemovalConfig(seed=run, **METHODS[method]))
                    seconds = time.time() - t0
                else:  # made by an earlier run of this script: the time its log recorded
                    seconds = recorded_seconds(out)
                row = {
                    "run": run,
                    **scores(capture, out, seconds),
                    **gap_breakdown(capture, out, oracle, seen),
                }
                if method in args.refit:
                    row.update(refit_score(capture, out, folder / f"{method}_refit"))
                scene.setdefault(method, []).append(row)
                print(f"{name} run {run} {method:12s} masked PSNR {row['masked_psnr']:.2f}", flush=True)

    methods = ["copy_oracle", *args.methods]
    keys = (*KEYS, *(("refit_consistency", "refit_hole_psnr") if args.refit else ()))
    gap_keys = tuple(f"{c}_{x}" for c in GAP_CLASSES for x in ("share", "psnr_fill", "psnr_oracle"))
    summary = {}
    for m in methods:
        per_scene = [[r for r in rows[n][m]] for n in args.scenes]
        summary[m] = {
            k: float(np.mean([np.mean([r[k] for r in runs]) for runs in per_scene]))
            for k in (*keys, *gap_keys)
            if all(k in r for runs in per_scene for r in runs)
        }
        if args.runs > 1 and m != "copy_oracle":
            spread = [abs(runs[0]["masked_psnr"] - runs[1]["masked_psnr"]) for runs in per_scene]
            summary[m]["run_spread_psnr"] = float(np.mean(spread))
    summary["seen"] = {
        "seen_fraction": float(np.mean([rows[n]["seen"][0]["seen_fraction"] for n in args.scenes]))
    }
    print(
        f"\nmean over {len(args.scenes)} scenes ({args.runs} COLMAP runs each); oracle seen fraction "
        f"{summary['seen']['seen_fraction']:.2f}"
    )
    cols = [*keys, "run_spread_psnr"]
    print(f"{'method':14s}" + "".join(f"{k:>24s}" for k in cols))
    for m in methods:
        print(f"{m:14s}" + "".join(f"{summary[m].get(k, float('nan')):24.3f}" for k in cols))
    gapped = [m for m in methods if gap_keys[0] in summary[m]]
    if gapped:
        print(
            "\nwhere the gap to the copy oracle lives (share of the hole; PSNR of the fill / of the oracle there)"
        )
        print(f"{'method':14s}" + "".join(f"{c:>24s}" for c in GAP_CLASSES))
        for m in gapped:
            cells = [
                f"{summary[m][f'{c}_share']:.2f}: {summary[m][f'{c}_psnr_fill']:5.2f} / "
                f"{summary[m][f'{c}_psnr_oracle']:5.2f}"
                for c in GAP_CLASSES
            ]
            print(f"{m:14s}" + "".join(f"{x:>24s}" for x in cells))
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"args": vars(args), "summary": summary, "per_scene": rows}, indent=2)
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
