"""The order in which the views are filled: the views whose holes other views saw most, first.

Content that no view saw is invented by the first view whose hole holds it and carried to later views through
the geometry; filling the best-seen views first keeps those inventions small and surrounded by copied content.
"""

from __future__ import annotations


def fill_order(seen: dict[str, float]) -> list[str]:
    """Views by the share of their hole that other views see (`seen`), highest first (ties: by name)."""
    return sorted(seen, key=lambda stem: (-seen[stem], stem))
