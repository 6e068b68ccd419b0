"""colmap_tools.pairs, the one reference ranker, on a hand-made scene with exact geometry."""

from __future__ import annotations

import numpy as np
import pytest

from colmap_tools.pairs import rank_all, rank_references, read_pairs, write_pairs
from inconddiff.cameras import Camera, SceneGeometry, background_points


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


def ranking(geometry, masks, **kwargs):
    keep = background_points(geometry, masks)
    return rank_references("target", masks["target"], geometry, keep, masks, **kwargs)


def test_the_view_that_sees_behind_the_object_ranks_first():
    geometry, masks = hand_made_scene()
    ranked = dict(ranking(geometry, masks))
    assert max(ranked, key=ranked.get) == "side"
    assert "away" not in ranked  # it looks elsewhere
    # the view right behind the target has the object in front of the same wall: its own hole hides it
    assert ranked.get("same", 0.0) < 0.5 * ranked["side"]


def test_a_wider_angle_costs_score():
    geometry, masks = hand_made_scene()
    flat = dict(ranking(geometry, masks, angle_falloff_deg=1e9))
    steep = dict(ranking(geometry, masks, angle_falloff_deg=5.0))
    assert 0.5 < flat["side"] <= 1.0  # the share of the hole it sees
    assert steep["side"] < 0.1 * flat["side"]


def test_pairs_file_round_trip(tmp_path):
    geometry, masks = hand_made_scene()
    keep = background_points(geometry, masks)
    rankings = rank_all(geometry, masks, keep)
    rankings["lonely"] = []
    back = read_pairs(write_pairs(tmp_path / "pairs.txt", rankings))
    assert set(back) == set(rankings) and back["lonely"] == []
    for target, refs in rankings.items():
        assert [n for n, _ in back[target]] == [n for n, _ in refs]
        assert np.allclose([s for _, s in back[target]], [s for _, s in refs], atol=1e-6)


def test_empty_hole_gives_no_references():
    geometry, masks = hand_made_scene()
    masks["target"] = np.zeros((100, 100), bool)
    assert ranking(geometry, masks) == []


@pytest.mark.slow
def test_pairs_main_ranks_every_masked_view_of_a_capture(tiny_capture, tmp_path):
    import shutil

    from colmap_tools.pairs import main

    cap = tmp_path / "cap"
    shutil.copytree(tiny_capture, cap)
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    pairs = read_pairs(main(cap))
    assert set(pairs) == {p.stem for p in (cap / "masks").iterdir()}
    assert all(refs and refs[0][1] > 0 for refs in pairs.values())
