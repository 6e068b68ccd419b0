"""The homography-warp baseline: a known homography is recovered, colours are matched, the fill beats Telea."""

from __future__ import annotations

import cv2
import numpy as np

from inconddiff.prior.colour import match_colour
from inconddiff.prior.homography import homography_fill, homography_warp
from inconddiff.prior.telea import telea

H_TRUE = np.array([[1.05, 0.04, -6.0], [-0.03, 0.98, 4.0], [2e-4, -1e-4, 1.0]])  # reference -> target


def textured(h=120, w=160, seed=0) -> np.ndarray:
    """A scene with detail at several scales (SIFT finds many distinctive points), uint8 RGB."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale in (4, 8, 16):
        noise = rng.uniform(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(noise, (w + 2 * scale, h + 2 * scale), interpolation=cv2.INTER_CUBIC)[
            scale : scale + h, scale : scale + w
        ]
    for _ in range(25):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 9)), c, -1)
    img = img / img.max()
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def pair(seed=0):
    """(target, reference, hole): the target is the reference seen through H_TRUE, with a hole in it."""
    ref = textured(seed=seed)
    h, w = ref.shape[:2]
    target = cv2.warpPerspective(ref, H_TRUE, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    hole = np.zeros((h, w), bool)
    cv2.ellipse(hole.view(np.uint8), (80, 60), (14, 20), 10, 0, 360, 1, -1)
    return target, ref, hole


def test_known_homography_is_recovered():
    target, ref, hole = pair()
    warp = homography_warp(target, hole, ref)
    assert warp.H is not None and warp.inliers >= 12
    H = warp.H / warp.H[2, 2]
    # compare where the homographies send points around the hole, not the raw matrix entries
    pts = np.float32([[60, 40], [100, 40], [60, 80], [100, 80], [80, 60]])[:, None]
    got = cv2.perspectiveTransform(pts, H)
    want = cv2.perspectiveTransform(pts, H_TRUE)
    assert np.abs(got - want).max() < 0.5
    # inside the hole the warp reproduces the target's (hidden) pixels
    inner = hole & warp.valid
    assert inner.mean() > 0.9 * hole.mean()
    err = np.abs(warp.warped[inner] - target[inner] / 255.0).mean()
    assert err < 0.03


def test_reference_invalid_pixels_are_not_valid_in_the_warp():
    target, ref, hole = pair()
    ref_invalid = np.zeros(ref.shape[:2], bool)
    ref_invalid[:, 125:] = True
    warp = homography_warp(target, hole, ref, ref_invalid)
    assert warp.H is not None
    # every valid target pixel comes from a valid reference column
    ys, xs = np.nonzero(warp.valid)
    back = cv2.perspectiveTransform(np.float32(np.stack([xs, ys], 1))[:, None], np.linalg.inv(warp.H))[:, 0]
    assert (back[:, 0] <= 125.5).all()
    assert not warp.valid[:, 140:].any()


def test_colour_matching_undoes_a_gain_and_offset():
    target, ref, hole = pair()
    warp = homography_warp(target, hole, ref)
    darker = np.clip(warp.warped * 0.7 + 0.05, 0, 1)
    fixed = match_colour(darker, target / 255.0, warp.valid, hole)
    inner = hole & warp.valid
    before = np.abs(darker[inner] - target[inner] / 255.0).mean()
    after = np.abs(fixed[inner] - target[inner] / 255.0).mean()
    assert after < 0.3 * before


def test_fill_beats_telea_and_uses_the_best_reference():
    target, ref, hole = pair()
    seen = target.copy()
    seen[hole] = 0  # the fill never sees the hole's pixels
    unrelated = textured(seed=5)
    fill, info = homography_fill(seen, hole, [unrelated, ref])
    assert info["reference"] == 1 and info["coverage"] > 0.95
    truth = target / 255.0
    assert np.array_equal(fill[~hole], truth[~hole])
    err_fill = np.abs(fill[hole] - truth[hole]).mean()
    err_telea = np.abs(telea(seen / 255.0, hole)[hole] - truth[hole]).mean()
    assert err_fill < 0.3 * err_telea


def test_no_matches_falls_back_to_telea():
    target, _, hole = pair()
    flat = np.full_like(target, 128)
    fill, info = homography_fill(target, hole, [flat])
    assert info["reference"] is None and info["coverage"] == 0.0
    assert np.allclose(fill, telea(target / 255.0, hole))
