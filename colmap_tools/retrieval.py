"""Image pairs to match in a large capture, without matching every pair: retrieval with a visual vocabulary
built from the capture's own SIFT descriptors (no vocabulary to download), plus each image's neighbours in
name order (a video's frames, or photos taken one after another).

Each image is a tf-idf weighted bag of visual words; its `RETRIEVAL_NEIGHBOURS` most similar images (cosine)
are paired with it. The cost grows linearly with the number of images instead of quadratically, and
retrieval closes the loops a sequential window misses (a video that returns to where it started).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

RETRIEVAL_NEIGHBOURS = 20
"""Most similar images each image is matched with."""
NAME_ORDER_NEIGHBOURS = 5
"""...and this many images after it in name order."""
VOCABULARY_WORDS = 256
"""Visual words, clustered from a sample of the capture's descriptors."""
VOCABULARY_SAMPLE = 40_000
"""Descriptors the vocabulary is clustered from, drawn evenly from all images."""
WORDS_PER_IMAGE = 3_000
"""At most this many of an image's descriptors are assigned to words (a random, seeded subset)."""


def _root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT: square root of the L1-normalised descriptor (Euclidean distance then compares like the
    Hellinger kernel, which suits histograms)."""
    d = descriptors.astype(np.float32)
    d /= np.maximum(d.sum(1, keepdims=True), 1e-6)
    return np.sqrt(d)


def _nearest_word(descriptors: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Index of the nearest word of each descriptor."""
    # |d - w|^2 = |d|^2 - 2 d.w + |w|^2; |d|^2 does not change the argmin
    return np.argmin((words * words).sum(1)[None] - 2.0 * descriptors @ words.T, axis=1)


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (k, dims): each next seed drawn with probability proportional to its squared distance
    to the nearest seed so far, kept up to date one seed at a time (scipy's own `minit="++"` measures every
    point against all earlier seeds again for each new one, which for 256 words took minutes)."""
    seeds = [points[rng.integers(len(points))]]
    nearest = ((points - seeds[0]) ** 2).sum(1).astype(np.float64)  # float64: choice wants p to sum to 1
    for _ in range(1, k):
        total = float(nearest.sum())
        pick = rng.integers(len(points)) if total <= 0 else rng.choice(len(points), p=nearest / total)
        seeds.append(points[pick])
        nearest = np.minimum(nearest, ((points - seeds[-1]) ** 2).sum(1))
    return np.stack(seeds)


def bags_of_words(descriptors: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """Unit tf-idf vectors (images, words) of each image's descriptors (uint8 SIFT, one array per image)."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    per_image = max(1, VOCABULARY_SAMPLE // max(len(descriptors), 1))
    subsets = []
    for d in descriptors:
        take = min(len(d), WORDS_PER_IMAGE)
        subsets.append(_root_sift(d[rng.choice(len(d), take, replace=False)]) if take else np.zeros((0, 128)))
    sample = np.concatenate([s[:per_image] for s in subsets])
    k = min(VOCABULARY_WORDS, max(1, len(sample) // 4))
    start = _kmeans_plus_plus(sample.astype(np.float32), k, rng)
    words, _ = kmeans2(sample.astype(np.float64), start.astype(np.float64), iter=8, minit="matrix")
    words = words.astype(np.float32)
    counts = np.zeros((len(descriptors), k), np.float32)
    for i, s in enumerate(subsets):
        if len(s):
            counts[i] = np.bincount(_nearest_word(s, words), minlength=k)
    idf = np.log(len(descriptors) / np.maximum((counts > 0).sum(0), 1))
    tfidf = counts / np.maximum(counts.sum(1, keepdims=True), 1) * idf[None]
    return tfidf / np.maximum(np.linalg.norm(tfidf, axis=1, keepdims=True), 1e-12)


def pairs_from_bags(
    names: list[str],
    bags: np.ndarray,
    retrieved: int = RETRIEVAL_NEIGHBOURS,
    in_order: int = NAME_ORDER_NEIGHBOURS,
) -> list[tuple[str, str]]:
    """Each image with its `retrieved` most similar images and the `in_order` ones after it in name order;
    every pair once, in a fixed order."""
    order = np.argsort(names, kind="stable")
    similarity = bags @ bags.T
    np.fill_diagonal(similarity, -np.inf)
    chosen = set()
    for i in range(len(names)):
        for j in np.argsort(-similarity[i], kind="stable")[:retrieved]:
            chosen.add((min(i, int(j)), max(i, int(j))))
    for rank, i in enumerate(order):
        for j in order[rank + 1 : rank + 1 + in_order]:
            chosen.add((min(int(i), int(j)), max(int(i), int(j))))
    return [(names[i], names[j]) for i, j in sorted(chosen)]


def retrieval_pairs(database: Path, seed: int = 0) -> list[tuple[str, str]]:
    """`pairs_from_bags` for the images (and descriptors) of a COLMAP database."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    try:
        images = sorted(db.read_all_images(), key=lambda im: im.name)
        names = [im.name for im in images]
        descriptors = [np.asarray(db.read_descriptors(im.image_id).data) for im in images]
    finally:
        db.close()
    bags = bags_of_words(descriptors, seed)
    pairs = pairs_from_bags(names, bags, RETRIEVAL_NEIGHBOURS, NAME_ORDER_NEIGHBOURS)
    logger.info(
        "retrieval: %d pairs for %d images (exhaustive matching would take %d)",
        len(pairs),
        len(names),
        len(names) * (len(names) - 1) // 2,
    )
    return pairs


def write_pairs(pairs: list[tuple[str, str]], path: Path) -> Path:
    """A match list COLMAP reads (`ImportedPairingOptions.match_list_path`): one pair of names per line."""
    path.write_text("".join(f"{a} {b}\n" for a, b in pairs))
    return path
