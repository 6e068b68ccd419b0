"""Retrieval pairs: a large unordered capture is matched along a linear number of pairs, and still registers."""

from __future__ import annotations

import shutil

import numpy as np

from colmap_tools import reconstruct as reconstruct_module
from colmap_tools import retrieval
from colmap_tools.retrieval import pairs_from_bags


def test_pairs_are_the_most_similar_images_and_the_next_ones_in_name_order():
    names = ["c.png", "a.png", "d.png", "b.png", "e.png"]
    bags = np.eye(5)
    bags[0, 4] = bags[4, 0] = 1.0  # c and e look alike
    bags /= np.linalg.norm(bags, axis=1, keepdims=True)
    pairs = pairs_from_bags(names, bags, retrieved=1, in_order=1)
    assert len(pairs) == len(set(pairs))
    as_sets = {frozenset(p) for p in pairs}
    assert frozenset(("c.png", "e.png")) in as_sets  # retrieved
    for a, b in (("a.png", "b.png"), ("b.png", "c.png"), ("c.png", "d.png"), ("d.png", "e.png")):
        assert frozenset((a, b)) in as_sets  # name order
    assert frozenset(("a.png", "e.png")) not in as_sets


def test_an_unordered_capture_registers_every_view_without_exhaustive_matching(
    small_capture, tmp_path, monkeypatch
):
    """The small orbit with its file names shuffled (name order says nothing), 5 retrieved images each (with 4,
    one machine registered all 16 views and another 13, with the same code and packages)."""
    shuffled = tmp_path / "shuffled"
    (shuffled / "images").mkdir(parents=True)
    sources = sorted((small_capture / "images").iterdir())
    for new, k in enumerate(np.random.default_rng(0).permutation(len(sources))):
        shutil.copy(sources[k], shuffled / "images" / f"photo_{new:02d}.png")
    monkeypatch.setattr(retrieval, "RETRIEVAL_NEIGHBOURS", 5)
    monkeypatch.setattr(retrieval, "NAME_ORDER_NEIGHBOURS", 0)
    chosen = []

    def recorded(database, seed=0):
        pairs = retrieval.retrieval_pairs(database, seed)
        chosen.append(len(pairs))
        return pairs

    monkeypatch.setattr(reconstruct_module, "retrieval_pairs", recorded)
    rec = reconstruct_module.reconstruct(shuffled, output_dir=tmp_path / "out", matcher="retrieval")
    n = len(sources)
    assert rec.num_reg_images() == n
    # every attempt (the hard preset's too) matched at most 5 pairs per view, not all 120
    assert chosen and max(chosen) <= 5 * n < n * (n - 1) // 2


def test_the_vocabulary_seeds_one_word_per_separate_cluster_and_like_images_get_like_bags():
    """Three groups of images, each drawing its descriptors from its own clusters of SIFT-like vectors: k-means++
    puts a seed in every cluster, and each image's nearest bag is the other image of its group."""
    rng = np.random.default_rng(0)
    centres = rng.integers(0, 200, (12, 128)).astype(np.float32)
    points = np.concatenate([c + rng.normal(0, 1, (50, 128)) for c in centres]).astype(np.float32)
    seeds = retrieval._kmeans_plus_plus(points, 12, np.random.default_rng(1))
    nearest_centre = np.argmin(((seeds[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest_centre) == list(range(12))

    def image(group: int) -> np.ndarray:
        picks = rng.integers(0, 4, 400) + 4 * group
        return np.clip(centres[picks] + rng.normal(0, 2, (400, 128)), 0, 255).astype(np.uint8)

    bags = retrieval.bags_of_words([image(g) for g in (0, 0, 1, 1, 2, 2)], seed=0)
    similarity = bags @ bags.T
    np.fill_diagonal(similarity, -np.inf)
    assert list(np.argmax(similarity, axis=1)) == [1, 0, 3, 2, 5, 4]
