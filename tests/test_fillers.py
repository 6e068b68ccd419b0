"""Fillers: Telea and warp on constructed requests; probe holes; choosing the better filler per view."""

from __future__ import annotations

import numpy as np

from inconddiff.removal.fillers import BestOfFiller, TeleaFiller, WarpFiller, probe_holes
from inconddiff.removal.request import FillRequest, PreparedReference


def textured(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (h, w, 3))


def hole_mask(h=48, w=64):
    m = np.zeros((h, w), dtype=bool)
    m[18:30, 26:38] = True
    return m


def reference(image, valid, score=1.0, name="r"):
    return PreparedReference(name, score, image, valid, image, ~valid)


def test_warp_filler_copies_valid_reference_pixels_and_inpaints_the_rest():
    truth = textured()
    hole = hole_mask()
    valid = np.ones_like(hole)
    valid[18:22] = False  # the reference does not see the top rows of the hole
    damaged = truth.copy()
    damaged[hole] = 0.0
    out = WarpFiller()(FillRequest(damaged, hole, [reference(truth, valid)]))
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
    ref = reference(shifted, valid)
    ref.alternatives.append((truth, valid))
    out = WarpFiller()(FillRequest(damaged, hole, [ref]))
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
    refs = [
        reference(broken, valid, name="a"),
        reference(truth, valid, name="b"),
        reference(truth, valid, name="c"),
    ]
    out = WarpFiller()(FillRequest(damaged, hole, refs))
    assert np.abs(out[hole] - truth[hole]).max() < 0.05


def test_warp_filler_without_references_is_telea():
    truth = textured()
    hole = hole_mask()
    req = FillRequest(truth, hole, [])
    assert np.array_equal(WarpFiller()(req), TeleaFiller()(req))


def test_probe_holes_have_the_hole_shape_and_stay_clear_of_it():
    hole = hole_mask()
    probes = probe_holes(hole, count=3)
    assert len(probes) == 3
    for p in probes:
        assert p.sum() == hole.sum()
        assert not (p & hole).any()


class Constant:
    def __init__(self, name, image):
        self.name, self.image = name, image
        self.calls = 0

    def __call__(self, request):
        self.calls += 1
        return self.image


def test_best_of_picks_the_filler_that_refills_probes_correctly():
    truth = textured()
    hole = hole_mask()
    right = Constant("right", truth)
    wrong = Constant("wrong", np.zeros_like(truth))
    best = BestOfFiller([wrong, right], probes=2)
    out = best(FillRequest(truth, hole, []))
    assert best.last_method == "right" and out is truth
    assert best.last_scores["right"] == 0.0 and best.last_scores["wrong"] > 0.1
    assert right.calls == 3 and wrong.calls == 2  # two probes each, then the real fill


def test_prior_removes_the_exposure_difference_of_the_reference():
    truth = smooth_textured()
    hole = hole_mask()
    damaged = truth.copy()
    damaged[hole] = 0.0
    darker = np.clip(truth - 0.15, 0, 1)  # the reference saw the same surface, exposed darker
    out = WarpFiller()(FillRequest(damaged, hole, [reference(darker, np.ones_like(hole))]))
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
    request = FillRequest(
        damaged, hole, [reference(fragmented, fragments, name="a"), reference(complete, full, name="b")]
    )
    out = WarpFiller()(request)
    both = hole & fragments
    assert np.abs(out[hole] - complete[hole]).mean() < 0.01
    assert np.abs(out[both] - fragmented[both]).mean() > 0.03


def test_prior_leaves_specks_of_validity_to_the_inpainting_not_to_the_warp(monkeypatch):
    """A warp through a jagged depth is valid in specks inside the hole: those pixels are dropped (at 240 px,
    anything narrower than 3 px), so the hole is not filled with a patchwork of the warp's stray pixels."""
    from inconddiff.prior.fusion import geometric_prior

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


def test_diffusion_filler_attends_to_the_best_references_and_gives_all_warps_to_the_prior():
    from types import SimpleNamespace

    from inconddiff.removal.diffusion_filler import MAX_ATTENDED_REFERENCES, DiffusionFiller

    calls = {}

    class RecordingPipe:
        def set_progress_bar_config(self, **_):
            pass

        def __call__(self, image, hole, **kwargs):
            calls.update(kwargs)
            return SimpleNamespace(images=[image])

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (24, 32, 3))
    hole = np.zeros((24, 32), bool)
    hole[8:16, 10:20] = True
    refs = [
        PreparedReference(
            f"r{i}", 1.0 - 0.1 * i, image, ~hole, image + 0.01 * i, hole, alternatives=[(image, ~hole)]
        )
        for i in range(MAX_ATTENDED_REFERENCES + 2)
    ]
    DiffusionFiller(RecordingPipe())(FillRequest(image, hole, refs))
    attended = calls["reference_images"]
    assert len(attended) == MAX_ATTENDED_REFERENCES == len(calls["reference_masks"])
    assert all(np.array_equal(a, r.crop) for a, r in zip(attended, refs, strict=False))  # the best ranked
    assert len(calls["warped_references"]) == 2 * len(refs)  # every warp and alternative of every reference
