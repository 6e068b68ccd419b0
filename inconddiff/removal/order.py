"""Which view to fill next and with which references: plain-array logic of the multi-view driver.

Inputs are reference rankings (target -> [(reference, score), ...], higher = sees more of what the
target's hole hides). Views already filled count as references for later views, with a bonus: their
filled region is no longer a hole, so they carry content that no view saw (invented once, reused).
"""

from __future__ import annotations

FILLED_BONUS = 1.25


def effective_score(score: float, reference: str, filled: set[str]) -> float:
    """A reference's usefulness now: views count as ranked, filled ones with a bonus."""
    if reference in filled:
        return score * FILLED_BONUS
    return score


def choose_references(
    target: str,
    ranking: dict[str, list[tuple[str, float]]],
    k: int,
    filled: set[str],
) -> list[tuple[str, float]]:
    """Top-k references for `target` given what is filled so far (never the target itself)."""
    if k <= 0:
        return []
    scored = [(ref, effective_score(s, ref, filled)) for ref, s in ranking.get(target, []) if ref != target]
    scored.sort(key=lambda rs: (-rs[1], rs[0]))
    return scored[:k]


def next_view(
    todo: list[str],
    ranking: dict[str, list[tuple[str, float]]],
    k: int,
    filled: set[str],
) -> str:
    """The unfilled view whose hole is best covered by its current top-k references (ties: by name)."""
    if not todo:
        raise ValueError("no view left to fill")

    def coverage(view: str) -> float:
        refs = choose_references(view, ranking, max(k, 1), filled)
        return sum(s for _, s in refs)

    return max(sorted(todo), key=coverage)


def fill_order(targets: list[str], ranking: dict[str, list[tuple[str, float]]], k: int) -> list[str]:
    """The whole order, as `next_view` would pick it if every fill succeeds."""
    todo, filled, order = list(targets), set(), []
    while todo:
        v = next_view(todo, ranking, k, filled)
        order.append(v)
        filled.add(v)
        todo.remove(v)
    return order
