"""The demo: a synthetic capture, reconstructed, its object removed from every view, scored against the
generator's object-free ground truth."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def run_demo(
    out: str | os.PathLike,
    views: int = 24,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    method: str = "auto",
    device: str | None = None,
    nerf_steps: int = 600,
) -> dict:
    """Run the whole pipeline on a fresh synthetic capture in the new folder `out`; returns the scores.

    The 3D-consistency check refits a radiance field (`nerf_integration`, `inconddiff-fit`) on the edited
    views for `nerf_steps` steps (0 skips it) and scores its renders against the edits and the truth. A step
    count rather than a time budget, so that the same seed gives the same scores whatever else the machine runs.
    """
    from inconddiff.evaluation.consistency import synthetic_consistency
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture
    from inconddiff.evaluation.truth import score_against_truth
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.driver import remove_object

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
    if nerf_steps > 0:
        from nerf_integration.evaluate import evaluate_capture

        t3 = time.time()
        scores["nerf"] = evaluate_capture(
            edited,
            out / "consistency",
            gt_images=capture / "gt" / "images",
            holdout=2,
            max_steps=nerf_steps,
            seed=seed,
        )["summary"]
        timings["nerf_consistency"] = time.time() - t3
    timings["total"] = time.time() - t0
    summary = {"capture": str(capture), "removed": str(edited), "scores": scores, "seconds": timings}
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    return summary
