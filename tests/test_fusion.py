"""The geometric prior of fused warps (`prior.fusion.geometric_prior`), which the pipeline builds when it is
given warped references instead of a finished prior."""

from __future__ import annotations

import numpy as np

from inconddiff.prior.fusion import geometric_prior
from inconddiff.prior.telea import telea


def textured(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (h, w, 3))


def hole_mask(h=48, w=64):
    m = np.zeros((h, w), dtype=bool)
    m[18:30, 26:38] = True
    return m


def fill(image, hole, warps):
    """The prior of `warps` [(image, valid), ...]."""
    return geometric_prior(image, hole, [w for w, _ in warps], [v for _, v in warps])[0]


def test_prior_copies_valid_reference_pixels_and_inpaints_the_rest():
    truth = textured()
    hole = hole_mask()
    valid = np.ones_like(hole)
    valid[18:22] = False  # the reference does not see the top rows of the hole
    damaged = truth.copy()
    damaged[hole] = 0.0
    out = fill(damaged, hole, [(truth, valid)])
    seen = hole & valid
    assert np.allclose(out[seen], truth[seen])
    assert np.array_equal(out[~hole], damaged[~hole])
    unseen = hole & ~valid
    assert (out[unseen] > 0).all()  # inpainted, not left black


def smooth_textured(h=48, w=64, seed=0):
    """Texture at a scale of a few pixels, so a shift of a few pixels is a real error."""
    import cv2

    return cv2.GaussianBlur(textured(h, w, seed), (0, 0), 1.5)


def test_prior_takes_the_warp_that_continues_the_known_pixels_not_an_average():
    truth = smooth_textured()
    hole = hole_mask()
    damaged = truth.copy()
    damaged[hole] = 0.0
    shifted = np.roll(truth, 4, axis=1)  # a misaligned warp of the same reference
    valid = np.ones_like(hole)
    # the misaligned warp comes first and as an alternative of the same reference
    out = fill(damaged, hole, [(shifted, valid), (truth, valid)])
    assert np.abs(out[hole] - truth[hole]).max() < 0.05
    mean_of_both = (truth + shifted) / 2  # what averaging the candidates would give
    assert np.abs(out[hole] - truth[hole]).mean() < 0.2 * np.abs(mean_of_both[hole] - truth[hole]).mean()


def test_consensus_rejects_the_warp_that_breaks_inside_the_hole():
    truth = smooth_textured()
    hole = hole_mask()
    damaged = truth.copy()
    damaged[hole] = 0.0
    valid = np.ones_like(hole)
    broken = truth.copy()
    broken[hole] = smooth_textured(seed=7)[hole]  # right around the hole, wrong inside it
    out = fill(damaged, hole, [(broken, valid), (truth, valid), (truth, valid)])
    assert np.abs(out[hole] - truth[hole]).max() < 0.05


def test_prior_without_warps_is_telea():
    truth = textured()
    hole = hole_mask()
    assert np.array_equal(fill(truth, hole, []), telea(truth, hole))


def test_prior_removes_the_exposure_difference_of_the_reference():
    truth = smooth_textured()
    hole = hole_mask()
    damaged = truth.copy()
    damaged[hole] = 0.0
    darker = np.clip(truth - 0.15, 0, 1)  # the reference saw the same surface, exposed darker
    out = fill(damaged, hole, [(darker, np.ones_like(hole))])
    assert abs((out[hole] - truth[hole]).mean()) < 0.03
    assert np.abs(out[hole] - truth[hole]).mean() < 0.3 * np.abs(darker[hole] - truth[hole]).mean()


def test_prior_prefers_a_complete_warp_to_a_fragmented_one_of_similar_error():
    """A warp valid only in scattered fragments is checked on its best pixels and leaves gaps to patch
    from other warps with seams: a complete warp of about the same error fills the hole alone."""
    truth = smooth_textured()
    hole = hole_mask()
    damaged = truth.copy()
    damaged[hole] = 0.0
    rng = np.random.default_rng(1)
    fragmented = np.clip(truth + rng.uniform(-0.04, 0.04, truth.shape), 0, 1)
    complete = np.clip(truth + rng.uniform(-0.05, 0.05, truth.shape), 0, 1)
    fragments = rng.random(hole.shape) < 0.4
    full = np.ones_like(hole)
    out = fill(damaged, hole, [(fragmented, fragments), (complete, full)])
    both = hole & fragments
    assert np.abs(out[hole] - complete[hole]).mean() < 0.01
    assert np.abs(out[both] - fragmented[both]).mean() > 0.03


def test_prior_leaves_specks_of_validity_to_the_inpainting_not_to_the_warp(monkeypatch):
    """A warp through a jagged depth is valid in specks inside the hole: those pixels are dropped (at 240 px,
    anything narrower than 3 px), so the hole is not filled with a patchwork of the warp's stray pixels."""
    h, w = 200, 240
    image = np.full((h, w, 3), 0.5)
    hole = np.zeros((h, w), bool)
    hole[70:130, 90:150] = True
    warp = np.where(hole[..., None], 1.0, image)  # right outside the hole, wrong inside
    valid = ~hole
    ys, xs = np.nonzero(hole)
    specks = (ys % 4 == 0) & (xs % 4 == 0)
    valid[ys[specks], xs[specks]] = True
    block = np.zeros_like(hole)
    block[100:120, 100:120] = True  # a solid part of the warp is used as before
    prior, seen = geometric_prior(image, hole, [warp], [valid | block])
    stray = hole & valid
    stray[99:121, 99:121] = False  # specks touching the block's edge belong to its shape
    assert stray.sum() > 100 and not seen[stray].any()
    assert np.allclose(prior[block], 1.0) and seen[101:119, 101:119].all()  # (an opening rounds corners)
    # the specks change nothing: the fill is what it is without them
    clean, _ = geometric_prior(image, hole, [warp], [(~hole | block) | (valid & ~stray)])
    assert np.allclose(prior, clean)
    assert np.abs(prior[stray] - 1.0).mean() > 0.2
    monkeypatch.setattr(
        "inconddiff.prior.fusion.SPECK_FRACTION", 0.0
    )  # without the test: the warp's stray pixels
    assert np.allclose(geometric_prior(image, hole, [warp], [valid | block])[0][stray], 1.0)
