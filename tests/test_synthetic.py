"""The synthetic generator: deterministic, exact masks, clean images differ only inside the masks,
cameras and depth agree with each other."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inconddiff.capture import load_capture, read_image, read_mask
from inconddiff.evaluation.synthetic import (
    SynthConfig,
    _pixel_rays,
    build_scene,
    camera_path,
    generate_capture,
    load_gt_cameras,
    render_view,
    supersample_for,
)


def test_same_seed_same_bytes(tiny_capture, tmp_path):
    again = generate_capture(tmp_path / "again", SynthConfig(views=8, width=64, height=48, seed=3))
    for sub in ("images", "masks", "gt/images"):
        for p in sorted((tiny_capture / sub).iterdir()):
            assert p.read_bytes() == (again / sub / p.name).read_bytes(), f"{sub}/{p.name} differs"
    for p in sorted((tiny_capture / "gt" / "depth").iterdir()):
        assert np.array_equal(np.load(p), np.load(again / "gt" / "depth" / p.name))
    other = generate_capture(tmp_path / "other", SynthConfig(views=8, width=64, height=48, seed=4))
    assert (
        read_image(other / "images" / "view_000.png").tobytes()
        != read_image(tiny_capture / "images" / "view_000.png").tobytes()
    )


def test_layout_is_a_valid_capture(tiny_capture):
    cap = load_capture(tiny_capture, same_size=True)
    assert len(cap.stems) == 8 and set(cap.masks) == set(cap.stems)
    assert cap.sizes["view_000"] == (48, 64)
    for sub in ("gt/images", "gt/depth", "gt/depth_clean"):
        assert len(list((tiny_capture / sub).iterdir())) == 8
    assert (tiny_capture / "gt" / "sparse" / "0" / "images.txt").is_file()
    meta = json.loads((tiny_capture / "gt" / "scene.json").read_text())
    assert meta["config"]["seed"] == 3 and meta["objects"][-1]["name"] == "removable"


def test_images_differ_from_truth_only_inside_mask(tiny_capture):
    cap = load_capture(tiny_capture)
    inside_changed = []
    for stem in cap.stems:
        img = cap.image(stem)
        clean = read_image(tiny_capture / "gt" / "images" / f"{stem}.png")
        mask = cap.mask(stem)
        assert mask.any(), f"object not visible in {stem}"
        changed = (img != clean).any(axis=2)
        assert not (changed & ~mask).any(), f"{stem}: pixels outside the mask differ"
        inside_changed.append(changed[mask].mean())
    assert np.mean(inside_changed) > 0.9  # the object really is drawn where the mask says


def _object_hits(capture, cfg: SynthConfig):
    """Independent visibility test: per pixel, does any sub-pixel ray reach the object before the background?"""
    import open3d as o3d

    rng = np.random.default_rng(cfg.seed)
    scene = build_scene(rng, cfg.num_clutter)
    K, Rs, ts = camera_path(cfg, rng)
    obj_only = o3d.t.geometry.RaycastingScene()
    obj_only.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(scene.object_mesh))
    clean, _, _ = scene.raycasting_scene(with_object=False)
    s = supersample_for(cfg)
    offsets = [((i + 0.5) / s, (j + 0.5) / s) for j in range(s) for i in range(s)]
    out = []
    for R, t in zip(Rs, ts, strict=True):
        rays = _pixel_rays(K, R, t, cfg.width, slice(0, cfg.height), offsets).reshape(-1, 6)
        t_obj = obj_only.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        t_bg = clean.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        out.append((t_obj < t_bg).reshape(cfg.height, cfg.width, -1).any(axis=2))
    return out


def test_masks_are_exactly_where_the_object_is_visible(tiny_capture):
    cfg = SynthConfig(views=8, width=64, height=48, seed=3)
    visible = _object_hits(tiny_capture, cfg)
    for i, vis in enumerate(visible):
        mask = read_mask(tiny_capture / "masks" / f"view_{i:03d}.png")
        assert np.array_equal(mask, vis), f"view {i}: {np.sum(mask != vis)} pixels disagree"


def test_depth_with_object_is_never_behind_clean_depth(tiny_capture):
    for i in range(8):
        d = np.load(tiny_capture / "gt" / "depth" / f"view_{i:03d}.npy")
        dc = np.load(tiny_capture / "gt" / "depth_clean" / f"view_{i:03d}.npy")
        mask = read_mask(tiny_capture / "masks" / f"view_{i:03d}.png")
        assert d.dtype == np.float32 and (dc > 0).all()
        assert (d <= dc + 1e-4).all()
        assert np.array_equal(d[~mask], dc[~mask])
        assert (d[mask] < dc[mask] - 1e-3).mean() > 0.5


def test_cameras_and_depth_agree_across_views(tiny_capture):
    """Back-project view 0 with its depth, project into view 1: the depth there must match where visible."""
    cams = load_gt_cameras(tiny_capture)
    K, R, t = cams["K"], cams["R"], cams["t"]
    d0 = np.load(tiny_capture / "gt" / "depth_clean" / "view_000.npy").astype(np.float64)
    d1 = np.load(tiny_capture / "gt" / "depth_clean" / "view_001.npy").astype(np.float64)
    h, w = d0.shape
    v, u = np.mgrid[0:h, 0:w]
    pix = np.stack([u + 0.5, v + 0.5, np.ones_like(u)], -1).reshape(-1, 3).astype(np.float64)
    cam0 = (pix @ np.linalg.inv(K).T) * d0.reshape(-1, 1)
    world = (cam0 - t[0]) @ R[0]  # R^T (x - t)
    cam1 = world @ R[1].T + t[1]
    uv = cam1 @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    x, y = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (cam1[:, 2] > 0)
    z_seen = d1[y[inside], x[inside]]
    visible = np.abs(z_seen - cam1[inside, 2]) < 0.05 * cam1[inside, 2]
    assert inside.mean() > 0.3
    assert visible.mean() > 0.7  # most of view 0's surface reappears at the right depth in view 1


def test_transforms_json_matches_cameras(tiny_capture):
    cams = load_gt_cameras(tiny_capture)
    tf = json.loads((tiny_capture / "gt" / "transforms.json").read_text())
    assert tf["w"] == 64 and tf["h"] == 48 and len(tf["frames"]) == 8
    c2w = np.array(tf["frames"][2]["transform_matrix"])
    centre = -cams["R"][2].T @ cams["t"][2]
    assert np.allclose(c2w[:3, 3], centre)
    assert np.allclose(c2w[:3, 2], -cams["R"][2][2])  # OpenGL: camera looks down -z
    assert (tiny_capture / "gt" / tf["frames"][0]["file_path"]).is_file()


def test_colmap_text_model_reads_back(tiny_capture):
    pycolmap = pytest.importorskip("pycolmap")
    rec = pycolmap.Reconstruction(str(tiny_capture / "gt" / "sparse" / "0"))
    cams = load_gt_cameras(tiny_capture)
    assert rec.num_images() == 8
    for img in rec.images.values():
        i = int(img.name[5:8])
        m = img.cam_from_world().matrix()
        assert np.allclose(m[:, :3], cams["R"][i], atol=1e-6)
        assert np.allclose(m[:, 3], cams["t"][i], atol=1e-6)


def test_forward_facing_path(tmp_path):
    out = generate_capture(
        tmp_path / "fwd", SynthConfig(views=5, width=48, height=32, seed=1, path="forward")
    )
    cams = load_gt_cameras(out)
    assert np.allclose(cams["R"][0], cams["R"][4])  # one viewing direction for all views
    assert len(list((out / "images").iterdir())) == 5


def test_bad_settings_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least 2 views"):
        generate_capture(tmp_path / "a", SynthConfig(views=1))
    with pytest.raises(ValueError, match="unknown camera path"):
        generate_capture(tmp_path / "b", SynthConfig(views=3, width=32, height=32, path="spiral"))
    assert not (tmp_path / "b").exists()


def test_a_view_rendered_in_row_chunks_is_the_view_rendered_whole(monkeypatch):
    """Large views are rendered a band of rows at a time; the bands' seams must not show."""
    import inconddiff.evaluation.synthetic as synthetic

    cfg = SynthConfig(views=2, width=48, height=40, seed=5)
    rng = np.random.default_rng(cfg.seed)
    scene = build_scene(rng, cfg.num_clutter)
    K, Rs, ts = camera_path(cfg, rng)
    scenes = scene.raycasting_scene(with_object=False), scene.raycasting_scene(with_object=True)
    whole = render_view(*scenes, K, Rs[0], ts[0], cfg.width, cfg.height, 3)
    monkeypatch.setattr(synthetic, "RENDER_ROWS", 7)
    banded = render_view(*scenes, K, Rs[0], ts[0], cfg.width, cfg.height, 3)
    assert whole[2].any() and not whole[2].all()  # the object is in view, and not everywhere
    for a, b in zip(whole, banded, strict=True):
        assert np.array_equal(a, b)


def test_large_views_take_one_ray_per_pixel():
    assert supersample_for(SynthConfig(width=640, height=480)) == 3
    assert supersample_for(SynthConfig(width=1920, height=1080)) == 1
    assert supersample_for(SynthConfig(width=1920, height=1080, supersample=2)) == 2
