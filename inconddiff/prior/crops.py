"""Crops around a hole at working resolution, and their paste-back at full resolution.

All on plain arrays: images uint8 HxWx3, masks bool HxW (True = hole).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import binary_dilation

from inconddiff.prior.colour import harmonise


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
