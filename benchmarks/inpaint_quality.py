"""Reference-guided inpainting quality on held-out real captures and synthetic ones (the paper's protocol).

For each capture (with a COLMAP model), several target views get an object-shaped hole (4-10% of the image);
the hole's pixels are destroyed in what every method sees and the target's own sparse observations are
dropped (it cannot see behind a real object). Each method fills the hole using the other views:

- `telea`: OpenCV Telea, no references;
- `homography`: the classical baseline, the best of the top references by SIFT inliers, warped by a
  homography fit near the hole, colour matched, Telea where it has no pixels;
- `warp`: the geometric prior, the copy fill: each hole pixel copied from the view that sees it best (the K
  best ranked views, depth from their stereo maps along the target's rays), a smooth membrane where
  none sees;
- `ours_k0`: the diffusion model without references (prior = Telea);
- `ours`: the diffusion model with K references;
- `ours_adapted`: the diffusion model after `inconddiff remove`'s per-capture adaptation
  (`--adapt-minutes`), fine-tuned on samples cut from the capture's own views away from the test holes;
- `auto`: what the product does (`warp` unless the model refills probe holes clearly better; the adapted
  model when `ours_adapted` is measured).

Scores against the original view: masked PSNR / SSIM and LPIPS (real AlexNet weights) on the hole's bounding
box, and PSNR / SSIM / LPIPS of the whole composite. Prints a table, writes JSON and a picture grid of the
worst and best cases for `ours`. Also times one view at the working resolution and relates seconds per
denoising step to the model's FLOPs and the measured matrix-multiply rate.

    .venv/bin/python benchmarks/inpaint_quality.py --model runs/inconddiff_v1/pipeline
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "data"
HELDOUT = ("statue", "temple_ring", "sacre_coeur")
METHODS = ("telea", "homography", "warp", "ours_k0", "ours", "ours_adapted", "auto")


def parse_args() -> argparse.Namespace:
    from inconddiff.prior.invention import INVENT
    from inconddiff.removal.config import RemovalConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="pipeline folder (default: the shipped weights)")
    p.add_argument(
        "--recon",
        type=Path,
        default=ROOT / "data_cache" / "heldout_recon",
        help="COLMAP models, <capture>/sparse/0 each (training captures: data_cache/train_recon)",
    )
    p.add_argument("--captures", nargs="+", default=list(HELDOUT) + ["synthetic"])
    p.add_argument("--views", type=int, default=8, help="target views per capture")
    p.add_argument(
        "--refs", type=int, default=16, help="views copied from per target (the product's default)"
    )
    p.add_argument("--working-size", type=int, default=512, help="longer side of the crop filled (quality)")
    p.add_argument("--timing-size", type=int, default=256, help="working size of the model-only timing")
    p.add_argument("--max-side", type=int, default=640, help="downscale captures larger than this first")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--invent",
        choices=INVENT,
        default=RemovalConfig.invent,
        help="how the copy fill makes up what no view saw",
    )
    p.add_argument(
        "--model-resolution",
        type=int,
        default=None,
        help="size the denoiser runs at (default: the model's training crop size; 0: the working size)",
    )
    p.add_argument(
        "--adapt-minutes",
        type=float,
        default=3.0,
        help="time budget of the per-capture adaptation behind `ours_adapted` (remove's default)",
    )
    p.add_argument(
        "--adapt-dir",
        type=Path,
        default=ROOT / "data_cache" / "inpaint_adapted",
        help="adapted weights, one folder per capture, base model and budget (a second run reuses them)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "inpaint_quality.json")
    return p.parse_args()


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate of this machine in torch (the denoiser's library; numpy's BLAS
    can be several times slower), GFLOP/s."""
    import torch

    a = torch.randn(n, n)
    a @ a
    t = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def model_flops(pipe, size: int, k: int) -> float:
    """FLOPs of one denoiser forward at size x size with k references."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, size, size)
    cond = torch.zeros(1, 8, size, size)
    refs = torch.zeros(1, k, 4, size, size) if k else None
    # not under no_grad: FlopCounterMode's module tracker fails there on the null token
    with FlopCounterMode(display=False) as counter:
        pipe.unet(x, 10, cond, refs)
    return float(counter.get_total_flops())


def load_capture_scene(name: str, args) -> tuple:
    """(SceneData, its name) for a held-out capture or a fresh synthetic one, with a COLMAP model."""
    from inconddiff.training.samples import SceneData

    if name == "synthetic":
        from colmap_tools.reconstruct import reconstruct
        from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

        work = ROOT / "data_cache" / "bench_synthetic"
        cap = work / f"seed{args.seed}"
        if not (cap / "sparse" / "0").is_dir():
            if cap.exists():
                import shutil

                shutil.rmtree(cap)
            generate_capture(cap, SynthConfig(views=24, width=320, height=240, seed=100 + args.seed))
            reconstruct(cap)
        return SceneData.load(cap, cap / "sparse" / "0", name)
    # held-out captures sit in shared/data, training ones (for choosing settings) in shared/data/train
    capture = SHARED / name if (SHARED / name / "images").is_dir() else SHARED / "train" / name
    sparse = args.recon / name / "sparse" / "0"
    if not sparse.is_dir():  # one model per capture, shared by every method and kept for the next run
        from colmap_tools.reconstruct import reconstruct

        reconstruct(capture, output_dir=args.recon / name)
    return SceneData.load(capture, sparse, name)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from colmap_tools.pairs import rank_references
    from inconddiff.cameras import background_points
    from inconddiff.evaluation.metrics import LPIPS, psnr, ssim
    from inconddiff.prior.copy_fill import COPIED, KEPT
    from inconddiff.prior.crops import paste_back
    from inconddiff.prior.homography import homography_fill
    from inconddiff.prior.telea import telea
    from inconddiff.removal.fillers import BestOfFiller, TeleaFiller, WarpFiller, default_weights_dir
    from inconddiff.removal.request import FillRequest, PreparedReference, prepare_request
    from inconddiff.removal.views import CaptureViews
    from inconddiff.training.holes import random_hole
    from inconddiff.training.samples import without_view

    torch.set_num_threads(2)
    want_model = any(m in args.methods for m in ("ours_k0", "ours", "ours_adapted", "auto"))
    diffusion = None
    if want_model:
        from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
        from inconddiff.removal.diffusion_filler import DiffusionFiller

        weights = Path(args.model) if args.model else default_weights_dir()
        pipe = InConDiffPipeline.from_pretrained(str(weights))
        diffusion = DiffusionFiller(pipe, model_resolution=args.model_resolution)
    adapted = None
    lp = LPIPS()
    rows = []
    adapt_seconds: dict[str, float] = {}
    examples = []
    timing = {}
    for name in args.captures:
        scene = load_capture_scene(name, args).downscaled(args.max_side)
        rng = np.random.default_rng([args.seed, len(name)])
        stems = sorted(scene.images)
        targets = [stems[i] for i in rng.choice(len(stems), size=min(args.views, len(stems)), replace=False)]
        holes = {stem: random_hole(scene.images[stem].shape[:2], rng, area=(0.04, 0.10)) for stem in targets}
        if "ours_adapted" in args.methods:
            # adapted as `remove` adapts, with the test holes as the object: their pixels never enter its
            # samples
            from inconddiff.training.finetune import adapt

            t_adapt = time.perf_counter()
            key = hashlib.sha1(
                f"{Path(weights).resolve()} {args.adapt_minutes} {args.seed}".encode()
            ).hexdigest()
            folder = adapt(scene, holes, args.adapt_dir / f"{name}_{key[:8]}", weights, args.adapt_minutes)
            adapt_seconds[name] = time.perf_counter() - t_adapt
            adapted = DiffusionFiller(
                InConDiffPipeline.from_pretrained(str(folder)), model_resolution=args.model_resolution
            )
        for stem in targets:
            truth = scene.images[stem]
            hole = holes[stem]
            seen = truth.copy()
            seen[hole] = 0  # the methods never see the hole's pixels
            geometry = without_view(scene.geometry, stem)
            masks = {stem: hole}
            keep = background_points(geometry, masks)
            ranking = rank_references(stem, hole, geometry, keep, masks)
            # every source's stereo sees the target only outside its hole, as it would see a real object there
            pixels = {**scene.images, stem: seen}
            views = CaptureViews(geometry, keep, pixels.__getitem__, masks)
            sources = [(views.source(n), score) for n, score in ranking[: args.refs]]
            t_prepare = time.perf_counter()
            probes = 2 if "auto" in args.methods else 0
            request, box = prepare_request(
                stem,
                seen,
                hole,
                sources,
                geometry,
                keep,
                args.working_size,
                probes=probes,
                invent=args.invent,
            )
            t_prepare = time.perf_counter() - t_prepare
            alone = prepare_request(
                stem, seen, hole, [], geometry, keep, args.working_size, invent=args.invent
            )[0]
            outputs, seconds = {}, {}
            for method in args.methods:
                t0 = time.perf_counter()
                if method == "telea":
                    full = np.round(telea(seen / 255.0, hole) * 255).astype(np.uint8)
                elif method == "homography":
                    cands = [scene.images[n] for n, _ in ranking[:5]]
                    fill, _ = homography_fill(seen, hole, cands)
                    full = np.where(hole[..., None], np.round(fill * 255).astype(np.uint8), seen)
                else:
                    filler = {
                        "warp": WarpFiller(),
                        "ours": diffusion,
                        "ours_k0": diffusion,
                        "ours_adapted": adapted,
                        "auto": BestOfFiller([WarpFiller(), adapted or diffusion])
                        if diffusion
                        else TeleaFiller(),
                    }[method]
                    fill = filler(alone if method == "ours_k0" else request)
                    full = paste_back(seen, hole, box, fill)
                seconds[method] = time.perf_counter() - t0
                outputs[method] = full
            for method, full in outputs.items():
                row = {
                    "capture": name,
                    "view": stem,
                    "method": method,
                    "hole_fraction": float(hole.mean()),
                    "masked_psnr": psnr(full, truth, hole),
                    "masked_ssim": ssim(full, truth, hole),
                    "box_lpips": lp.in_box(full, truth, hole),
                    "psnr": psnr(full, truth),
                    "ssim": ssim(full, truth),
                    "lpips": lp(full, truth),
                    "seconds": seconds[method],
                    # the crop and the references' warps, shared by the methods that use references
                    "prepare_seconds": t_prepare if method not in ("telea", "homography") else 0.0,
                }
                rows.append(row)
            if "ours" in outputs:
                examples.append((rows[-len(outputs) :], truth, hole, outputs))
            line = "  ".join(f"{r['method']} {r['masked_psnr']:.2f}" for r in rows[-len(outputs) :])
            print(f"{name:12s} {stem:14s} {line}", flush=True)

    # speed at the timing resolution, and the FLOP bound
    if diffusion is not None:
        size = args.timing_size
        img = np.random.default_rng(0).uniform(0, 1, (size, size, 3))
        h = np.zeros((size, size), bool)
        h[size // 3 : 2 * size // 3, size // 3 : 2 * size // 3] = True
        refs = [PreparedReference(f"r{i}", 1.0, img, h) for i in range(3)]
        provenance = np.where(h, COPIED, KEPT).astype(np.uint8)
        timing_request = FillRequest(img, h, img, provenance, references=refs)
        diffusion(timing_request)  # warm-up: first-call allocations and kernel choices
        t0 = time.perf_counter()
        diffusion(timing_request)
        t_view = time.perf_counter() - t0
        # the denoiser runs at the model resolution (its training crop size unless told otherwise)
        res = diffusion.model_resolution
        if res is None:
            res = getattr(diffusion.pipe.unet.config, "sample_size", None)
        run = min(size, res) if res else size
        with torch.no_grad():
            x = torch.zeros(1, 3, run, run)
            cond, ref_t = torch.zeros(1, 8, run, run), torch.zeros(1, 3, 4, run, run)
            diffusion.pipe.unet(x, 10, cond, ref_t)
            t0 = time.perf_counter()
            diffusion.pipe.unet(x, 10, cond, ref_t)
            t_step = time.perf_counter() - t0
        flops = model_flops(diffusion.pipe, run, 3)
        rate = matmul_gflops()
        timing = {
            "working_size": size,
            "model_resolution": run,
            "attended_refs": 3,
            "seconds_per_view_model_only": t_view,
            "seconds_per_denoising_step": t_step,
            "gflops_per_step": flops / 1e9,
            "measured_matmul_gflops_per_s": rate,
            "flop_bound_seconds_per_step": flops / 1e9 / rate,
            "steps_per_view": diffusion.steps,
        }

    # summary
    keys = ["masked_psnr", "masked_ssim", "box_lpips", "psnr", "ssim", "lpips", "seconds", "prepare_seconds"]
    summary: dict = {}
    for cap in [*args.captures, "real_mean"]:
        for method in args.methods:
            sel = [
                r
                for r in rows
                if r["method"] == method
                and (r["capture"] == cap or (cap == "real_mean" and r["capture"] != "synthetic"))
            ]
            if sel:
                summary.setdefault(cap, {})[method] = {k: float(np.mean([r[k] for r in sel])) for k in keys}
    print()
    header = f"{'capture':12s} {'method':11s}" + "".join(f"{k:>16s}" for k in keys)
    print(header)
    for cap, by_method in summary.items():
        for method, vals in by_method.items():
            print(f"{cap:12s} {method:11s}" + "".join(f"{vals[k]:16.3f}" for k in keys))
    if timing:
        print("\nspeed:", json.dumps(timing, indent=1))
    for cap, secs in adapt_seconds.items():
        print(f"adaptation {cap}: {secs:.0f} s (samples and training; none of it per view)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "summary": summary,
                "timing": timing,
                "adapt_seconds": adapt_seconds,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")
    if examples:
        save_grid(examples, args.out.with_suffix(".png"))


def save_grid(examples, path: Path) -> None:
    """Worst and best three cases of `ours` by masked PSNR: truth | hole | telea | homography | warp | ours."""
    import cv2
    import imageio.v3 as iio

    def score(ex):
        return next(r["masked_psnr"] for r in ex[0] if r["method"] == "ours")

    ranked = sorted(examples, key=score)
    picks = ranked[:3] + ranked[-3:]
    rows = []
    for _, truth, hole, outputs in picks:
        tiles = [truth, np.where(hole[..., None], np.array([255, 0, 0], np.uint8), truth)]
        tiles += [outputs[m] for m in ("telea", "homography", "warp", "ours") if m in outputs]
        h = 160
        tiles = [
            cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h), interpolation=cv2.INTER_AREA)
            for t in tiles
        ]
        rows.append(np.concatenate(tiles, 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    iio.imwrite(path, np.concatenate(rows, 0))
    print(
        f"wrote {path} (rows: 3 worst, 3 best for ours; columns: truth, hole, telea, homography, warp, ours)"
    )


if __name__ == "__main__":
    main()
