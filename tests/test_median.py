"""The views' median over the views that see each pixel."""

import warnings

import numpy as np

from inconddiff.prior.median import median_of_valid


def test_the_median_of_the_valid_views_is_numpys_nanmedian_of_them():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 7, 12):
        values = rng.random((n, 9, 11, 3)).astype(np.float32)
        valid = rng.random((n, 9, 11)) < 0.6
        valid[:, 0, 0] = False  # a pixel no view sees
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(np.where(valid[..., None], values, np.nan), axis=0)
        got = median_of_valid(values, valid)
        assert got.dtype == values.dtype
        np.testing.assert_array_equal(got, expected)
        assert np.isnan(got[0, 0]).all()


def test_an_even_number_of_views_gives_the_mean_of_the_middle_two():
    values = np.array([[1.0], [5.0], [2.0], [9.0]])
    valid = np.array([[True], [True], [True], [False]])
    assert median_of_valid(values, valid)[0] == 2.0
    valid[3] = True
    assert median_of_valid(values, valid)[0] == 3.5
