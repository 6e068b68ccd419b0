"""The reference-conditioned denoiser: shapes, K = 0 / 1 / 3, the prior at initialisation, save/load."""

from __future__ import annotations

import pytest
import torch
from tiny_model import TINY

from inconddiff.models import CONDITION_CHANNELS, InConDiffDenoiser


def inputs(b=2, k=1, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    cond = torch.randn(b, CONDITION_CHANNELS, size, size, generator=g)
    refs = torch.randn(b, k, 4, size, size, generator=g) if k else None
    return x, cond, refs


@pytest.mark.parametrize("k", [0, 1, 3])
def test_untrained_model_returns_the_prior(k):
    model = InConDiffDenoiser(**TINY)
    x, cond, refs = inputs(k=k)
    out = model(x, torch.tensor([3, 700]), cond, refs)
    assert out.shape == (2, 3, 16, 16)
    assert torch.equal(out, cond[:, 4:7])  # zero-initialised correction


@pytest.mark.parametrize("k", [1, 3])
def test_references_change_the_output_once_trained(k):
    torch.manual_seed(0)
    model = InConDiffDenoiser(**TINY)
    for p in model.parameters():  # stand-in for training: every weight non-zero
        torch.nn.init.normal_(p, std=0.2)
    x, cond, refs = inputs(k=k)
    a = model(x, 10, cond, refs)
    b = model(x, 10, cond, refs * 0.5)
    assert torch.isfinite(a).all()
    assert not torch.allclose(a, b)  # what the references show reaches the output
    assert not torch.allclose(a, model(x, 10, cond, None))  # and having them differs from having none


def test_no_references_and_an_empty_reference_batch_mean_the_same():
    torch.manual_seed(0)
    model = InConDiffDenoiser(**TINY)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x, cond, refs = inputs(k=2)
    alone = model(x, 10, cond, None)
    assert torch.equal(alone, model(x, 10, cond, refs[:, :0]))  # K = 0 given as a tensor
    assert torch.isfinite(alone).all() and not torch.equal(alone, cond[:, 4:7])  # a trained model corrects


def test_bad_shapes_are_refused():
    model = InConDiffDenoiser(**TINY)
    x, cond, _ = inputs(size=18)
    with pytest.raises(ValueError, match="multiples of 2"):
        model(x[..., :17, :17], 1, cond[..., :17, :17])
    with pytest.raises(ValueError, match="channels"):
        model(x, 1, cond[:, :5])


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = InConDiffDenoiser(**TINY)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    model.save_pretrained(tmp_path / "m")
    again = InConDiffDenoiser.from_pretrained(tmp_path / "m")
    assert list(again.config.block_out_channels) == list(model.config.block_out_channels)
    x, cond, refs = inputs(k=2)
    assert torch.allclose(model(x, 5, cond, refs), again(x, 5, cond, refs))
