"""Phantom objects for training samples: silhouettes of an ellipsoid in every view."""

from __future__ import annotations

import numpy as np

from inconddiff.cameras import Camera
from inconddiff.training.phantoms import ellipsoid_silhouette, phantom_masks


def test_a_sphere_straight_ahead_is_a_disc_of_its_projected_radius():
    K = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    cam = Camera(K, np.eye(3), np.zeros(3), 100, 80)
    m = ellipsoid_silhouette(cam, np.array([0.0, 0.0, 5.0]), np.eye(3) * 1.0)
    # a sphere of radius 1 at distance 5 subtends asin(1/5): a disc of radius 100 * tan(asin(0.2)) px
    r = 100 * np.tan(np.arcsin(0.2))
    assert abs(m.sum() - np.pi * r * r) < 0.05 * np.pi * r * r
    ys, xs = np.nonzero(m)
    assert abs(xs.mean() + 0.5 - 50) < 0.5 and abs(ys.mean() + 0.5 - 40) < 0.5
    assert not ellipsoid_silhouette(cam, np.array([0.0, 0.0, -5.0]), np.eye(3)).any()  # behind the camera


def test_phantoms_stand_in_several_views_at_the_drawn_size(tiny_capture):
    from colmap_tools.sparse_model import load_scene_geometry

    geometry = load_scene_geometry(tiny_capture / "gt" / "sparse" / "0")
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(6):
        drawn = phantom_masks(geometry, rng, fraction=(0.05, 0.1))
        assert drawn is not None
        anchor, masks = drawn
        assert anchor in masks and len(masks) >= 2
        shares.append(masks[anchor].mean())
    assert 0.02 < np.median(shares) < 0.2  # an ellipsoid of random axes around the drawn size
