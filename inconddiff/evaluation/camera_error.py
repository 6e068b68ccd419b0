"""How far a reconstruction's cameras are from the true ones, up to the similarity COLMAP cannot know."""

from __future__ import annotations

import os

import numpy as np


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising ||dst - (s R src + t)||^2 over points src, dst (N, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / a.var(0).sum())
    return s, R, mu_d - s * R @ mu_s


def centre_errors(
    sparse_dir: str | os.PathLike, truth: dict[str, tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Per registered view of the COLMAP model, the distance of its camera centre from the true one after the
    best similarity alignment, as a fraction of the diagonal of the true centres' bounding box. `truth` maps
    image file names to the true world-to-camera (R, t)."""
    import pycolmap

    est, true = [], []
    for img in pycolmap.Reconstruction(str(sparse_dir)).images.values():
        if not img.has_pose or img.name not in truth:
            continue
        pose = img.cam_from_world().matrix()
        R, t = truth[img.name]
        est.append(-pose[:, :3].T @ pose[:, 3])
        true.append(-R.T @ t)
    est, true = np.array(est), np.array(true)
    s, R, t = umeyama(est, true)
    extent = float(np.linalg.norm(true.max(0) - true.min(0)))
    return np.linalg.norm(s * est @ R.T + t - true, axis=1) / extent
