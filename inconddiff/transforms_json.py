"""nerfstudio's transforms.json from plain camera arrays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def nerfstudio_frame(
    K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int, file_path: str
) -> dict:
    """One frame: camera-to-world in OpenGL axes (x right, y up, z back) with its own intrinsics."""
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -R.T @ t
    c2w[:3, 1:3] *= -1
    return {
        "file_path": file_path,
        "transform_matrix": c2w.tolist(),
        "fl_x": float(K[0, 0]),
        "fl_y": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "w": int(width),
        "h": int(height),
    }


def nerfstudio_transforms(frames: list[dict], mask_paths: list[str | None] | None = None) -> dict:
    """transforms.json content for frames from `nerfstudio_frame` (pinhole, no distortion).

    Intrinsics shared by every frame are also written at the top level, as nerfstudio's own tools do.
    """
    frames = [dict(f) for f in frames]
    if mask_paths is not None:
        for f, m in zip(frames, mask_paths, strict=True):
            if m is not None:
                f["mask_path"] = m
    out: dict = {"camera_model": "OPENCV"}
    keys = ("fl_x", "fl_y", "cx", "cy", "w", "h")
    if frames and all(all(f[k] == frames[0][k] for k in keys) for f in frames):
        out.update({k: frames[0][k] for k in keys})
    out.update({"k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames})
    return out


POINTS_FILE = "sparse_points.ply"


def write_points_ply(path: Path, points: np.ndarray) -> None:
    """Points (N, 3) as an ASCII PLY (what nerfstudio's dataparser reads with `load_3D_points`)."""
    header = f"ply\nformat ascii 1.0\nelement vertex {len(points)}\nproperty float x\nproperty float y\n"
    header += "property float z\nend_header\n"
    body = "\n".join(f"{x:.6g} {y:.6g} {z:.6g}" for x, y, z in points)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + body + ("\n" if len(points) else ""))
    os.replace(tmp, path)


def write_transforms(
    geometry,
    stems: list[str],
    folder: str | os.PathLike,
    image_dir: str = "images",
    points: np.ndarray | None = None,
) -> Path:
    """Write folder/transforms.json for the registered views among `stems` (images as PNG by stem); with
    `points` (N, 3, world frame), also folder/sparse_points.ply, named in transforms.json as nerfstudio's
    `ply_file_path` (a radiance field's scene box is chosen from them)."""
    folder = Path(folder)
    frames = []
    for stem in stems:
        cam = geometry.cameras.get(stem)
        if cam is not None:
            frames.append(
                nerfstudio_frame(cam.K, cam.R, cam.t, cam.width, cam.height, f"{image_dir}/{stem}.png")
            )
    meta = nerfstudio_transforms(frames)
    if points is not None and len(points):
        write_points_ply(folder / POINTS_FILE, points)
        meta["ply_file_path"] = POINTS_FILE
    path = folder / "transforms.json"
    tmp = folder / ".transforms.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)
    return path
