"""Random hole shapes for training: object-like blobs, brush strokes and boxes, of a chosen area."""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("blob", "stroke", "box")


def blob(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An object-like silhouette: a few overlapping ellipses, vertically biased, smoothed and thresholded."""
    h, w = shape
    canvas = np.zeros((h, w), np.float32)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    size = min(h, w) * rng.uniform(0.15, 0.3)
    for _ in range(int(rng.integers(2, 6))):
        oy, ox = rng.normal(0, 0.5 * size, 2)
        ay, ax = size * rng.uniform(0.4, 1.2), size * rng.uniform(0.25, 0.8)
        cv2.ellipse(
            canvas,
            (int(cx + ox), int(cy + oy)),
            (int(ax), int(ay)),
            float(rng.uniform(-30, 30)),
            0,
            360,
            1.0,
            -1,
        )
    # smoothed where the blob is only (a full-image blur costs more than all the rest of a sample)
    ys, xs = np.nonzero(canvas)
    if len(ys) == 0:
        return canvas > 0.5
    sigma = size * 0.1 + 0.5
    pad = int(3 * sigma) + 1
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    canvas[y0:y1, x0:x1] = cv2.GaussianBlur(canvas[y0:y1, x0:x1], (0, 0), sigma)
    return canvas > 0.5


def stroke(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A thick brush stroke along a random polyline."""
    h, w = shape
    canvas = np.zeros((h, w), np.uint8)
    pts = [np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])]
    step = min(h, w) * 0.15
    for _ in range(int(rng.integers(2, 6))):
        angle = rng.uniform(0, 2 * np.pi)
        pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    width = max(2, int(min(h, w) * rng.uniform(0.04, 0.1)))
    cv2.polylines(canvas, [np.array(pts, np.int32)], False, 1, width)
    return canvas > 0


def box(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An axis-aligned rectangle."""
    h, w = shape
    bh, bw = int(h * rng.uniform(0.12, 0.35)), int(w * rng.uniform(0.12, 0.35))
    y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
    m = np.zeros((h, w), bool)
    m[y0 : y0 + bh, x0 : x0 + bw] = True
    return m


def random_hole(
    shape: tuple[int, int],
    rng: np.random.Generator,
    area: tuple[float, float] = (0.03, 0.12),
    tries: int = 20,
) -> np.ndarray:
    """A hole of a random kind (blobs most often) covering a fraction of the image within `area`."""
    for _ in range(tries):
        kind = rng.choice(KINDS, p=[0.6, 0.2, 0.2])
        m = {"blob": blob, "stroke": stroke, "box": box}[kind](shape, rng)
        if area[0] <= m.mean() <= area[1]:
            return m
    return m if m.any() else box(shape, rng)
