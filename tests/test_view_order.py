"""Fill order and reference choice on plain rankings."""

from __future__ import annotations

from inconddiff.removal.order import FILLED_BONUS, choose_references, fill_order, next_view

RANKING = {
    "a": [("x", 0.9), ("b", 0.5), ("c", 0.1)],
    "b": [("a", 0.3), ("c", 0.2)],
    "c": [("b", 0.6), ("a", 0.55), ("x", 0.05)],
}


def test_best_covered_hole_goes_first():
    assert next_view(["a", "b", "c"], RANKING, 1, set()) == "a"
    assert next_view(["b", "c"], RANKING, 1, set()) == "c"


def test_filled_views_gain_as_references():
    refs = choose_references("c", RANKING, 2, filled={"a"})
    assert refs[0] == ("a", 0.55 * FILLED_BONUS)
    assert [r for r, _ in refs] == ["a", "b"]


def test_k_limits_and_zero_means_none():
    assert choose_references("a", RANKING, 0, set()) == []
    assert len(choose_references("a", RANKING, 2, set())) == 2
    assert choose_references("unknown", RANKING, 3, set()) == []


def test_order_covers_every_target_once():
    order = fill_order(["c", "b", "a"], RANKING, 2)
    assert sorted(order) == ["a", "b", "c"] and order[0] == "a"
