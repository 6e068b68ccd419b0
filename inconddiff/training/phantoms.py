"""Phantom objects: an ellipsoid floating in front of a capture's surfaces, its silhouette cut out of every view.

A training sample made with one is the removal task itself, with the answer known: the object stands in every
view, so what lies right behind it is seen by some views and by none for the rest, and the views' own pixels
are the truth (nothing was really there). The copy fill then has copied, carried and invented parts as it does
on a real capture, and a model trained on it learns to correct what the copy fill gets wrong.
"""

from __future__ import annotations

import numpy as np

from inconddiff.cameras import Camera, SceneGeometry


def ellipsoid_silhouette(camera: Camera, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """bool (h, w): the pixels whose rays (through pixel centres) hit the ellipsoid {centre + axes @ u, |u| <= 1}
    in front of `camera`."""
    h, w = camera.height, camera.width
    ys, xs = np.mgrid[0:h, 0:w]
    pix = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5, np.ones(h * w)], 1)
    dirs = pix @ np.linalg.inv(camera.K).T @ camera.R  # world directions (rows)
    inv = np.linalg.inv(axes)
    p = inv @ (camera.centre - centre)
    q = dirs @ inv.T
    qq = (q * q).sum(1)
    pq = q @ p
    disc = pq * pq - qq * (p @ p - 1.0)
    far_root = (-pq + np.sqrt(np.maximum(disc, 0.0))) / np.maximum(qq, 1e-12)
    return ((disc >= 0) & (far_root > 0)).reshape(h, w)


def phantom_masks(
    geometry: SceneGeometry,
    rng: np.random.Generator,
    fraction: tuple[float, float] = (0.03, 0.15),
    anchor: str | None = None,
) -> tuple[str, dict[str, np.ndarray]] | None:
    """An ellipsoid between a view (`anchor`, or one drawn at random) and a sparse point it observes, sized to
    cover a `fraction` of that view drawn at random; returns (the anchor view, its silhouette in every view
    where it shows), or None when the drawn view observes no point."""
    names = sorted(geometry.cameras)
    anchor = anchor or names[int(rng.integers(len(names)))]
    idx = geometry.observations.get(anchor, (np.zeros(0, np.int64),))[0]
    if len(idx) == 0:
        return None
    camera = geometry.cameras[anchor]
    surface = geometry.points[idx[int(rng.integers(len(idx)))]]
    centre = camera.centre + (surface - camera.centre) * rng.uniform(0.55, 0.85)
    depth = float(camera.project(centre[None])[1][0])
    share = rng.uniform(*fraction)
    radius = depth * np.sqrt(share * camera.width * camera.height / np.pi) / camera.K[0, 0]
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    axes = rotation @ np.diag(radius * rng.uniform(0.6, 1.4, 3))
    masks = {}
    for name, cam in geometry.cameras.items():
        m = ellipsoid_silhouette(cam, centre, axes)
        if m.any():
            masks[name] = m
    if anchor not in masks:
        return None
    return anchor, masks
