"""InConDiffPipeline: exact pixels outside the hole, seeds, any size, batches, schedulers, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from tiny_model import TINY

from inconddiff.models import InConDiffDenoiser
from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline


@pytest.fixture
def pipe():
    torch.manual_seed(0)
    unet = InConDiffDenoiser(**TINY)
    for p in unet.parameters():  # as if trained: the correction is not zero
        torch.nn.init.normal_(p, std=0.05)
    p = InConDiffPipeline(unet, InConDiffPipeline.default_scheduler())
    p.set_progress_bar_config(disable=True)
    return p


def case(h=21, w=30, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (h, w, 3))
    hole = np.zeros((h, w), bool)
    hole[5:14, 8:20] = True
    refs = [rng.uniform(0, 1, (17, 25, 3)) for _ in range(2)]
    ref_masks = [np.zeros((17, 25), bool), None]
    warps = [np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1)]
    return image, hole, refs, ref_masks, warps


def run(pipe, image, hole, refs, ref_masks, warps, seed=0, **kw):
    return pipe(
        image,
        hole,
        reference_images=refs,
        reference_masks=ref_masks,
        warped_references=warps,
        warped_masks=[np.ones(hole.shape, bool)] * len(warps),
        generator=torch.Generator().manual_seed(seed),
        **kw,
    )


@pytest.mark.parametrize("k", [0, 1, 2])
def test_pixels_outside_the_hole_come_back_exactly(pipe, k):
    image, hole, refs, ref_masks, warps = case()
    out = run(pipe, image, hole, refs[:k], ref_masks[:k], warps, num_inference_steps=2, strength=0.5)
    result = out.images[0]
    assert result.shape == image.shape  # odd sizes are padded and cropped back
    assert np.array_equal(result[~hole], image[~hole])
    assert not np.allclose(result[hole], image[hole])
    # the prior is the warp where valid, up to a smooth offset matching it to the pixels around the hole
    offset = out.priors[0] - warps[0]
    inner = hole & np.roll(hole, 1, axis=1)
    assert (
        np.abs(np.diff(offset, axis=1))[inner[:, 1:]].mean()
        < 0.1 * np.abs(np.diff(warps[0], axis=1))[inner[:, 1:]].mean()
    )


def test_same_seed_same_output_other_seed_other_output(pipe):
    args = case()
    a = run(pipe, *args, seed=3, num_inference_steps=2, strength=0.6).images
    b = run(pipe, *args, seed=3, num_inference_steps=2, strength=0.6).images
    c = run(pipe, *args, seed=4, num_inference_steps=2, strength=0.6).images
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batch_matches_single_calls(pipe):
    a, b = case(seed=1), case(h=16, w=16, seed=2)
    singles = [run(pipe, *x, num_inference_steps=1).images[0] for x in (a, b)]
    batch = pipe(
        [a[0], b[0]],
        [a[1], b[1]],
        reference_images=[a[2], b[2]],
        reference_masks=[a[3], b[3]],
        warped_references=[a[4], b[4]],
        warped_masks=[[np.ones(a[1].shape, bool)], [np.ones(b[1].shape, bool)]],
        num_inference_steps=1,
        generator=torch.Generator().manual_seed(0),
    ).images
    assert len(batch) == 2 and batch[1].shape == (16, 16, 3)
    assert np.allclose(batch[0], singles[0], atol=1e-5)


@pytest.mark.parametrize("scheduler_cls", [DDPMScheduler, DPMSolverMultistepScheduler])
def test_other_schedulers_plug_in(pipe, scheduler_cls):
    pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    image, hole, *rest = case()
    out = run(pipe, image, hole, *rest, num_inference_steps=3, strength=0.5).images[0]
    assert np.isfinite(out).all() and np.array_equal(out[~hole], image[~hole])


def test_output_types_and_bad_inputs(pipe):
    image, hole, *rest = case()
    pil = run(pipe, image, hole, *rest, output_type="pil").images
    assert pil[0].size == (30, 21)
    pt = run(pipe, image, hole, *rest, output_type="pt").images
    assert pt.shape == (1, 3, 21, 30)
    with pytest.raises(ValueError, match="differ in size"):
        run(pipe, image, hole[:10], *rest)
    with pytest.raises(ValueError, match="strength"):
        run(pipe, image, hole, *rest, strength=0.0)


def test_save_and_load_round_trip(pipe, tmp_path):
    args = case()
    pipe.save_pretrained(tmp_path / "p")
    again = InConDiffPipeline.from_pretrained(tmp_path / "p")
    again.set_progress_bar_config(disable=True)
    assert np.allclose(run(pipe, *args).images, run(again, *args).images, atol=1e-5)


def test_model_resolution_adds_an_upsampled_correction_to_the_full_size_prior(pipe):
    image, hole, refs, ref_masks, warps = case(h=60, w=90)
    hole[:] = False
    hole[15:45, 20:70] = True
    out = run(pipe, image, hole, refs, ref_masks, warps, model_resolution=32)
    result, prior = out.images[0], out.priors[0]
    assert result.shape == image.shape
    assert np.array_equal(result[~hole], image[~hole])
    correction = (result - prior)[hole]
    assert np.abs(correction).max() > 1e-3  # the (randomly initialised) model did change the prior
    # the correction was made at 32 px and upsampled: it is smooth at full size, the prior's noise is kept
    rough = np.abs(np.diff(result - prior, axis=1))[hole[:, 1:] & hole[:, :-1]].mean()
    assert rough < np.abs(np.diff(prior, axis=1))[hole[:, 1:] & hole[:, :-1]].mean() / 3

    untrained = InConDiffPipeline(InConDiffDenoiser(**TINY), InConDiffPipeline.default_scheduler())
    untrained.set_progress_bar_config(disable=True)
    same = run(untrained, image, hole, refs, ref_masks, warps, model_resolution=32)
    assert np.allclose(same.images[0], same.priors[0], atol=1e-6)  # zero correction: the prior exactly


def test_model_runs_at_its_training_size_by_default():
    torch.manual_seed(0)
    unet = InConDiffDenoiser(**TINY, sample_size=32)
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    pipe = InConDiffPipeline(unet, InConDiffPipeline.default_scheduler())
    pipe.set_progress_bar_config(disable=True)
    image, hole, refs, ref_masks, warps = case(h=60, w=90)
    default = run(pipe, image, hole, refs, ref_masks, warps).images[0]
    explicit = run(pipe, image, hole, refs, ref_masks, warps, model_resolution=32).images[0]
    full = run(pipe, image, hole, refs, ref_masks, warps, model_resolution=0).images[0]
    assert np.array_equal(default, explicit)
    assert not np.allclose(default, full)


def test_neutral_correction_cannot_shift_the_fills_mean_colour(pipe):
    image, hole, refs, ref_masks, warps = case()
    with torch.no_grad():
        pipe.unet.conv_out.bias.fill_(0.4)  # a model that brightens every fill
    shifted = run(pipe, image, hole, refs, ref_masks, warps, neutral_correction=False)
    neutral = run(pipe, image, hole, refs, ref_masks, warps, neutral_correction=True)
    prior = neutral.priors[0]
    assert (shifted.images[0] - prior)[hole].mean() > 0.1
    assert abs((neutral.images[0] - prior)[hole].mean()) < 0.02
    assert not np.allclose(neutral.images[0][hole], prior[hole])  # the structure of the correction stays
