"""Colour harmonisation: a fill or a warp brought to the exposure of the pixels around its hole."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter

SMOOTH_SIGMA_PX = 4.0
"""`harmonise` spreads the offset at a resolution where its Gaussian is this many pixels wide: the offset is smooth
on the scale of sigma, and a full-resolution Gaussian of a 12 MP photo's hole (sigma in the hundreds of pixels)
costs seconds."""


def harmonise(fill: np.ndarray, original: np.ndarray, mask: np.ndarray, ring: int = 6, sigma: float = 6.0):
    """Match a fill's colour to its surroundings: the fill's disagreement with the original in a ring just
    outside the hole is spread smoothly into the hole (normalised Gaussian convolution) and removed, so
    exposure and colour shifts vanish at the border and fade towards the hole's centre.

    `fill` and `original` are float HxWx3 in [0, 1] covering the same window; returns the corrected fill.
    """
    band = binary_dilation(mask, iterations=ring) & ~mask
    if not band.any():
        return fill
    diff = np.where(band[..., None], original - fill, 0.0)
    # far from any band pixel the weight vanishes: fall back to the band's mean offset there
    mean_offset = diff[band].mean(axis=0)
    h, w = mask.shape
    scale = min(1.0, SMOOTH_SIGMA_PX / sigma)
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    weight, spread = band.astype(np.float32), diff.astype(np.float32)
    if small != (h, w):
        weight = cv2.resize(weight, small[::-1], interpolation=cv2.INTER_AREA)
        spread = cv2.resize(spread, small[::-1], interpolation=cv2.INTER_AREA)
    s = sigma * small[0] / h
    weight = gaussian_filter(weight, s)
    spread = np.stack([gaussian_filter(spread[..., c], s) for c in range(3)], -1)
    alpha = np.clip(weight / (weight.max() + 1e-12) * 4, 0, 1)[..., None]
    offset = alpha * spread / np.maximum(weight, 1e-12)[..., None] + (1 - alpha) * mean_offset
    if small != (h, w):
        offset = cv2.resize(offset.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(fill + offset, 0.0, 1.0)


def match_colour(warped: np.ndarray, target: np.ndarray, valid: np.ndarray, hole: np.ndarray, ring: int = 8):
    """Per-channel gain and offset that map the warp onto the target in a ring around the hole."""
    band = cv2.dilate(hole.astype(np.uint8), np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)).astype(bool)
    sel = band & ~hole & valid
    if sel.sum() < 20:
        return warped
    out = warped.astype(np.float64).copy()
    for c in range(3):
        a, b = warped[..., c][sel], target[..., c][sel]
        gain = np.clip(b.std() / max(a.std(), 1e-6), 0.5, 2.0)
        out[..., c] = (warped[..., c] - a.mean()) * gain + b.mean()
    return np.clip(out, 0, 1)
