"""Device choice at run time: CUDA when present, else CPU; never hard-coded."""

from __future__ import annotations

import torch


def get_device(name: str | None = None) -> torch.device:
    """`name` ('cpu', 'cuda', 'cuda:1', 'mps') when given, otherwise the best available device."""
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
