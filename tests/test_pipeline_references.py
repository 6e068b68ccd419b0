"""The pipeline given only reference images (no precomputed warps) builds its own homography prior."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from tiny_model import TINY

from inconddiff.models import InConDiffDenoiser
from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline
from inconddiff.prior.telea import telea

H_TRUE = np.array([[1.05, 0.04, -6.0], [-0.03, 0.98, 4.0], [2e-4, -1e-4, 1.0]])


def pair(seed=0):
    """(target, reference, hole) uint8: the target is the reference seen through H_TRUE."""
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    img = np.zeros((h, w, 3), np.float32)
    for scale in (4, 8, 16):
        noise = rng.uniform(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(noise, (w + 2 * scale, h + 2 * scale), interpolation=cv2.INTER_CUBIC)[
            scale : scale + h, scale : scale + w
        ]
    ref = np.round(np.clip(img / img.max(), 0, 1) * 255).astype(np.uint8)
    target = cv2.warpPerspective(ref, H_TRUE, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    hole = np.zeros((h, w), np.uint8)
    cv2.ellipse(hole, (80, 60), (14, 20), 10, 0, 360, 1, -1)
    return target, ref, hole.astype(bool)


def test_reference_images_alone_give_a_homography_prior():
    torch.manual_seed(0)
    pipe = InConDiffPipeline(InConDiffDenoiser(**TINY), InConDiffPipeline.default_scheduler())
    pipe.set_progress_bar_config(disable=True)
    target, ref, hole = pair()
    seen = target.copy()
    seen[hole] = 0
    out = pipe(seen, hole, reference_images=[ref], generator=torch.Generator().manual_seed(0))
    truth = target / 255.0
    # an untrained model returns its prior: here the reference warped by the recovered homography
    err_prior = np.abs(out.priors[0][hole] - truth[hole]).mean()
    err_out = np.abs(out.images[0][hole] - truth[hole]).mean()
    err_telea = np.abs(telea(seen / 255.0, hole)[hole] - truth[hole]).mean()
    assert err_prior < 0.3 * err_telea and err_out < 0.3 * err_telea
    assert np.array_equal(out.images[0][~hole], seen[~hole] / 255.0)
    # an explicit empty list of warps means no warp: the prior is Telea
    none = pipe(seen, hole, reference_images=[ref], warped_references=[], generator=torch.Generator())
    assert np.allclose(none.priors[0], telea(seen / 255.0, hole))
