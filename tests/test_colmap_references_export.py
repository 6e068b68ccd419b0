"""colmap_tools.references on hand-made arrays; colmap_tools.export read back by nerfstudio's dataparser."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from colmap_tools.references import RankingOptions, rank_all, rank_references, read_pairs, write_pairs
from inconddiff.capture import CaptureError
from inconddiff.depth_warp import Camera, SceneGeometry


def look_at(centre, target=(0.0, 0.0, 0.0)):
    centre, target = np.asarray(centre, float), np.asarray(target, float)
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ centre


def hand_made_scene(extra=None):
    """A wall of background points at z=0, an object (a small cluster) at z=-2 in front of it, and four
    cameras at z=-6: 'target' straight on, 'side' (sees behind the object), 'same' (right behind the target,
    the object hides the same wall), 'away' (looks elsewhere)."""
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    poses = {
        "target": look_at([0, 0, -6]),
        "side": look_at([3.0, 0, -5.5]),
        "same": look_at([0, 0, -7]),
        "away": look_at([0, 0, -6], target=[0, 40, 10]),
    }
    for name, centre in (extra or {}).items():
        poses[name] = look_at(centre)
    cams = {n: Camera(K, R, t, 100, 100) for n, (R, t) in poses.items()}
    g = np.linspace(-1.5, 1.5, 31)
    wall = np.array([[x, y, 0.0] for x in g for y in g])
    og = np.linspace(-0.4, 0.4, 5)
    obj = np.array([[x, y, -2.0] for x in og for y in og])
    points = np.concatenate([wall, obj])
    # occlusion by the object: a wall point is hidden in a view when the object covers its ray
    tracks = []
    for i, X in enumerate(points):
        track = []
        for n, c in cams.items():
            uv, z = c.project(X[None])
            if z[0] <= 0 or not (0 <= uv[0, 0] < 100 and 0 <= uv[0, 1] < 100):
                continue
            if i < len(wall):
                # the object's square, seen from the camera centre, covers the point?
                C = c.centre
                s = (-2.0 - C[2]) / (X[2] - C[2])
                hit = C + s * (X - C)
                if abs(hit[0]) <= 0.45 and abs(hit[1]) <= 0.45:
                    continue
            track.append((n, float(uv[0, 0]), float(uv[0, 1])))
        tracks.append(track)
    geometry = SceneGeometry(cams, points, tracks)
    masks = {}
    for n, c in cams.items():
        m = np.zeros((100, 100), bool)
        uv, z = c.project(obj)
        ok = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < 100) & (uv[:, 1] >= 0) & (uv[:, 1] < 100)
        if ok.any():
            x0, y0 = np.floor(uv[ok].min(0)).astype(int) - 3
            x1, y1 = np.ceil(uv[ok].max(0)).astype(int) + 3
            m[max(y0, 0) : y1, max(x0, 0) : x1] = True
        masks[n] = m
    return geometry, masks


def test_the_view_that_sees_behind_the_object_ranks_first():
    geometry, masks = hand_made_scene()
    ranked = rank_references("target", geometry, masks)
    names = [r.name for r in ranked]
    assert names[0] == "side"
    assert "away" not in names  # sees none of the hidden wall
    side = ranked[0]
    assert side.hole_points > 0 and side.coverage > 0.5
    same = next(r for r in ranked if r.name == "same")
    assert same.coverage < side.coverage  # the object hides the same wall from it
    assert rank_references("target", geometry, masks, k=1)[0].name == "side"


def test_angle_falloff_and_depth_ordering_options():
    geometry, masks = hand_made_scene()
    flat = rank_references("target", geometry, masks, options=RankingOptions(angle_falloff_deg=1e9))
    steep = rank_references("target", geometry, masks, options=RankingOptions(angle_falloff_deg=5.0))
    s_flat = {r.name: r.score for r in flat}
    s_steep = {r.name: r.score for r in steep}
    assert s_steep["side"] / s_flat["side"] < s_steep["same"] / s_flat["same"]  # wide angle costs more


def test_top_k_is_chosen_for_joint_coverage():
    """A near-duplicate of the best view adds little; the view from the other side sees the other half."""
    # small baselines: each of these sees only part of the wall hidden from the target
    geometry, masks = hand_made_scene(
        {"right": [1.2, 0, -6], "right_twin": [1.25, 0.05, -6], "left": [-1.1, 0, -6]}
    )
    del geometry.cameras["side"]
    plain = rank_references("target", geometry, masks, k=2, options=RankingOptions(diversity=0.0))
    diverse = rank_references("target", geometry, masks, k=2)
    assert {r.name for r in plain} == {"right", "right_twin"}
    assert {r.name for r in diverse} == {"right", "left"} or {r.name for r in diverse} == {
        "right_twin",
        "left",
    }


def test_pairs_file_round_trip(tmp_path):
    geometry, masks = hand_made_scene()
    rankings = rank_all(geometry, {"target": masks["target"]}, k=2)
    path = write_pairs(tmp_path / "pairs.txt", rankings, {"target": "target.png", "side": "side.png"})
    back = read_pairs(path)
    assert list(back) == ["target.png"]
    assert back["target.png"][0][0] == "side.png"
    assert back["target.png"][0][1] == pytest.approx(rankings["target"][0].score, abs=1e-5)
    assert len(back["target.png"]) == 2


def test_empty_hole_gives_no_references():
    geometry, masks = hand_made_scene()
    empty = {"target": np.zeros((100, 100), bool)}
    assert rank_references("target", geometry, empty) == []
    assert rank_all(geometry, empty) == {}


# ----------------------------------------------------------------------------------------------
# export


def capture_with_model(tiny_capture, tmp_path, keep_masks=("view_000", "view_002")):
    cap = tmp_path / "cap"
    shutil.copytree(tiny_capture, cap)
    for p in (cap / "masks").iterdir():
        if p.stem not in keep_masks:
            p.unlink()
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    return cap


def test_export_is_read_by_nerfstudio_with_inverted_masks(tiny_capture, tmp_path):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from colmap_tools.export import export_nerfstudio
    from inconddiff.capture import read_mask
    from inconddiff.synthetic import load_gt_cameras

    cap = capture_with_model(tiny_capture, tmp_path)
    path = export_nerfstudio(cap, tmp_path / "ns")
    data = json.loads(path.read_text())
    assert len(data["frames"]) == 8
    assert all("mask_path" in f for f in data["frames"])
    # nerfstudio convention: 0 = ignore = our object
    ours = read_mask(cap / "masks" / "view_000.png")
    theirs = read_mask(tmp_path / "ns" / "masks_nerfstudio" / "view_000.png")
    assert (theirs == ~ours).all()
    assert read_mask(tmp_path / "ns" / "masks_nerfstudio" / "view_001.png").all()  # no mask: keep all

    parser = NerfstudioDataParserConfig(
        data=tmp_path / "ns",
        downscale_factor=1,
        auto_scale_poses=False,
        center_method="none",
        orientation_method="none",
        train_split_fraction=1.0,
    ).setup()
    outputs = parser.get_dataparser_outputs(split="train")
    assert len(outputs.image_filenames) == 8
    assert outputs.mask_filenames is not None and len(outputs.mask_filenames) == 8
    assert all(p.exists() for p in outputs.image_filenames)
    # camera centres survive the round trip (nerfstudio scales poses into a box, so compare shapes)
    g = load_gt_cameras(cap)
    names = [p.stem for p in outputs.image_filenames]
    order = [list(map(lambda n: n.split(".")[0], g["names"])).index(n) for n in names]
    truth = np.stack([-g["R"][i].T @ g["t"][i] for i in order])
    got = outputs.cameras.camera_to_worlds[:, :3, 3].numpy() / outputs.dataparser_scale
    d_truth = np.linalg.norm(truth[:, None] - truth[None], axis=-1)
    d_got = np.linalg.norm(got[:, None] - got[None], axis=-1)
    assert np.allclose(d_got, d_truth, rtol=1e-3, atol=1e-4)
    assert float(outputs.cameras.fx[0]) == pytest.approx(float(g["K"][0, 0]), rel=1e-4)


def test_export_refuses_to_overwrite_and_needs_a_model(tiny_capture, tmp_path):
    from colmap_tools.export import export_nerfstudio

    cap = capture_with_model(tiny_capture, tmp_path, keep_masks=())
    path = export_nerfstudio(cap, tmp_path / "ns")
    assert all("mask_path" not in f for f in json.loads(path.read_text())["frames"])
    with pytest.raises(CaptureError, match="already exists"):
        export_nerfstudio(cap, tmp_path / "ns")
    shutil.rmtree(cap / "sparse")
    with pytest.raises(CaptureError, match="model folder not found"):
        export_nerfstudio(cap, tmp_path / "ns2")
