"""Crops around a hole, working-resolution resizing, and paste-back with colour harmonisation.

All on plain arrays: images uint8 HxWx3, masks bool HxW (True = hole).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter


@dataclass(frozen=True)
class CropBox:
    """A window (y0, y1, x0, x1) of a full-resolution image and the scale to the working resolution."""

    y0: int
    y1: int
    x0: int
    x1: int
    scale: float  # working size / crop size (<= 1: we never upsample)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def work_shape(self) -> tuple[int, int]:
        h, w = self.shape
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def cut(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0 : self.y1, self.x0 : self.x1]


def crop_around_hole(
    mask: np.ndarray, working_size: int, context: float = 0.5, min_size: int = 64
) -> CropBox:
    """The hole's bounding box grown by `context` times its size on each side (at least `min_size` in all),
    clipped to the image, with the scale that brings its longer side down to `working_size`."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("empty mask: nothing to crop around")
    h, w = mask.shape
    hy, hx = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()

    def span(lo: int, hi: int, extent: int, size: int) -> tuple[int, int]:
        grow = int(np.ceil(context * extent))
        lo, hi = lo - grow, hi + grow
        need = min(min_size, size) - (hi - lo)
        if need > 0:
            lo, hi = lo - need // 2, hi + need - need // 2
        shift = max(0, -lo) - max(0, hi - size)
        return max(0, lo + shift), min(size, hi + shift)

    y0, y1 = span(int(ys.min()), int(ys.max()) + 1, int(hy), h)
    x0, x1 = span(int(xs.min()), int(xs.max()) + 1, int(hx), w)
    scale = min(1.0, working_size / max(y1 - y0, x1 - x0))
    return CropBox(y0, y1, x0, x1, scale)


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an image to (height, width): area averaging when shrinking, bicubic when growing."""
    h, w = shape
    if image.shape[:2] == (h, w):
        return image.copy()
    shrinking = h * w < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(image, (w, h), interpolation=interp)
    if image.dtype == np.uint8:
        return out
    return out.astype(image.dtype)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a hole mask conservatively: a pixel is a hole if any part of it was."""
    if mask.shape == tuple(shape):
        return mask.copy()
    area = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return area > 1e-3


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
    weight = gaussian_filter(band.astype(np.float64), sigma)
    spread = np.stack([gaussian_filter(diff[..., c], sigma) for c in range(3)], -1)
    # far from any band pixel the weight vanishes: fall back to the band's mean offset there
    mean_offset = diff[band].mean(axis=0)
    alpha = np.clip(weight / (weight.max() + 1e-12) * 4, 0, 1)[..., None]
    offset = alpha * spread / np.maximum(weight, 1e-12)[..., None] + (1 - alpha) * mean_offset
    return np.clip(fill + offset, 0.0, 1.0)


def paste_back(
    original: np.ndarray, mask: np.ndarray, box: CropBox, fill_work: np.ndarray, harmonise_colour: bool = True
) -> np.ndarray:
    """Put a working-resolution fill of `box` back into the full-resolution `original`.

    Only pixels inside `mask` change; every other pixel is returned bit-identical.
    """
    crop = box.cut(original).astype(np.float64) / 255.0
    crop_mask = box.cut(mask)
    fill = fill_work.astype(np.float64)
    if fill_work.dtype == np.uint8:
        fill = fill / 255.0
    fill = np.clip(resize_image(fill.astype(np.float32), box.shape).astype(np.float64), 0, 1)
    if harmonise_colour:
        sigma = max(2.0, 0.15 * max(box.shape))
        fill = harmonise(fill, crop, crop_mask, ring=max(3, int(round(2 / box.scale))), sigma=sigma)
    out = original.copy()
    region = out[box.y0 : box.y1, box.x0 : box.x1]
    region[crop_mask] = np.round(fill[crop_mask] * 255).astype(np.uint8)
    return out


def hole_pixels_outside(mask: np.ndarray, box: CropBox) -> bool:
    """True when some hole pixels fall outside the crop (several holes far apart)."""
    inside = np.zeros_like(mask)
    inside[box.y0 : box.y1, box.x0 : box.x1] = True
    return bool((mask & ~inside).any())


def hole_components(mask: np.ndarray, merge_distance: int = 16) -> list[np.ndarray]:
    """Split a mask into groups of holes that are farther apart than `merge_distance` pixels."""
    grown = binary_dilation(mask, iterations=max(1, merge_distance // 2))
    n, labels = cv2.connectedComponents(grown.astype(np.uint8), connectivity=8)
    return [mask & (labels == k) for k in range(1, n)]
