"""Multi-view removal on synthetic captures: quality against the object-free truth and cross-view consistency.

For each seed, a synthetic capture is rendered and reconstructed with COLMAP (the real pipeline: no ground
truth geometry is given to the methods), then every masked view is filled by each method:

- `sequential`: the product (`inconddiff remove`, method auto, K references, filled views reused)
- `independent_k0`: the same filler with no references (each view on its own)
- `warp_sequential`: the geometric warp filler with K references, filled views reused
- `telea`: OpenCV Telea per view
- `homography`: the classical baseline per view: the best of the 5 top-ranked neighbours by SIFT inliers,
  warped by a homography fit near the hole, colour matched, Telea where it has no pixels

Scores (means over masked views): masked PSNR / SSIM and LPIPS on the hole's box against gt/images, and the
cross-view PSNR between fills of the same surface points (ground-truth depth and cameras).

    .venv/bin/python benchmarks/removal_quality.py --seeds 0 1 2 --views 24
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

METHODS = {
    "sequential": dict(method="auto"),
    "independent_k0": dict(method="auto", refs=0),
    "warp_sequential": dict(method="warp"),
    "telea": dict(method="telea", refs=0),
    "homography": None,  # not the driver: see homography_removal
}


def homography_removal(capture: Path, out: Path) -> None:
    """Each masked view filled on its own by the homography baseline (neighbours from the driver's ranking)."""
    from colmap_tools.pairs import rank_references
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.cameras import background_points
    from inconddiff.capture import load_capture, write_image
    from inconddiff.prior.homography import homography_fill

    cap = load_capture(capture)
    masks = {s: cap.mask(s) for s in cap.stems if cap.mask(s) is not None and cap.mask(s).any()}
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


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--views", type=int, default=24)
    p.add_argument("--size", default="160x120")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--workdir", default=None, help="keep captures and outputs here (default: a temp folder)")
    p.add_argument("--out", default=str(RESULTS / "removal_quality.json"))
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    from colmap_tools.reconstruct import reconstruct
    from inconddiff.evaluation.consistency import synthetic_consistency
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture
    from inconddiff.evaluation.truth import score_against_truth
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.driver import remove_object

    w, h = (int(v) for v in args.size.split("x"))
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="removal_quality_"))
    rows: dict[str, list[dict]] = {m: [] for m in args.methods}
    for seed in args.seeds:
        cap = generate_capture(
            work / f"seed{seed}" / "capture", SynthConfig(views=args.views, width=w, height=h, seed=seed)
        )
        reconstruct(cap)  # writes cap/sparse/0; every method below reuses it
        for name in args.methods:
            out = work / f"seed{seed}" / name
            if out.exists():
                shutil.rmtree(out)
            t0 = time.time()
            if METHODS[name] is None:
                homography_removal(cap, out)
            else:
                remove_object(cap, out, config=RemovalConfig(seed=seed, **METHODS[name]))
            seconds = time.time() - t0
            row = {"seed": seed, "seconds": seconds, **score_against_truth(cap, out)}
            row.update(synthetic_consistency(cap, out).as_dict())
            rows[name].append(row)
            print(
                f"seed {seed} {name:16s} masked PSNR {row['masked_psnr']:.2f}  cross-view {row['fill_vs_fill_psnr']:.2f}"
            )

    keys = [
        "masked_psnr",
        "masked_ssim",
        "box_lpips",
        "fill_vs_fill_psnr",
        "fill_vs_observed_psnr",
        "seconds",
    ]
    summary = {m: {k: float(np.mean([r[k] for r in rows[m]])) for k in keys} for m in args.methods}
    header = f"{'method':18s}" + "".join(f"{k:>22s}" for k in keys)
    print("\n" + header)
    for m in args.methods:
        print(f"{m:18s}" + "".join(f"{summary[m][k]:22.3f}" for k in keys))
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"args": vars(args), "summary": summary, "per_seed": rows, "workdir": str(work)}, indent=2)
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
