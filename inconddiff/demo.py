"""The demo: a synthetic capture, reconstructed, its object removed from every view, scored against the
generator's object-free ground truth."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from inconddiff.capture import load_capture, read_image
from inconddiff.metrics import LPIPS, psnr, ssim

logger = logging.getLogger(__name__)


def score_against_truth(capture: Path, edited: Path) -> dict:
    """Masked PSNR / SSIM and box LPIPS of the edited views against gt/images, averaged over masked views."""
    cap = load_capture(capture)
    lp = LPIPS()
    rows = []
    for stem in cap.stems:
        mask = cap.mask(stem)
        if mask is None or not mask.any():
            continue
        truth = read_image(capture / "gt" / "images" / f"{stem}.png")
        result = read_image(edited / "images" / f"{stem}.png")
        rows.append((psnr(result, truth, mask), ssim(result, truth, mask), lp.in_box(result, truth, mask)))
    arr = np.array(rows)
    return {
        "views": len(rows),
        "masked_psnr": float(arr[:, 0].mean()),
        "masked_ssim": float(arr[:, 1].mean()),
        "box_lpips": float(arr[:, 2].mean()),
    }


def run_demo(
    out: str | os.PathLike,
    views: int = 24,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    method: str = "auto",
    device: str | None = None,
    nerf_seconds: float = 90.0,
) -> dict:
    """Run the whole pipeline on a fresh synthetic capture in the new folder `out`; returns the scores.

    The 3D-consistency check refits a radiance field (`nerf_integration`, `inconddiff-fit`) on the edited
    views for `nerf_seconds` of training (0 skips it) and scores its renders against the edits and the truth.
    """
    from inconddiff.consistency import synthetic_consistency
    from inconddiff.removal import RemovalConfig, remove_object
    from inconddiff.synthetic import SynthConfig, generate_capture

    out = Path(out)
    if out.exists():
        from inconddiff.capture import CaptureError

        raise CaptureError(out, "demo folder already exists; choose a new folder")
    t0 = time.time()
    timings = {}
    capture = generate_capture(
        out / "capture", SynthConfig(views=views, width=size[0], height=size[1], seed=seed)
    )
    timings["synthesise"] = time.time() - t0
    t1 = time.time()
    edited = remove_object(
        capture, out / "removed", config=RemovalConfig(method=method, seed=seed, device=device)
    )
    timings["reconstruct_and_remove"] = time.time() - t1
    t2 = time.time()
    scores = {
        "against_truth": score_against_truth(capture, edited),
        "cross_view": synthetic_consistency(capture, edited).as_dict(),
        "input_against_truth": score_against_truth(capture, capture),
    }
    timings["score"] = time.time() - t2
    if nerf_seconds > 0:
        from nerf_integration.evaluate import evaluate_capture

        t3 = time.time()
        scores["nerf"] = evaluate_capture(
            edited,
            out / "consistency",
            gt_images=capture / "gt" / "images",
            holdout=2,
            time_budget=nerf_seconds,
            seed=seed,
        )["summary"]
        timings["nerf_consistency"] = time.time() - t3
    timings["total"] = time.time() - t0
    summary = {"capture": str(capture), "removed": str(edited), "scores": scores, "seconds": timings}
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    return summary
