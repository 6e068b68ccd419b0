"""GrabCut refinement of a projected mask on the view's own pixels."""

from __future__ import annotations

import cv2
import numpy as np

from colmap_tools.mask_refinement import grabcut, refine_with_image


def _scene(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """A red object (`truth`) on a cluttered green-blue background."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    background = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    background[..., 0] //= 3  # little red in the background
    image = cv2.resize(background, (w, h), interpolation=cv2.INTER_NEAREST)
    obj = np.clip(rng.normal((200, 40, 40), 12, (h, w, 3)), 0, 255).astype(np.uint8)
    image[truth] = obj[truth]
    return image


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def test_refinement_moves_a_shifted_projection_onto_the_object():
    truth = np.zeros((160, 200), bool)
    cv2.circle(truth.view(np.uint8), (100, 80), 30, 1, -1)
    projected = np.roll(truth, (6, -5), axis=(0, 1))
    refined = refine_with_image(_scene(truth), projected)
    assert _iou(refined, truth) > 0.9 > _iou(projected, truth)


def test_refinement_keeps_a_thin_object():
    """A pole 8 px wide and 120 px tall, projected 3 px too wide on each side: eroding the projection by a
    fraction of its height would leave no sure foreground and lose the pole."""
    truth = np.zeros((160, 200), bool)
    truth[20:140, 96:104] = True
    projected = np.zeros_like(truth)
    projected[17:143, 93:107] = True
    refined = refine_with_image(_scene(truth), projected)
    assert (refined & truth).sum() / truth.sum() > 0.9
    assert _iou(refined, truth) > 0.8 > _iou(projected, truth)


def test_refinement_drops_specks_instead_of_growing_them():
    """A stray strip of splatted voxels far from the object is noise. Lying on a patch coloured like the
    object, GrabCut alone grows it into the whole patch."""
    truth = np.zeros((160, 200), bool)
    cv2.circle(truth.view(np.uint8), (100, 90), 30, 1, -1)
    image = _scene(truth)
    rng = np.random.default_rng(3)
    image[:20, :90] = np.clip(rng.normal((200, 40, 40), 12, (20, 90, 3)), 0, 255).astype(np.uint8)
    projected = np.roll(truth, (3, -2), axis=(0, 1))
    projected[4:7, 10:70] = True
    assert grabcut(image, projected, 4)[:40, :100].sum() > 1000  # the case this rule is for
    refined = refine_with_image(image, projected)
    assert not refined[:40, :100].any()
    assert _iou(refined, truth) > 0.9


def test_refinement_keeps_a_part_coloured_like_the_background():
    """A red ball on a grey post in front of a grey background: GrabCut alone gives the post to the
    background; the projection's deep interior keeps its core."""
    truth = np.zeros((200, 200), bool)
    cv2.circle(truth.view(np.uint8), (100, 60), 35, 1, -1)
    post = np.zeros_like(truth)
    post[95:180, 90:110] = True
    truth |= post
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(128, 30, (200, 200, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8)
    ball = truth & ~post
    image[ball] = np.clip(rng.normal((200, 40, 40), 12, (ball.sum(), 3)), 0, 255).astype(np.uint8)
    image[post] = np.clip(rng.normal(128, 30, (post.sum(), 1)), 0, 255).repeat(3, axis=1).astype(np.uint8)
    projected = cv2.dilate(truth.view(np.uint8), np.ones((7, 7), np.uint8)) > 0
    alone = grabcut(image, projected, 4)
    refined = refine_with_image(image, projected)
    assert (alone & post).sum() < 0.1 * post.sum()  # the case this rule is for
    assert (refined & post).sum() > 0.4 * post.sum()  # its core: the band GrabCut trims is not restored
    assert _iou(refined, truth) > 0.8 > _iou(alone, truth)
