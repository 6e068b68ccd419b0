"""OpenCV's Telea inpainting: the classical fill that needs no reference, and the prior's last resort."""

from __future__ import annotations

import cv2
import numpy as np


def telea(image: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV Telea inpainting of a float image in [0, 1]; pixels outside `hole` are returned unchanged."""
    u8 = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    filled = cv2.inpaint(u8, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA).astype(np.float64) / 255.0
    out = image.astype(np.float64).copy()
    out[hole] = filled[hole]
    return out
