"""Shared fixtures: tiny synthetic captures rendered once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_capture(tmp_path_factory) -> Path:
    """An 8-view orbit capture at 64x48 with ground truth (read-only: copy it before changing it)."""
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    out = tmp_path_factory.mktemp("synth") / "tiny"
    return generate_capture(out, SynthConfig(views=8, width=64, height=48, seed=3))


@pytest.fixture(scope="session")
def small_capture(tmp_path_factory) -> Path:
    """A 16-view orbit capture at 160x120, enough for COLMAP to register every view."""
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    out = tmp_path_factory.mktemp("synth") / "small"
    return generate_capture(out, SynthConfig(views=16, width=160, height=120, seed=0))


@pytest.fixture
def capture(tiny_capture, tmp_path) -> Path:
    """A copy of the tiny synthetic capture with its ground-truth model as sparse/0."""
    cap = tmp_path / "capture"
    shutil.copytree(tiny_capture, cap)
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    return cap
