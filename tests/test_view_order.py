"""The order in which views are filled."""

from __future__ import annotations

from inconddiff.removal.order import fill_order


def test_the_best_seen_hole_goes_first_and_ties_go_by_name():
    assert fill_order({"c": 0.5, "a": 0.9, "b": 0.5}) == ["a", "b", "c"]
    assert fill_order({}) == []
