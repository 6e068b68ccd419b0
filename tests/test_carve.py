"""Carving the removed object's volume out of the refit field (`nerf_integration.carve`)."""

from __future__ import annotations

import numpy as np
import pytest

from nerf_integration.carve import _project, background_depth, continue_across, masked_volume


def test_continue_across_reproduces_affine_functions():
    ys, xs = np.mgrid[0:30, 0:40]
    values = 0.3 * xs - 0.2 * ys + 5.0
    hole = np.zeros((30, 40), bool)
    hole[8:20, 10:31] = True
    damaged = values.copy()
    damaged[hole] = 99.0
    assert np.allclose(continue_across(damaged, hole), values, atol=1e-8)
    # at the image border the hole has no boundary value (zero normal derivative there): values stay within the
    # range of those around it
    corner = np.zeros((30, 40), bool)
    corner[0:4, 0:6] = True
    damaged = values.copy()
    damaged[corner] = 99.0
    filled = continue_across(damaged, corner)[corner]
    ring = values[0:5, 0:7][~corner[0:5, 0:7]]
    assert ring.min() - 1e-9 <= filled.min() and filled.max() <= ring.max() + 1e-9
    # a floor seen in perspective: inverse depth is affine in the pixel, so depth behind a hole is recovered
    depth = 1.0 / (0.01 * ys + 0.2)
    seen = depth.copy()
    seen[hole] = 0.5  # something nearer stood there
    assert np.allclose(background_depth(seen, hole), depth, rtol=1e-6)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """nerfstudio camera-to-world (x right, y up, looking down -z) at `eye` facing `target`, world z up."""
    back = eye - target
    back /= np.linalg.norm(back)
    right = np.cross([0.0, 0.0, 1.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return np.concatenate([np.stack([right, up, back], 1), eye[:, None]], 1)


def test_project_matches_nerfstudio_rays():
    import torch
    from nerfstudio.cameras.cameras import Cameras

    c2w = _look_at(np.array([2.0, -1.0, 1.5]), np.zeros(3))
    cams = Cameras(
        camera_to_worlds=torch.tensor(c2w, dtype=torch.float32)[None],
        fx=50.0,
        fy=52.0,
        cx=31.0,
        cy=25.0,
        width=64,
        height=48,
    )
    rays = cams.generate_rays(camera_indices=0, keep_shape=True)
    rows, cols = np.array([0, 10, 47]), np.array([0, 33, 63])
    o = rays.origins[rows, cols].numpy().astype(np.float64)
    d = rays.directions[rows, cols].numpy().astype(np.float64)
    points = o + 1.7 * d
    u, v, z = _project(points, c2w, 50.0, 52.0, 31.0, 25.0)
    assert np.allclose(u, cols + 0.5, atol=1e-3) and np.allclose(v, rows + 0.5, atol=1e-3)
    assert np.allclose(z, 1.7 * (d @ -c2w[:3, 2]), atol=1e-4)


def _scene_views(occluded: int = -1) -> list[dict]:
    """Eight cameras around a ball of radius 0.3 resting on the floor z = 0 at the origin: rendered z-depth of the
    floor (the field's depth around the holes) and the ball's silhouette as the mask. View `occluded` has the
    ball hidden by something near the camera outside its mask."""
    h, w, f = 48, 64, 60.0
    views = []
    for k in range(8):
        a = 2 * np.pi * k / 8
        eye = np.array([2.5 * np.cos(a), 2.5 * np.sin(a), 1.2])
        c2w = _look_at(eye, np.array([0.0, 0.0, 0.2]))
        rows, cols = np.mgrid[0:h, 0:w] + 0.5
        d_cam = np.stack([(cols - w / 2) / f, -(rows - h / 2) / f, -np.ones_like(cols)], -1)
        d = d_cam @ c2w[:3, :3].T
        t_floor = -eye[2] / np.where(d[..., 2] < -1e-9, d[..., 2], -1e-9)
        z_floor = np.minimum(t_floor, 50.0)  # z-depth: d_cam has unit z
        centre = np.array([0.0, 0.0, 0.3])
        oc = eye - centre
        b = (d * oc).sum(-1)
        disc = b**2 - (d * d).sum(-1) * ((oc * oc).sum() - 0.09)
        mask = disc > 0
        depth = z_floor.copy()
        if k == occluded:
            depth[mask] = 0.8
            depth = np.where(np.abs(cols - w / 2) < 12, 0.8, depth)
            mask = np.zeros_like(mask)
        views.append({"c2w": c2w, "fx": f, "fy": f, "cx": w / 2, "cy": h / 2, "depth": depth, "mask": mask})
    return views


@pytest.mark.parametrize("occluded", [-1, 3])
def test_masked_volume_carves_the_ball_and_keeps_the_floor(occluded):
    views = _scene_views(occluded)
    g = np.random.default_rng(0)
    ball = g.normal(size=(200, 3))
    ball = ball / np.linalg.norm(ball, axis=1, keepdims=True) * g.uniform(0, 0.2, (200, 1)) + [0, 0, 0.3]
    floor_under = np.c_[g.uniform(-0.15, 0.15, (100, 2)), np.zeros(100)]
    beside = np.c_[g.uniform(0.6, 1.0, (100, 1)), g.uniform(-0.5, 0.5, (100, 1)), g.uniform(0, 0.4, (100, 1))]
    carved = masked_volume(np.concatenate([ball, floor_under, beside]), views, margin=0.05)
    assert carved[:200].mean() > 0.95  # the object's volume, also with one view's sight of it blocked
    assert not carved[200:300].any()  # the floor under the object stays
    assert not carved[300:].any()  # space the views see empty beside it is not the object


def test_carved_cells_hold_no_density_and_survive_a_checkpoint():
    import torch

    from nerf_integration.field import TensorVMField

    f = TensorVMField(resolution=16, occupancy_resolution=8)
    with torch.no_grad():
        f.density_planes.add_(2.0)  # dense everywhere
        f.density_lines.add_(1.0)
    carved = torch.zeros(8, 8, 8, dtype=torch.bool)
    carved[2:4, 3:6, 1:3] = True  # [z, y, x]
    f.set_carved(carved)
    centres = f.cell_centres()
    inside, outside = centres[carved], centres[~carved]
    with torch.no_grad():
        assert (f.density(inside) == 0).all() and (f.density(outside) > 0).all()
        f.update_occupancy(0.5)
    assert not f.occupancy[carved].any() and f.occupancy[~carved].all()
    g = TensorVMField(resolution=16, occupancy_resolution=8)
    g.load_state_dict(f.state_dict())
    g.has_carved = bool(g.carved.any())
    with torch.no_grad():
        assert (g.density(inside) == 0).all()
    # world positions of the cell centres map back to the same cells
    assert torch.allclose(f.normalise(f.denormalise(inside)), inside, atol=1e-6)


def test_carving_passes_follow_the_fit():
    from nerf_integration.carve import passes_due

    due = [passes_due(s, 1500, 0.2, 0.8, 150) for s in (299, 300, 600, 1199, 1200, 1499)]
    assert due == [0, 1, 2, 3, 4, 4]  # every fifth of the fit, none after four fifths
    assert passes_due(149, 200, 0.2, 0.8, 150) == 0  # not before the field's depth is settled
    assert passes_due(150, 200, 0.2, 0.8, 150) == 3  # then all that fell due, at once


def test_views_of_a_collection_whose_photos_differ_in_size(monkeypatch):
    """Each view is shrunk for carving on its own, and its mask checked against its own size (not the first
    view's): a photo collection mixes sizes and orientations."""
    from types import SimpleNamespace

    import torch
    from nerfstudio.cameras.cameras import Cameras

    import nerf_integration.carve as carve
    import nerf_integration.render as render

    sizes = [(600, 800), (800, 600), (300, 400)]  # landscape, portrait, small
    c2w = torch.eye(4)[:3].expand(3, 3, 4).clone()
    cams = Cameras(
        camera_to_worlds=c2w,
        fx=torch.tensor([[500.0]] * 3),
        fy=torch.tensor([[500.0]] * 3),
        cx=torch.tensor([[w / 2.0] for _, w in sizes]),
        cy=torch.tensor([[h / 2.0] for h, _ in sizes]),
        width=torch.tensor([[w] for _, w in sizes]),
        height=torch.tensor([[h] for h, _ in sizes]),
    )
    names = ["a", "b", "c"]

    class Data(list):  # what carving reads of a nerfstudio dataset: its length, cameras and file names
        cameras = cams
        _dataparser_outputs = SimpleNamespace(image_filenames=[f"{n}.png" for n in names])

    data = Data(names)
    empty = Data([])
    pipeline = SimpleNamespace(datamanager=SimpleNamespace(train_dataset=data, eval_dataset=empty))
    rendered = []

    def fake_depth(pipeline, cameras, index, pixels=None):
        shape = (int(cameras.height[index, 0]), int(cameras.width[index, 0]))
        rendered.append(shape)
        return np.ones(shape, np.float32)

    monkeypatch.setattr(render, "render_depth", fake_depth)
    masks = {n: np.zeros(size, bool) for n, size in zip(names, sizes, strict=True)}
    for m in masks.values():
        m[m.shape[0] // 3 : m.shape[0] // 2, m.shape[1] // 3 : m.shape[1] // 2] = True
    views = carve._add_depth(pipeline, carve._views_of(pipeline, masks, side=160))
    assert rendered == [(120, 160), (160, 120), (120, 160)]
    assert [v["mask"].shape for v in views] == [(120, 160), (160, 120), (120, 160)]
    assert all(v["mask"].any() for v in views)
    with pytest.raises(ValueError, match="mask of view b"):
        carve._views_of(pipeline, masks | {"b": masks["a"]}, side=160)


def test_carving_reads_only_the_pixels_it_needs_and_votes_as_the_whole_view(monkeypatch):
    """Views rendered only at the pixels where the judged cells and the hole's ring fall carve exactly the cells
    that whole renders of every view carve from every lattice cell, with far fewer rays."""
    from types import SimpleNamespace

    import torch
    from nerfstudio.cameras.cameras import Cameras

    import nerf_integration.carve as carve
    import nerf_integration.render as render

    h, w, n = 60, 80, 12
    eyes = [
        np.array([2 * np.cos(a), 2 * np.sin(a), 1.2]) for a in np.linspace(0, 2 * np.pi, n, endpoint=False)
    ]
    c2w = torch.tensor(np.stack([_look_at(e, np.array([0.0, 0.0, 0.2])) for e in eyes]), dtype=torch.float32)
    cams = Cameras(camera_to_worlds=c2w, fx=70.0, fy=70.0, cx=w / 2, cy=h / 2, width=w, height=h)
    names = [f"v{i}" for i in range(n)]

    class Data(list):
        cameras = cams
        _dataparser_outputs = SimpleNamespace(image_filenames=[f"{s}.png" for s in names])

    pipeline = SimpleNamespace(datamanager=SimpleNamespace(train_dataset=Data(names), eval_dataset=Data([])))
    rays_rendered = []

    def floor_depth(pipeline, cameras, index, pixels=None):
        # the object is gone: every ray meets the floor z = 0
        rays = cameras.generate_rays(camera_indices=index, keep_shape=True)
        oz, dz = rays.origins[..., 2].numpy(), rays.directions[..., 2].numpy()
        depth = np.where(dz < -1e-6, -oz / np.minimum(dz, -1e-6), 100.0)
        if pixels is None:
            rays_rendered.append(oz.size)
            return depth
        rays_rendered.append(int(pixels.sum()))
        return np.where(pixels, depth, np.nan)

    monkeypatch.setattr(render, "render_depth", floor_depth)
    # the removed object: a ball above the floor, its masks its projections
    g = np.random.default_rng(0).normal(size=(4000, 3))
    ball = (
        g
        / np.linalg.norm(g, axis=1, keepdims=True)
        * 0.25
        * np.random.default_rng(1).random((4000, 1)) ** (1 / 3)
    )
    ball += [0.0, 0.0, 0.3]
    masks = {}
    for name, m in zip(names, c2w.numpy(), strict=True):
        u, v, _ = _project(ball, m, 70.0, 70.0, w / 2, h / 2)
        mask = np.zeros((h, w), bool)
        mask[np.clip(v.astype(int), 0, h - 1), np.clip(u.astype(int), 0, w - 1)] = True
        masks[name] = mask
    lin = np.linspace(-1, 1, 28)
    points = np.stack(np.meshgrid(lin, lin, (lin + 1) / 2, indexing="ij"), -1).reshape(-1, 3)

    whole = carve._add_depth(pipeline, carve._views_of(pipeline, masks, side=w))
    full_rays = sum(rays_rendered)
    expected = masked_volume(points, whole, margin=0.05)
    rays_rendered.clear()
    views = carve._views_of(pipeline, masks, side=w)
    candidates = carve.in_masked_frustums(points, views)
    windowed = carve._add_depth(pipeline, views, points[candidates])
    got = np.zeros(len(points), bool)
    got[candidates] = masked_volume(points[candidates], windowed, margin=0.05)
    assert expected.sum() > 20 and np.array_equal(got, expected)
    assert np.linalg.norm(points[got] - [0.0, 0.0, 0.3], axis=1).max() < 0.4  # the ball, not the floor
    assert sum(rays_rendered) < 0.25 * full_rays
