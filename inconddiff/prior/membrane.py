"""Invent what no view saw as the smoothest surface that meets the known pixels around it.

The fill solves Laplace's equation over the hole, with the known pixels on its rim as fixed values and the
image's edges free (a membrane stretched over the hole). Where nothing of a surface's texture was observed,
the best guess in squared error is its local mean, not a continuation of the rim's detail: on the removal
benchmark's scenes the membrane comes closer to the object-free truth than Telea's inpainting, which drags
single rim pixels inwards as streaks (`benchmarks/removal_quality.py`; docs/RESULTS.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

ANCHOR = 1e-6
"""Weight tying every unknown pixel to the known pixels' mean colour, so that a part of the hole with no known
pixel around it (a crop that is all hole) still gets a unique, finite fill; far too small to move a fill that
has a rim."""


def membrane_fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`image` (float h x w x C, or h x w) with the pixels of `hole` replaced by the harmonic interpolation of
    the pixels around them; pixels outside `hole` are returned unchanged (as float64)."""
    out = np.array(image, dtype=np.float64, copy=True)
    if not hole.any():
        return out
    flat = out.reshape(out.shape[0], out.shape[1], -1)
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    n = len(ys)
    index = np.full((h, w), -1, np.int64)
    index[ys, xs] = np.arange(n)
    known = ~hole
    mean = flat[known].mean(0) if known.any() else np.full(flat.shape[2], 0.5)
    diagonal = np.full(n, ANCHOR)
    rhs = np.tile(ANCHOR * mean, (n, 1))
    rows, cols = [np.arange(n)], [np.arange(n)]
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        y, x = ys + dy, xs + dx
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        diagonal += inside  # a neighbour beyond the image's edge adds no constraint
        me, y, x = np.nonzero(inside)[0], y[inside], x[inside]
        other = index[y, x]
        free = other >= 0
        rows.append(me[free])
        cols.append(other[free])
        np.add.at(rhs, me[~free], flat[y[~free], x[~free]])
    values = np.concatenate([diagonal, *(-np.ones(len(r)) for r in rows[1:])])
    system = sp.csc_matrix((values, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    solution = spsolve(system, rhs)
    flat[ys, xs] = solution.reshape(n, -1)
    return out
