"""How far a reconstruction's cameras are from the true ones, up to the similarity COLMAP cannot know."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def true_poses(capture: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The true world-to-camera (R, t) of a generated capture (gt/cameras.npz), by image file name."""
    from inconddiff.evaluation.synthetic import load_gt_cameras

    gt = load_gt_cameras(capture)
    return {str(n): (gt["R"][i], gt["t"][i]) for i, n in enumerate(gt["names"])}


@dataclass
class CameraErrors:
    """Per registered view with a true pose, after the best similarity alignment of the camera centres."""

    centre: np.ndarray
    """Distance of the camera centre from the true one, as a fraction of `extent`."""
    axis_deg: np.ndarray
    """Angle between the optical axis and the true one (roll left out)."""
    extent: float
    """Diagonal of the true centres' bounding box."""


def camera_errors(
    sparse_dir: str | os.PathLike, truth: dict[str, tuple[np.ndarray, np.ndarray]]
) -> CameraErrors:
    """The errors of the COLMAP model's cameras against `truth` (image file name -> true world-to-camera
    (R, t))."""
    import pycolmap

    est_c, true_c, est_axes, true_axes = [], [], [], []
    for img in pycolmap.Reconstruction(str(sparse_dir)).images.values():
        if not img.has_pose or img.name not in truth:
            continue
        pose = img.cam_from_world().matrix()
        R, t = pose[:, :3], pose[:, 3]
        Rt, tt = truth[img.name]
        est_c.append(-R.T @ t)
        true_c.append(-Rt.T @ tt)
        est_axes.append(R[2])
        true_axes.append(Rt[2])
    est_c, true_c = np.array(est_c), np.array(true_c)
    s, Ra, ta = umeyama(est_c, true_c)
    extent = float(np.linalg.norm(true_c.max(0) - true_c.min(0)))
    centre = np.linalg.norm(s * est_c @ Ra.T + ta - true_c, axis=1) / extent
    cos = (np.array(est_axes) @ Ra.T * np.array(true_axes)).sum(1)
    return CameraErrors(centre, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), extent)
