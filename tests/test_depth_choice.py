"""Choosing the hidden background's depth among candidate surfaces by the views' colour agreement, on a scene
with exact geometry: a textured floor and a textured wall behind it, seen by cameras in a row."""

from __future__ import annotations

import cv2
import numpy as np

from inconddiff.cameras import Camera, crop_pixel_grid
from inconddiff.prior.depth_choice import background_planes, choose_depth

K = np.array([[80.0, 0, 48], [0, 80.0, 40], [0, 0, 1]])
WALL = 5.0
FLOOR = 1.0  # the floor is the plane y = FLOOR (y points down), in front of the wall


def camera_at(x: float) -> Camera:
    return Camera(K, np.eye(3), -np.array([x, 0.0, 0.0]), 96, 80)


def true_depth(cam: Camera) -> np.ndarray:
    """z-depth of the floor where the rays meet it before the wall, else the wall's."""
    ys = (np.arange(cam.height) + 0.5 - K[1, 2]) / K[1, 1]
    floor = np.where(ys > 1e-9, FLOOR / np.maximum(ys, 1e-9), np.inf)
    return np.repeat(np.minimum(floor, WALL)[:, None], cam.width, 1)


def render(cam: Camera, texture: np.ndarray) -> np.ndarray:
    """Wall texture by (x, y) on the wall, floor texture by (x, z) on the floor: 20 texture pixels a unit."""
    grid = crop_pixel_grid((0, cam.height, 0, cam.width), (cam.height, cam.width)).reshape(-1, 2)
    d = true_depth(cam).reshape(-1)
    X = cam.unproject(grid, d)
    on_floor = d < WALL - 1e-9
    u = X[:, 0] * 20 + texture.shape[1] / 2
    v = np.where(on_floor, X[:, 2] * 20, X[:, 1] * 20 + texture.shape[0] / 4)
    half = texture.shape[1] // 2
    u = np.where(on_floor, u / 2, u / 2 + half)  # floor and wall from different halves of the texture
    shape = (cam.height, cam.width)
    maps = u.reshape(shape).astype(np.float32), v.reshape(shape).astype(np.float32)
    return cv2.remap(texture, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float64)


def texture() -> np.ndarray:
    rng = np.random.default_rng(1)
    t = cv2.resize(rng.random((60, 80, 3)).astype(np.float32), (800, 600), interpolation=cv2.INTER_CUBIC)
    return np.clip(t, 0, 1)


def test_planes_are_found_one_after_another_among_points_on_two_surfaces():
    target = camera_at(0.0)
    truth = true_depth(target)
    rng = np.random.default_rng(0)
    uv = np.stack([rng.uniform(0, 96, 200), rng.uniform(0, 80, 200)], 1)
    ys = (uv[:, 1] - K[1, 2]) / K[1, 1]
    z = np.minimum(np.where(ys > 1e-9, FLOOR / np.maximum(ys, 1e-9), np.inf), WALL)
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96)).reshape(-1, 2)
    planes = background_planes(uv, z, grid)
    assert len(planes) >= 2
    wall, floor = truth.reshape(-1) >= WALL - 1e-9, truth.reshape(-1) < WALL - 1e-9
    close = [np.abs(p - truth.reshape(-1)) / truth.reshape(-1) < 0.01 for p in planes]
    assert any(c[wall].mean() > 0.99 for c in close)
    assert any(c[floor].mean() > 0.99 for c in close)


def test_the_surface_on_which_the_views_agree_replaces_a_wrong_default():
    """The default puts the floor at the wall's depth (as an interpolation over the wall's points would);
    the candidates are the two true planes. Where the floor and wall are seen, the views agree on the truth."""
    tex = texture()
    target = camera_at(0.0)
    truth = true_depth(target)
    sources = [(camera_at(x), render(camera_at(x), tex), None) for x in (-0.4, -0.2, 0.2, 0.4)]
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    wrong = np.full(truth.shape, WALL)
    floor_plane = np.where(truth < WALL, truth, np.nan)
    depth, choice = choose_depth(target, grid, [wrong, floor_plane, np.full(truth.shape, WALL)], sources)
    floor = truth < 0.8 * WALL  # well inside the floor, clear of the crease
    assert (choice[floor] == 1).mean() > 0.95
    assert (np.abs(depth - truth)[floor] / truth[floor] < 0.01).mean() > 0.95
    wall = truth >= WALL
    assert (np.abs(depth - WALL)[wall] < 1e-6).all()  # the default was right there and stands


def test_the_default_stands_where_no_candidate_makes_the_views_agree_better():
    tex = np.full((600, 800, 3), 0.5, np.float32)  # flat: every depth agrees
    target = camera_at(0.0)
    sources = [(camera_at(x), render(camera_at(x), tex), None) for x in (-0.3, 0.3)]
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    default = np.full((80, 96), 4.0)
    depth, choice = choose_depth(target, grid, [default, np.full((80, 96), 2.0)], sources)
    assert (choice == 0).all() and np.array_equal(depth, default)


def test_the_hidden_floor_is_found_where_the_sparse_points_are_mostly_on_the_wall():
    """Behind a hole that covers floor and wall, most sparse points lie on the wall, so one robust plane through
    them (the sparse depth) puts the floor at the wall's depth; the floor's own points near the hole give the
    floor's plane, on which the views agree."""
    from inconddiff.cameras import SceneGeometry
    from inconddiff.prior.copy_fill import CopySource
    from inconddiff.prior.crops import CropBox
    from inconddiff.removal.request import hidden_depth

    tex = texture()
    target = camera_at(0.0)
    truth = true_depth(target)
    rng = np.random.default_rng(2)
    uv = np.stack([rng.uniform(0, 96, 400), rng.uniform(0, 80, 400)], 1)
    d = true_depth(target)[uv[:, 1].astype(int), uv[:, 0].astype(int)]
    on_floor = d < WALL - 1e-9
    keep_uv = np.concatenate([uv[~on_floor], uv[on_floor][:60]])  # the floor sparsely sampled
    ys = (keep_uv[:, 1] - K[1, 2]) / K[1, 1]
    z = np.minimum(np.where(ys > 1e-9, FLOOR / np.maximum(ys, 1e-9), np.inf), WALL)
    points = target.unproject(keep_uv, z)
    geometry = SceneGeometry({"t": target}, points, [[] for _ in points])
    sources = [CopySource(f"s{x}", camera_at(x), render(camera_at(x), tex)) for x in (-0.4, -0.2, 0.2, 0.4)]
    box = CropBox(0, 80, 0, 96, 1.0)
    depth, _ = hidden_depth(target, geometry, np.ones(len(points), bool), box, sources)
    floor = truth < 0.8 * WALL
    assert (np.abs(depth - truth)[floor] / truth[floor] < 0.01).mean() > 0.9
