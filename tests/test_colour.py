"""Colour harmonisation of a fill with the pixels around its hole."""

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter

from inconddiff.prior.colour import harmonise


def _full_resolution_harmonise(fill, original, mask, ring, sigma):
    """The normalised Gaussian convolution of the ring's offset at full resolution, as defined."""
    band = binary_dilation(mask, iterations=ring) & ~mask
    diff = np.where(band[..., None], original - fill, 0.0)
    weight = gaussian_filter(band.astype(np.float64), sigma)
    spread = np.stack([gaussian_filter(diff[..., c], sigma) for c in range(3)], -1)
    alpha = np.clip(weight / weight.max() * 4, 0, 1)[..., None]
    offset = alpha * spread / np.maximum(weight, 1e-12)[..., None] + (1 - alpha) * diff[band].mean(0)
    return np.clip(fill + offset, 0, 1)


def test_a_shifted_exposure_is_removed_at_the_border_and_a_wide_blur_stays_faithful():
    rng = np.random.default_rng(0)
    h, w = 240, 320
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - 120) / 70) ** 2 + ((xx - 160) / 90) ** 2 < 1
    original = np.clip(0.5 + 0.2 * np.sin(xx / 23.0)[..., None] + 0.02 * rng.standard_normal((h, w, 3)), 0, 1)
    fill = np.clip(original - 0.1, 0, 1)  # another exposure
    edge = mask & binary_dilation(~mask, iterations=3)  # the hole's pixels next to its border
    for sigma in (3.0, 40.0):  # spread at full resolution, and at a coarser one
        out = harmonise(fill, original, mask, ring=4, sigma=sigma)
        before = np.abs(fill[edge] - original[edge]).mean()
        assert np.abs(out[edge] - original[edge]).mean() < 0.35 * before, sigma
        reference = _full_resolution_harmonise(fill, original, mask, 4, sigma)
        assert np.abs(out - reference)[mask].max() < 1.5 / 255, sigma
