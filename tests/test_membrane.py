import numpy as np

from inconddiff.prior.membrane import membrane_fill
from inconddiff.prior.telea import telea


def _ramp(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / 100.0
    return np.stack([xx, yy, 0.5 * (xx + yy)], -1)


def test_a_linear_ramp_is_continued_exactly_and_the_rest_is_kept():
    image = _ramp()
    hole = np.zeros(image.shape[:2], bool)
    hole[10:38, 12:50] = True
    spoiled = np.where(hole[..., None], 0.0, image)

    out = membrane_fill(spoiled, hole)

    np.testing.assert_allclose(out[hole], image[hole], atol=1e-4)
    np.testing.assert_array_equal(out[~hole], spoiled[~hole])


def test_a_hole_on_the_border_stays_within_the_colours_around_it():
    rng = np.random.default_rng(0)
    image = 0.3 + 0.4 * rng.random((40, 40, 3))
    hole = np.zeros((40, 40), bool)
    hole[:25, :18] = True  # touches two edges

    out = membrane_fill(image, hole)

    known = image[~hole]
    assert np.isfinite(out).all()
    assert (out[hole] >= known.min(0) - 1e-9).all() and (out[hole] <= known.max(0) + 1e-9).all()


def test_a_crop_that_is_all_hole_gets_a_finite_fill():
    out = membrane_fill(np.zeros((8, 8, 3)), np.ones((8, 8), bool))
    assert np.isfinite(out).all()


def test_on_unseen_texture_it_is_closer_to_the_truth_than_telea():
    # A textured surface whose hidden part nobody saw: its local mean is the best guess in squared error, and
    # Telea drags single rim pixels inwards as streaks.
    rng = np.random.default_rng(1)
    truth = np.clip(_ramp(96, 96) + 0.05 * rng.standard_normal((96, 96, 3)), 0, 1)
    hole = np.zeros((96, 96), bool)
    hole[28:68, 30:70] = True

    def error(x):
        return float(((x[hole] - truth[hole]) ** 2).mean())

    assert error(membrane_fill(truth, hole)) < 0.8 * error(telea(truth, hole))
