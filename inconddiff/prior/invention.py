"""What no view saw, made up: the choices (`INVENT`, light enough for the command line to import) and the
function that applies one (`invent_unseen`)."""

from __future__ import annotations

import numpy as np

INVENT = ("texture", "smooth")
"""How what no view saw is made up: 'texture', the surroundings' patches continued into it (`patch_synthesis`:
grass stays grass, an edge runs on); 'smooth', the membrane over it (`membrane`: the local mean, closer to the
truth in squared error, but a flat blob where the surroundings are textured)."""


def invent_unseen(image: np.ndarray, unseen: np.ndarray, source: np.ndarray, invent: str) -> np.ndarray:
    """`image` (float h x w x 3) with `unseen` made up as `invent` says (`INVENT`), drawing on `source`."""
    # imported here: the command line reads `INVENT` without loading OpenCV and SciPy
    if invent == "texture":
        from inconddiff.prior.patch_synthesis import patch_fill

        return patch_fill(image, unseen, source=source)
    if invent == "smooth":
        from inconddiff.prior.membrane import membrane_fill

        return membrane_fill(image, unseen)
    raise ValueError(f"invent must be one of {INVENT}, got {invent!r}")
