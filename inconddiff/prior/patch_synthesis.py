"""Invent what no view saw from the texture around it: multi-scale patch-based completion.

Wexler, Shechtman and Irani, "Space-Time Completion of Video" (PAMI 2007), with Barnes et al.'s PatchMatch
(SIGGRAPH 2009) for the nearest-neighbour search: every patch that overlaps the hole is matched to the most
similar patch lying wholly in the known pixels, each hole pixel becomes the similarity-weighted vote of the
matched patches that cover it, and the two steps alternate, coarse to fine; at full size the last step takes
the best-matched patch's colour instead of the vote (`SHARP_FINISH`). The result continues the
surroundings' edges and texture (grass stays grass, a pedestal's rim runs on) where a smooth fill leaves a
flat blob in the object's outline. The coarsest level starts from the nearest known colours (the surfaces
around the hole grown inwards, so the pedestal stays pale and the grass green rather than blending into a
colour neither has); without enough whole patches to draw on, the membrane (`membrane.membrane_fill`) stands.

The search runs on whole arrays: propagation takes the offsets of neighbours 8, 4, 2 and 1 pixels away (jump
flooding), random search samples around the current match at shrinking radii. Seeded: the same input gives the
same output.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, distance_transform_edt

from inconddiff.prior.membrane import membrane_fill

PATCH_RADIUS = 3
"""Patches are (2 r + 1)^2 pixels: 7 x 7."""
COARSEST_SIDE = 32
"""The pyramid's coarsest level has a longer side of about this many pixels."""
ITERATIONS_COARSE = 8
"""Search-and-vote rounds at the coarsest level..."""
ITERATIONS_FINE = 3
"""...and at each finer one (the upsampled matches are already close)."""
SHARP_FINISH = True
"""After the last round at full size, each hole pixel takes the colour of the best-matched patch covering it
rather than the vote of all of them: the vote averages 49 patches a few pixels apart and washes the texture
out, so that an invented region shows as a smooth patch in its outline (the statue's lawn)."""
MIN_SOURCES = 16
"""With fewer wholly known patches than this, there is no texture to draw on: the membrane stands."""


def patch_fill(
    image: np.ndarray, hole: np.ndarray, source: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """`image` (float h x w x 3 in [0, 1]) with the pixels of `hole` synthesised from patches lying wholly in
    `source` (default: everything outside `hole`); pixels outside `hole` are returned unchanged (float64)."""
    out = np.array(image, dtype=np.float64, copy=True)
    if not hole.any():
        return out
    source = ~hole if source is None else source & ~hole
    h, w = hole.shape
    levels = max(1, int(np.floor(np.log2(max(h, w) / COARSEST_SIDE))) + 1)
    pyramid = [(out, hole, source)]
    for _ in range(levels - 1):
        img, hl, src = pyramid[-1]
        size = ((img.shape[1] + 1) // 2, (img.shape[0] + 1) // 2)
        if min(size) < 2 * PATCH_RADIUS + 2:
            break
        small = cv2.resize(img.astype(np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float64)
        hl_small = cv2.resize(hl.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 1e-3
        src_small = cv2.resize(src.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 1 - 1e-3
        pyramid.append((small, hl_small, src_small & ~hl_small))
    rng = np.random.default_rng(seed)
    img, hl, src = pyramid[-1]
    current = nearest_known(img, hl)
    previous = None
    for level in range(len(pyramid) - 1, -1, -1):
        img, hl, src = pyramid[level]
        if level < len(pyramid) - 1:
            up = cv2.resize(
                current.astype(np.float32), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR
            )
            current = np.where(hl[..., None], up, img)
        level_synth = _Level(current, hl, src, rng)
        if level_synth.sources < MIN_SOURCES:
            return membrane_fill(out, hole)
        nnf = level_synth.start(previous)
        rounds = ITERATIONS_COARSE if level == len(pyramid) - 1 else ITERATIONS_FINE
        for i in range(rounds):
            nnf = level_synth.search(nnf)
            if level == 0 and i == rounds - 1 and SHARP_FINISH:
                current = level_synth.vote_best(nnf)
            else:
                current = level_synth.vote(nnf)
        previous = (nnf, level_synth.index)
    out[hole] = current[hole]
    return out


def nearest_known(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Each hole pixel takes the colour of the nearest pixel outside the hole."""
    _, (iy, ix) = distance_transform_edt(hole, return_indices=True)
    return np.where(hole[..., None], image[iy, ix], image)


class _Level:
    """One pyramid level: the image being completed, its hole, and where whole source patches lie."""

    def __init__(self, image: np.ndarray, hole: np.ndarray, source: np.ndarray, rng: np.random.Generator):
        r = PATCH_RADIUS
        self.rng = rng
        self.h, self.w = hole.shape
        self.hole = hole
        self.image = image
        structure = np.ones((2 * r + 1, 2 * r + 1), bool)
        # a source patch lies wholly inside the image and the source pixels
        inner = np.zeros_like(source)
        inner[r : self.h - r, r : self.w - r] = True
        self.valid = binary_erosion(source, structure) & inner
        self.sources = int(self.valid.sum())
        self.valid_yx = np.argwhere(self.valid)
        # target patches: every patch centre whose patch touches the hole, kept inside the image
        target = binary_dilation(hole, structure) & inner
        self.target_yx = np.argwhere(target)
        self.index = np.full((self.h, self.w), -1, np.int64)
        self.index[self.target_yx[:, 0], self.target_yx[:, 1]] = np.arange(len(self.target_yx))
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        self.offsets = np.stack([dy.ravel(), dx.ravel()], 1)
        self.flat_offsets = dy.ravel() * self.w + dx.ravel()

    def start(self, previous: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """Initial matches: random sources, or the coarser level's (matches, its target index) scaled up where
        they are still valid."""
        n = len(self.target_yx)
        nnf = self.valid_yx[self.rng.integers(0, len(self.valid_yx), n)]
        if previous is not None:
            coarse, index = previous
            cy = np.clip(self.target_yx[:, 0] // 2, 0, index.shape[0] - 1)
            cx = np.clip(self.target_yx[:, 1] // 2, 0, index.shape[1] - 1)
            k = index[cy, cx]
            scaled = coarse[np.maximum(k, 0)] * 2 + (self.target_yx % 2)
            ok = (k >= 0) & self._is_valid(scaled)
            nnf[ok] = scaled[ok]
        return nnf

    def _is_valid(self, yx: np.ndarray) -> np.ndarray:
        inside = (yx[:, 0] >= 0) & (yx[:, 0] < self.h) & (yx[:, 1] >= 0) & (yx[:, 1] < self.w)
        out = np.zeros(len(yx), bool)
        out[inside] = self.valid[yx[inside, 0], yx[inside, 1]]
        return out

    def _patches(self, yx: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """The patches centred at `yx` (n, 2) of `flat` (the image as (h w, 3)): (n, patch pixels, 3)."""
        return flat[(yx[:, 0] * self.w + yx[:, 1])[:, None] + self.flat_offsets[None]]

    def _cost(self, nnf: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
        """Sum of squared differences between the target patches (`which` of them) and their matches."""
        targets = self.target_patches if which is None else self.target_patches[which]
        diff = targets - self._patches(nnf, self.flat)
        return np.einsum("npc,npc->n", diff, diff)

    def _try(self, nnf: np.ndarray, candidate: np.ndarray, which: np.ndarray) -> None:
        """Replace the matches of targets `which` by `candidate` where it is a valid, cheaper patch."""
        ok = self._is_valid(candidate)
        which, candidate = which[ok], candidate[ok]
        if not len(which):
            return
        cost = self._cost(candidate, which)
        better = cost < self.cost[which]
        nnf[which[better]] = candidate[better]
        self.cost[which[better]] = cost[better]

    def search(self, nnf: np.ndarray) -> np.ndarray:
        """One PatchMatch round: propagation from neighbours at 8, 4, 2, 1 pixels, then random search."""
        nnf = nnf.copy()
        self.flat = self.image.reshape(-1, self.image.shape[2]).astype(np.float32)
        self.target_patches = self._patches(self.target_yx, self.flat)
        self.cost = self._cost(nnf)
        t = self.target_yx
        for step in (8, 4, 2, 1):
            for dy, dx in ((step, 0), (-step, 0), (0, step), (0, -step)):
                ny, nx = t[:, 0] - dy, t[:, 1] - dx
                inside = (ny >= 0) & (ny < self.h) & (nx >= 0) & (nx < self.w)
                k = np.full(len(t), -1, np.int64)
                k[inside] = self.index[ny[inside], nx[inside]]
                which = np.nonzero(k >= 0)[0]
                self._try(nnf, nnf[k[which]] + np.array([dy, dx]), which)
        radius = max(self.h, self.w)
        which = np.arange(len(t))
        while radius >= 1:
            jitter = self.rng.integers(-radius, radius + 1, (len(t), 2))
            self._try(nnf, nnf + jitter, which)
            radius //= 2
        self._try(nnf, self.valid_yx[self.rng.integers(0, len(self.valid_yx), len(t))], which)
        return nnf

    def vote(self, nnf: np.ndarray) -> np.ndarray:
        """Each hole pixel: the mean of the colours the matched patches covering it give it, weighted by
        how well each patch matched (exp(-cost / the 75th percentile of the costs))."""
        sigma = max(float(np.percentile(self.cost, 75)), 1e-8)
        weight = np.exp(-self.cost / sigma)
        size = self.h * self.w
        channels = self.image.shape[2]
        acc = np.zeros((size, channels))
        norm = np.zeros(size)
        for dy, dx in self.offsets:
            at = (self.target_yx[:, 0] + dy) * self.w + self.target_yx[:, 1] + dx
            colours = self.image[nnf[:, 0] + dy, nnf[:, 1] + dx]
            norm += np.bincount(at, weight, size)
            for c in range(channels):
                acc[:, c] += np.bincount(at, weight * colours[:, c], size)
        voted = (acc / np.maximum(norm, 1e-12)[:, None]).reshape(self.h, self.w, channels)
        norm = norm.reshape(self.h, self.w)
        fill = self.hole & (norm > 0)
        self.image = np.where(fill[..., None], voted, self.image)
        return self.image

    def vote_best(self, nnf: np.ndarray) -> np.ndarray:
        """Each hole pixel: the colour the best-matched patch covering it gives it."""
        size = self.h * self.w
        best = np.full(size, np.inf)
        colour = np.zeros((size, self.image.shape[2]))
        for dy, dx in self.offsets:
            # one offset's covered pixels are distinct: a plain masked assignment keeps the cheapest
            at = (self.target_yx[:, 0] + dy) * self.w + self.target_yx[:, 1] + dx
            better = self.cost < best[at]
            best[at[better]] = self.cost[better]
            colour[at[better]] = self.image[nnf[better, 0] + dy, nnf[better, 1] + dx]
        fill = self.hole & np.isfinite(best).reshape(self.h, self.w)
        self.image = np.where(fill[..., None], colour.reshape(self.h, self.w, -1), self.image)
        return self.image
