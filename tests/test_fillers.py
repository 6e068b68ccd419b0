"""Fillers on constructed requests: the warp filler returns the copy fill, `auto` judges its candidates on
probe holes, the diffusion filler keeps copied pixels and attends to the best references."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from inconddiff.prior.copy_fill import CARRIED, COPIED, INVENTED, KEPT
from inconddiff.removal.fillers import BestOfFiller, TeleaFiller, WarpFiller
from inconddiff.removal.request import JUDGE_CONTEXT, FillRequest, PreparedReference, probe_holes


def textured(h=48, w=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3))


def hole_mask(h=48, w=64):
    m = np.zeros((h, w), dtype=bool)
    m[18:30, 26:38] = True
    return m


def request(image, hole, prior=None, provenance=None, **kwargs):
    prior = image if prior is None else prior
    provenance = np.where(hole, COPIED, KEPT).astype(np.uint8) if provenance is None else provenance
    return FillRequest(image, hole, prior, provenance, **kwargs)


def test_warp_filler_returns_the_copy_fill_and_telea_ignores_it():
    truth = textured()
    hole = hole_mask()
    damaged = np.where(hole[..., None], 0.0, truth)
    req = request(damaged, hole, prior=truth)
    assert WarpFiller()(req) is truth
    telea = TeleaFiller()(req)
    assert np.array_equal(telea[~hole], damaged[~hole]) and (telea[hole] > 0).all()


def test_probe_holes_have_the_hole_shape_and_stay_clear_of_it():
    hole = hole_mask()
    probes = probe_holes(hole, count=3)
    assert len(probes) == 3
    for p in probes:
        assert p.sum() == hole.sum()
        assert not (p & hole).any()


def test_an_interior_hole_of_a_640x480_view_gets_probes_in_its_judging_crop():
    from inconddiff.prior.crops import crop_around_hole, resize_mask

    mask = np.zeros((480, 640), bool)
    mask[200:280, 280:380] = True  # in the middle of the view, far from every border
    fill_crop = crop_around_hole(mask, 512, 0.5)
    assert (
        probe_holes(resize_mask(fill_crop.cut(mask), fill_crop.work_shape)) == []
    )  # the fill crop: too small
    judging = crop_around_hole(mask, 512, JUDGE_CONTEXT)
    probes = probe_holes(resize_mask(judging.cut(mask), judging.work_shape), 2)
    assert len(probes) == 2


class Constant:
    def __init__(self, name, image):
        self.name, self.image = name, image
        self.calls = 0

    def __call__(self, request):
        self.calls += 1
        return self.image


def test_auto_picks_the_filler_that_refills_the_probes_better_and_records_why():
    truth = textured()
    hole = hole_mask()
    probes = np.zeros_like(hole)
    probes[2:14, 4:16] = True
    judge = request(truth, hole | probes, probes=probes)
    right = Constant("right", truth)
    wrong = Constant("wrong", np.zeros_like(truth))
    best = BestOfFiller([wrong, right])
    out = best(request(truth, hole, judge=judge))
    assert best.last_method == "right" and out is truth
    assert best.last_scores["right"] == 0.0 and best.last_scores["wrong"] > 0.1
    assert best.last_probe_fraction == probes.mean()
    assert right.calls == 2 and wrong.calls == 1  # each judged once, then the winner fills the hole
    # without probes the first candidate is used and nothing is claimed about the others
    best(request(truth, hole))
    assert best.last_method == "wrong" and best.last_scores == {} and best.last_probe_fraction == 0.0


def test_diffusion_filler_changes_only_invented_pixels_and_attends_to_the_best_references():
    from inconddiff.removal.diffusion_filler import MAX_ATTENDED_REFERENCES, DiffusionFiller

    calls = {}

    class RecordingPipe:
        def set_progress_bar_config(self, **_):
            pass

        def __call__(self, image, hole, **kwargs):
            calls.update(kwargs)
            return SimpleNamespace(images=[np.full_like(image, 0.5)])  # changes every pixel it is given

    h, w = 64, 96
    image = textured(h, w)
    hole = np.zeros((h, w), bool)
    hole[16:48, 24:72] = True
    provenance = np.where(hole, COPIED, KEPT).astype(np.uint8)
    provenance[16:48, 60:72] = INVENTED
    provenance[16:20, 24:40] = CARRIED
    refs = [PreparedReference(f"r{i}", 1.0 - 0.1 * i, image + 0.01 * i, hole) for i in range(5)]
    prior = textured(h, w, seed=3)
    out = DiffusionFiller(RecordingPipe())(
        request(image, hole, prior=prior, provenance=provenance, references=refs)
    )
    attended = calls["reference_images"]
    assert len(attended) == MAX_ATTENDED_REFERENCES == len(calls["reference_masks"])
    assert all(np.array_equal(a, r.crop) for a, r in zip(attended, refs, strict=False))  # the best ranked
    assert calls["prior_images"] is prior and np.array_equal(calls["prior_masks"], provenance == COPIED)
    copied_or_carried = hole & (provenance != INVENTED)
    assert np.array_equal(out[copied_or_carried], prior[copied_or_carried])  # exact, seams included
    assert np.allclose(out[provenance == INVENTED], 0.5)  # invented: the model's
