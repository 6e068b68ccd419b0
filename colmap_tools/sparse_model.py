"""A COLMAP model as plain arrays for the geometry code: cameras by image stem, 3D points, tracks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inconddiff.cameras import Camera, SceneGeometry
from inconddiff.capture import CaptureError


def load_scene_geometry(sparse_dir: str | os.PathLike) -> SceneGeometry:
    """Read a COLMAP model (binary or text) into a `SceneGeometry` keyed by image stem.

    Cameras become pinhole K (distortion, if any, is ignored: undistort first for strong lenses).
    """
    import pycolmap

    sparse_dir = Path(sparse_dir)
    if not sparse_dir.is_dir():
        raise CaptureError(sparse_dir, "COLMAP model folder not found")
    try:
        rec = pycolmap.Reconstruction(str(sparse_dir))
    except Exception as err:
        raise CaptureError(sparse_dir, f"unreadable COLMAP model ({err})") from err
    cameras: dict[str, Camera] = {}
    names: dict[int, str] = {}
    for image in rec.images.values():
        if not image.has_pose:
            continue
        cam = rec.cameras[image.camera_id]
        pose = image.cam_from_world().matrix()
        stem = Path(image.name).stem
        cameras[stem] = Camera(
            cam.calibration_matrix(), pose[:, :3].copy(), pose[:, 3].copy(), cam.width, cam.height
        )
        names[image.image_id] = stem
    points, tracks = [], []
    for point in rec.points3D.values():
        track = []
        for el in point.track.elements:
            if el.image_id in names:
                xy = rec.images[el.image_id].points2D[el.point2D_idx].xy
                track.append((names[el.image_id], float(xy[0]), float(xy[1])))
        if track:
            points.append(point.xyz)
            tracks.append(track)
    return SceneGeometry(cameras=cameras, points=np.array(points).reshape(-1, 3), tracks=tracks)
