"""Training shards in memory: the `.npz` files `inconddiff.training.samples` writes, as batches of tensors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)


class ShardData:
    """All samples of the shards in a folder, in memory; rescanned for new shards on request."""

    KEYS = ("truth", "hole", "prior", "valid", "refs", "ref_invalid", "num_refs")
    OPTIONAL = ("ignore",)  # pixels that never enter the loss (fine-tuning: the object to remove)

    def __init__(self, folder: Path):
        self.folder = folder
        self.loaded: set[str] = set()
        self.arrays: dict[str, np.ndarray] = {}
        self.refresh()

    def refresh(self) -> int:
        new = sorted(
            p for p in self.folder.glob("*.npz") if not p.name.startswith(".") and p.name not in self.loaded
        )
        for p in new:
            with np.load(p) as data:
                n = len(data["truth"])
                for k in self.KEYS + self.OPTIONAL:
                    if k in data:
                        arr = data[k]
                    elif k in self.OPTIONAL:
                        arr = np.zeros((n, *data["hole"].shape[1:]), bool)
                    else:
                        raise KeyError(f"{p}: no array {k!r}")
                    self.arrays[k] = arr if k not in self.arrays else np.concatenate([self.arrays[k], arr])
            self.loaded.add(p.name)
        if new:
            logger.info("training data: %d samples from %d shards", len(self), len(self.loaded))
        return len(new)

    def __len__(self) -> int:
        return 0 if not self.arrays else len(self.arrays["truth"])

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        """Tensors for the samples `idx`: images in [-1, 1], masks in {0, 1}; random flips with `rng`."""
        a = {k: self.arrays[k][idx] for k in self.KEYS}
        k = max(1, int(a["num_refs"].max()))

        def img(x):
            return torch.from_numpy(x).float().div(127.5).sub(1.0)

        truth = img(a["truth"]).permute(0, 3, 1, 2)
        prior = img(a["prior"]).permute(0, 3, 1, 2)
        hole = torch.from_numpy(a["hole"]).float()[:, None]
        valid = torch.from_numpy(a["valid"]).float()[:, None]
        refs = img(a["refs"][:, :k]).permute(0, 1, 4, 2, 3)
        inv = torch.from_numpy(a["ref_invalid"][:, :k]).float()[:, :, None]
        refs = torch.cat([refs, inv], dim=2)
        if rng is not None:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            for t in (truth, prior, hole, valid):
                t[flip] = t[flip].flip(-1)
            refs[flip] = refs[flip].flip(-1)
        ignore = torch.from_numpy(self.arrays["ignore"][idx]).float()[:, None]
        if rng is not None:
            ignore[flip] = ignore[flip].flip(-1)
        masked = truth * (1 - hole)
        condition = torch.cat([masked, hole, prior, valid], dim=1)
        return {"truth": truth, "condition": condition, "references": refs, "hole": hole, "ignore": ignore}
