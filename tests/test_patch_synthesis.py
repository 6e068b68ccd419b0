import numpy as np

from inconddiff.prior.membrane import membrane_fill
from inconddiff.prior.patch_synthesis import patch_fill


def _texture(h: int = 96, w: int = 128) -> np.ndarray:
    """A periodic green texture above a flat blue band: texture and a straight edge to continue."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.zeros((h, w, 3))
    image[..., 0] = 0.3
    image[..., 1] = 0.5 + 0.2 * np.sin(x / 2.0) * np.sin(y / 3.0)
    image[..., 2] = np.where(y > 60, 0.8, 0.2)
    return image


def _hole(shape: tuple[int, int]) -> np.ndarray:
    hole = np.zeros(shape, bool)
    hole[30:80, 45:85] = True  # across the edge
    return hole


def test_texture_and_an_edge_are_continued_where_the_membrane_leaves_a_flat_blob():
    image = _texture()
    hole = _hole(image.shape[:2])
    spoiled = np.where(hole[..., None], 0.0, image)

    out = patch_fill(spoiled, hole)
    flat = membrane_fill(spoiled, hole)

    error = ((out - image)[hole] ** 2).mean()
    assert error < 0.2 * ((flat - image)[hole] ** 2).mean()
    # the texture's contrast is there, not averaged away
    assert out[hole][:, 1].std() > 0.7 * image[hole][:, 1].std()
    np.testing.assert_array_equal(out[~hole], spoiled[~hole])


def test_the_same_input_gives_the_same_fill():
    image = _texture()
    hole = _hole(image.shape[:2])
    np.testing.assert_array_equal(patch_fill(image, hole, seed=3), patch_fill(image, hole, seed=3))


def test_only_the_source_pixels_are_drawn_from():
    image = _texture()
    image[:, 96:, 0] += 0.01  # the same texture, marked: as good a match, but not a source
    hole = _hole(image.shape[:2])
    source = np.ones(hole.shape, bool)
    source[:, 96:] = False

    out = patch_fill(image, hole, source=source)

    assert out[hole][:, 0].max() < 0.3 + 1e-9


def test_without_enough_whole_patches_the_membrane_stands():
    image = np.random.default_rng(0).random((12, 12, 3))
    hole = np.ones((12, 12), bool)
    hole[0, :] = False  # one known row: no whole 7 x 7 patch

    np.testing.assert_allclose(patch_fill(image, hole), membrane_fill(image, hole))
    assert np.isfinite(patch_fill(image, np.ones((12, 12), bool))).all()  # nothing known at all


def test_the_sharp_finish_keeps_fine_texture_the_vote_averages_away(monkeypatch):
    """Grass-like fine noise: the vote of overlapping patches a pixel or two apart blurs it; the finish takes
    each pixel from one patch and keeps its grain."""
    import cv2

    from inconddiff.prior import patch_synthesis

    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.15, (96, 128, 1))
    image = np.clip(0.5 + cv2.GaussianBlur(noise, (0, 0), 0.7)[..., None] + np.zeros((1, 1, 3)), 0, 1)
    hole = _hole(image.shape[:2])

    def grain(out: np.ndarray) -> float:
        return float((out - cv2.GaussianBlur(out, (0, 0), 2.0))[hole].std())

    sharp = patch_fill(image, hole)
    monkeypatch.setattr(patch_synthesis, "SHARP_FINISH", False)
    voted = patch_fill(image, hole)
    assert grain(sharp) > 0.9 * grain(image)
    assert grain(sharp) > 1.08 * grain(voted)
