"""Metrics give known answers on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from inconddiff.evaluation.metrics import LPIPS, mask_bbox, psnr, ssim


def textured(h=64, w=80, seed=0):
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.uniform(0, 1, (h, w, 3)), (2, 2, 0))
    return np.clip((base - base.min()) / np.ptp(base), 0, 1)


def test_psnr_of_a_constant_offset():
    a = np.full((10, 10, 3), 0.5)
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")
    mask = np.zeros((10, 10), dtype=bool)
    mask[:2] = True
    b = a.copy()
    b[:2] += 0.01  # only inside the mask
    assert psnr(a, b, mask) == pytest.approx(40.0)
    assert np.isnan(psnr(a, b, np.zeros((10, 10), dtype=bool)))


def test_psnr_uint8_matches_float():
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    b = np.full((4, 4, 3), 255, dtype=np.uint8)
    assert psnr(a, b) == pytest.approx(0.0)


def test_ssim_identical_is_one_and_noise_lowers_it():
    a = textured()
    rng = np.random.default_rng(1)
    assert ssim(a, a) == pytest.approx(1.0)
    s1 = ssim(a, np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1))
    s2 = ssim(a, np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1))
    assert 1.0 > s1 > s2 > 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((3, 3, 3)), np.zeros((3, 4, 3)))


def test_mask_bbox_pads_grows_and_clips():
    m = np.zeros((50, 60), dtype=bool)
    m[10:20, 30:35] = True
    assert mask_bbox(m) == (10, 20, 30, 35)
    assert mask_bbox(m, pad=2) == (8, 22, 28, 37)
    y0, y1, x0, x1 = mask_bbox(m, min_size=32)
    assert y1 - y0 == 32 and x1 - x0 == 32 and y0 <= 10 and y1 >= 20
    m2 = np.zeros((50, 60), dtype=bool)
    m2[0, 0] = True
    assert mask_bbox(m2, min_size=32) == (0, 32, 0, 32)
    with pytest.raises(ValueError):
        mask_bbox(np.zeros((5, 5), dtype=bool))


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_orders_distortions(net):
    a = textured(96, 96)
    rng = np.random.default_rng(2)
    lp = LPIPS(net, device="cpu")
    same = lp(a, a)
    noise = lp(a, np.clip(a + rng.normal(0, 0.03, a.shape), 0, 1))
    blur = lp(a, gaussian_filter(a, (4, 4, 0)))
    other = lp(a, textured(96, 96, seed=9))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0 < noise < blur
    assert noise < other
    assert lp((a * 255).astype(np.uint8), (a * 255).astype(np.uint8)) == pytest.approx(0.0, abs=1e-6)


def test_lpips_in_box_uses_the_mask_region():
    a = textured(96, 96)
    b = a.copy()
    b[40:50, 40:50] = 0.0
    mask = np.zeros((96, 96), dtype=bool)
    mask[40:50, 40:50] = True
    lp = LPIPS(device="cpu")
    assert lp.in_box(a, b, mask) > lp(a, b) > 0  # the damage weighs more inside its box
    with pytest.raises(ValueError, match="at least 32"):
        lp(a[:10, :10], b[:10, :10])


def test_sharpness_ratio_ranks_a_blurred_fill_below_a_detailed_one():
    from scipy.ndimage import gaussian_filter

    from inconddiff.evaluation.metrics import sharpness_ratio

    rng = np.random.default_rng(0)
    image = gaussian_filter(rng.random((64, 80, 3)), (1, 1, 0))
    hole = np.zeros((64, 80), bool)
    hole[20:44, 28:52] = True
    assert 0.6 < sharpness_ratio(image, hole) < 1.6  # the same texture inside and around
    blurred = image.copy()
    blurred[hole] = gaussian_filter(image, (4, 4, 0))[hole]
    assert sharpness_ratio(blurred, hole) < 0.2


def test_the_consistency_score_ranks_a_blurred_fill_below_a_sharp_consistent_one():
    """Scored on images. The field is modelled as it behaves on the real captures: it renders every fill through
    the same slight low-pass and noise, so it reproduces untouched texture at about 25 dB. A blurred fill is
    reproduced better by PSNR (less detail to lose), a fill copied from elsewhere worse."""
    from inconddiff.evaluation.metrics import sharpness_ratio
    from nerf_integration.evaluate import consistency_score, region_scores

    rng = np.random.default_rng(0)
    truth = gaussian_filter(rng.random((96, 96, 3)), (1, 1, 0))
    hole = np.zeros((96, 96), bool)
    hole[32:64, 32:64] = True
    lp = LPIPS(device="cpu")

    def field(x):
        return np.clip(gaussian_filter(x, (1, 1, 0)) + rng.normal(0, 0.04, x.shape), 0, 1)

    def view(fill, render, split="hole_heldout"):
        edit, rendered = truth.copy(), truth.copy()
        edit[hole], rendered[hole] = fill[hole], render[hole]
        rec = {"split": split, "render_vs_edit": region_scores(rendered, edit, hole, lp)}
        rec["edit_sharpness"] = sharpness_ratio(edit, hole)
        return rec

    sharp = view(truth, field(truth))
    assert 24 < sharp["render_vs_edit"]["in_psnr"] < 27
    other = np.roll(truth, 40, axis=1)  # the other views' edits hold the truth: the field half follows them
    inconsistent = view(other, 0.5 * field(other) + 0.5 * field(truth))
    for sigma in (2, 4):
        fill = gaussian_filter(truth, (sigma, sigma, 0))
        blurred = view(fill, field(fill))
        # by PSNR alone the blurred fill wins
        assert blurred["render_vs_edit"]["in_psnr"] > sharp["render_vs_edit"]["in_psnr"]
        assert consistency_score([sharp]) > consistency_score([blurred]), sigma
    assert consistency_score([sharp]) > consistency_score([inconsistent])
    assert consistency_score([view(truth, field(truth), split="train")]) is None  # only held-out holes count
    no_lpips = {
        **sharp,
        "render_vs_edit": {k: v for k, v in sharp["render_vs_edit"].items() if k != "in_lpips"},
    }
    assert consistency_score([no_lpips]) is None  # no texture term, no score
