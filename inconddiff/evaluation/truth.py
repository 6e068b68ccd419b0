"""Scores of an edited synthetic capture against its generator's object-free ground truth (gt/images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inconddiff.capture import load_capture, read_image
from inconddiff.evaluation.metrics import LPIPS, psnr, ssim


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
