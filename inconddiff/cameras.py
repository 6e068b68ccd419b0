"""Cameras and sparse geometry as plain arrays: what every geometric step reads.

Cameras are (K 3x3, R 3x3, t 3) world-to-camera in OpenCV axes, pixel centres at +0.5. A `SceneGeometry`
holds the registered cameras by image stem with the sparse 3D points and their tracks
(`colmap_tools.sparse_model.load_scene_geometry` reads one from a COLMAP model).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: intrinsics K, world-to-camera R, t, and image size."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def project(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) (pixel centres at +0.5) and depths (N,) of world points (N, 3)."""
        cam = X @ self.R.T + self.t
        z = cam[:, 2]
        uv = cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = uv[:, :2] / uv[:, 2:3]
        return uv, z

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """World points (N, 3) of pixels uv (N, 2) at z-depths (N,)."""
        ones = np.ones((len(uv), 1))
        rays = np.concatenate([uv, ones], 1) @ np.linalg.inv(self.K).T
        cam = rays * depth[:, None]
        return (cam - self.t) @ self.R

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t


@dataclass
class SceneGeometry:
    """Cameras by image stem, 3D points (N, 3) and their tracks [(image stem, x, y), ...]."""

    cameras: dict[str, Camera]
    points: np.ndarray
    tracks: list[list[tuple[str, float, float]]]

    @functools.cached_property
    def observations(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per view: indices (M,) of the points it observes and where (M, 2)."""
        idx: dict[str, list[int]] = {}
        xy: dict[str, list[tuple[float, float]]] = {}
        for i, track in enumerate(self.tracks):
            for name, x, y in track:
                idx.setdefault(name, []).append(i)
                xy.setdefault(name, []).append((x, y))
        return {n: (np.array(idx[n], dtype=np.int64), np.array(xy[n], dtype=np.float64)) for n in idx}


def background_points(geometry: SceneGeometry, masks: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean (N,) marking points that are not on the object: fewer than half of their observations
    fall inside the observing view's mask. Views without a mask count as background."""
    inside = np.zeros(len(geometry.points), dtype=np.int64)
    for name, (idx, xy) in geometry.observations.items():
        m = masks.get(name)
        if m is None:
            continue
        x, y = xy[:, 0].astype(np.int64), xy[:, 1].astype(np.int64)
        ok = (y >= 0) & (y < m.shape[0]) & (x >= 0) & (x < m.shape[1])
        hit = np.zeros(len(idx), dtype=bool)
        hit[ok] = m[y[ok], x[ok]]
        np.add.at(inside, idx[hit], 1)
    lengths = np.array([max(len(t), 1) for t in geometry.tracks], dtype=np.int64)
    return inside * 2 < lengths


def crop_pixel_grid(window: tuple[int, int, int, int], work_shape: tuple[int, int]) -> np.ndarray:
    """Full-resolution pixel coordinates (h, w, 2) of the working-resolution pixels of a crop window."""
    y0, y1, x0, x1 = window
    h, w = work_shape
    xs = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    ys = y0 + (np.arange(h) + 0.5) * (y1 - y0) / h
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], -1)
