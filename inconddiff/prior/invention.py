"""What no view saw, made up: the choices (`INVENT`, light enough for the command line to import) and the
function that applies one (`invent_unseen`)."""

from __future__ import annotations

import numpy as np

INVENT = ("texture", "smooth", "detail")
"""How what no view saw is made up: 'texture', the surroundings' patches continued into it (`patch_synthesis`:
grass stays grass, an edge runs on); 'smooth', the membrane over it (`membrane`: the local mean, closer to the
truth in squared error, but a flat blob where the surroundings are textured); 'detail', the membrane with the
patches' fine detail on it, and the patches themselves where an unseen part is a large share of the hole
(`LARGE_SHARE`)."""

DETAIL_SIGMA = 2.0
"""'detail': the patches' detail is what a Gaussian of this many pixels removes from them..."""
DETAIL_GAIN = 0.5
"""...added at this strength. The patches' detail is uncorrelated with the truth's, so it costs squared error
in proportion to its energy; at half strength it cost nothing measurable on the removal benchmark's invented
pixels (docs/RESULTS.md)."""
LARGE_SHARE = 0.3
"""'detail': a connected unseen part that makes up at least this share of the hole takes the patches whole. A
membrane that large is the object's outline drawn as a flat blob of blended colours (the statue's pedestal
top and the grass behind it, 36-68% of each view's hole); the unseen parts of the removal benchmark's
scenes, slivers between copied pixels, are almost all smaller (docs/RESULTS.md)."""


def invent_unseen(image: np.ndarray, unseen: np.ndarray, source: np.ndarray, invent: str) -> np.ndarray:
    """`image` (float h x w x 3) with `unseen` made up as `invent` says (`INVENT`), drawing on `source` (the
    pixels outside the hole)."""
    if invent not in INVENT:
        raise ValueError(f"invent must be one of {INVENT}, got {invent!r}")
    # imported here: the command line reads `INVENT` without loading OpenCV and SciPy
    from inconddiff.prior.membrane import membrane_fill

    if invent == "smooth" or not unseen.any():
        return membrane_fill(image, unseen)
    from inconddiff.prior.patch_synthesis import patch_fill

    patches = patch_fill(image, unseen, source=source)
    if invent == "texture":
        return patches
    import cv2

    large = large_parts(unseen, LARGE_SHARE * max(int((~source).sum()), 1))
    small = unseen & ~large
    # parts are 4-connected components and the membrane couples 4-neighbours, so the small parts' membrane
    # never reads the large parts' pixels: it is solved over the small parts alone
    out = membrane_fill(np.where(large[..., None], patches, image), small)
    detail = patches - cv2.GaussianBlur(patches, (0, 0), DETAIL_SIGMA)
    out[small] = np.clip(out[small] + DETAIL_GAIN * detail[small], 0.0, 1.0)
    return out


def large_parts(region: np.ndarray, pixels: float) -> np.ndarray:
    """The connected parts of `region` (bool h x w) of at least `pixels` pixels."""
    from scipy.ndimage import label

    labels, n = label(region)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return (sizes >= pixels)[labels]
