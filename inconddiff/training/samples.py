"""Training samples made exactly as the removal driver prepares a view, on captures with a COLMAP model.

A random hole is cut into a registered view of a real capture; other views get random holes of their own;
the view's own observations are dropped from the sparse model (it does not see behind a real object either);
the references are ranked and warped with the driver's code; the crop at working resolution becomes one
sample whose truth is the view's real pixels. Samples are written to .npz shards (files are the interface
between data preparation and training).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from colmap_tools.pairs import rank_references
from inconddiff.cameras import Camera, SceneGeometry, background_points
from inconddiff.capture import load_capture
from inconddiff.prior.copy_fill import COPIED
from inconddiff.removal.request import prepare_request
from inconddiff.removal.views import CaptureViews
from inconddiff.training.holes import random_hole
from inconddiff.training.phantoms import phantom_masks

logger = logging.getLogger(__name__)

MAX_REFS = 3
"""References the model attends to (the best ranked sources)."""
SOURCES = 16
"""Views a sample's copy fill draws on, as the driver's default does."""
PHANTOM_SHARE = 0.7
"""Samples whose hole is a phantom object's silhouette (`phantoms`): the removal task, with invented parts."""
NO_REFERENCE_SHARE = 0.1
"""Samples filled with no other view (the K = 0 fill: Telea as the prior, nothing to attend to)."""


@dataclass
class SceneData:
    """A capture's images in memory and its sparse model."""

    name: str
    images: dict[str, np.ndarray]
    geometry: SceneGeometry

    @classmethod
    def load(
        cls, capture: str | os.PathLike, sparse_dir: str | os.PathLike, name: str | None = None
    ) -> SceneData:
        from colmap_tools.sparse_model import load_scene_geometry

        cap = load_capture(capture, check_masks=False)
        geometry = load_scene_geometry(sparse_dir)
        images = {s: cap.image(s) for s in cap.stems if s in geometry.cameras}
        return cls(name or Path(capture).name, images, geometry)

    @classmethod
    def shrunk(cls, name: str, geometry: SceneGeometry, read, max_side: int) -> SceneData:
        """The registered views read one by one (`read(stem)`) and shrunk to at most `max_side`, cameras and
        tracks scaled with them: samples are cut at a few dozen pixels, so full-resolution photos only cost
        time and memory."""
        images, cams, scales = {}, {}, {}
        for k, c in geometry.cameras.items():
            img = read(k)
            hh, ww = img.shape[:2]
            if max(hh, ww) > max_side:
                s = max_side / max(hh, ww)
                img = cv2.resize(img, (round(ww * s), round(hh * s)), interpolation=cv2.INTER_AREA)
            images[k] = img
            scales[k] = img.shape[1] / ww
            K = c.K.copy()
            K[:2] *= scales[k]
            cams[k] = Camera(K, c.R, c.t, img.shape[1], img.shape[0])
        if all(v == 1.0 for v in scales.values()):
            return cls(name, images, geometry)
        tracks = [
            [(n, x * scales.get(n, 1.0), y * scales.get(n, 1.0)) for n, x, y in t] for t in geometry.tracks
        ]
        return cls(name, images, SceneGeometry(cams, geometry.points, tracks))

    def downscaled(self, max_side: int) -> SceneData:
        """The scene with images larger than `max_side` shrunk (`shrunk`)."""
        return SceneData.shrunk(self.name, self.geometry, self.images.__getitem__, max_side)

    @functools.cached_property
    def views(self) -> CaptureViews:
        """The views as sources for copy fills (their stereo depth computed once per scene)."""
        keep = np.ones(len(self.geometry.points), dtype=bool)
        return CaptureViews(self.geometry, keep, self.images.__getitem__, {})


def without_view(geometry: SceneGeometry, stem: str) -> SceneGeometry:
    """The model as if `stem` had seen none of its points: its observations dropped, and the points
    that keep fewer than two observations removed. The per-view observation index is derived from the
    original's (not rebuilt from the tracks), so this is cheap enough to call for every sample."""
    obs = geometry.observations
    counts = np.zeros(len(geometry.points), dtype=np.int64)
    for name, (idx, _) in obs.items():
        if name != stem:
            np.add.at(counts, idx, 1)
    keep = counts >= 2
    new_index = np.full(len(geometry.points), -1, dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    tracks = [[o for o in geometry.tracks[i] if o[0] != stem] for i in np.flatnonzero(keep)]
    out = SceneGeometry(geometry.cameras, geometry.points[keep].reshape(-1, 3), tracks)
    observations = {}
    for name, (idx, xy) in obs.items():
        if name == stem:
            continue
        sel = keep[idx]
        observations[name] = (new_index[idx[sel]], xy[sel])
    out.__dict__["observations"] = observations  # fills the cached_property
    return out


def make_sample(
    scene: SceneData,
    rng: np.random.Generator,
    size: int,
    context: float = 0.5,
    object_masks: dict[str, np.ndarray] | None = None,
) -> dict | None:
    """One training sample (arrays of side `size`), or None when the drawn view cannot make one.

    Most holes are a phantom object's silhouette, cut from every view (`PHANTOM_SHARE`); the others a random
    hole in the target with unrelated ones in some other views. The prior is the copy fill the driver would
    make (`prepare_request` from the ranked views). With `object_masks` (adapting to a capture whose object is
    to be removed), the hole keeps away from the target's object, every view's object is invalid in the
    sources and excluded from the geometry, and the sample's `ignore` map marks the target's object so that
    its pixels never enter the loss.
    """
    stems = sorted(scene.images)
    objects = {k: v for k, v in (object_masks or {}).items() if v is not None and v.any()}
    near = {
        k: cv2.dilate(v.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) for k, v in objects.items()
    }
    for _ in range(10):  # the truth under the hole must be what the view shows, not the object to remove
        masks = dict(objects)
        if rng.random() < PHANTOM_SHARE:  # the object in every view, as in a removal
            drawn = phantom_masks(scene.geometry, rng)
            if drawn is None:
                continue
            stem, phantoms = drawn
            for name, m in phantoms.items():
                masks[name] = m | masks[name] if name in masks else m
            hole = phantoms[stem]
        else:  # a hole in this view, unrelated ones in some others: much of it seen
            stem = stems[int(rng.integers(len(stems)))]
            hole = random_hole(scene.images[stem].shape[:2], rng)
            for other in stems:
                if other != stem and rng.random() < 0.5:
                    extra = random_hole(scene.images[other].shape[:2], rng)
                    masks[other] = extra | masks[other] if other in masks else extra
        if stem not in near or not (hole & near[stem]).any():
            break
    else:
        return None
    image = scene.images[stem]
    obj = objects.get(stem, np.zeros(image.shape[:2], bool))
    masks[stem] = hole | obj
    geometry = without_view(scene.geometry, stem)
    if len(geometry.points) < 20:
        return None
    keep = background_points(geometry, masks)
    ranking = rank_references(stem, hole, geometry, keep, masks)
    refs = [] if rng.random() < NO_REFERENCE_SHARE else ranking[:SOURCES]
    sources = [(scene.views.source(name, masks.get(name)), score) for name, score in refs]
    request, box = prepare_request(stem, image, hole, sources, geometry, keep, size, context)
    if request.hole.mean() < 0.01:
        return None
    prior, valid = request.prior, request.provenance == COPIED

    def square(a: np.ndarray, interp=cv2.INTER_AREA) -> np.ndarray:
        return cv2.resize(a, (size, size), interpolation=interp)

    def u8(a: np.ndarray) -> np.ndarray:
        return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)

    refs_rgb = np.zeros((MAX_REFS, size, size, 3), np.uint8)
    refs_inv = np.ones((MAX_REFS, size, size), bool)
    for i, r in enumerate(request.references):
        refs_rgb[i] = u8(square(r.crop.astype(np.float32)))
        refs_inv[i] = square(r.crop_invalid.astype(np.float32), cv2.INTER_LINEAR) > 0.01
    sample = {
        "truth": u8(square(request.image.astype(np.float32))),
        "hole": square(request.hole.astype(np.float32), cv2.INTER_LINEAR) > 0.01,
        "prior": u8(square(prior.astype(np.float32))),
        "valid": square(valid.astype(np.float32), cv2.INTER_LINEAR) > 0.99,
        "refs": refs_rgb,
        "ref_invalid": refs_inv,
        "num_refs": np.int64(len(request.references)),
    }
    if object_masks is not None:
        sample["ignore"] = square(box.cut(obj).astype(np.float32), cv2.INTER_LINEAR) > 0.01
    return sample


def write_shard(samples: list[dict], path: Path) -> None:
    """Stack samples into one compressed .npz (written atomically)."""
    arrays = {k: np.stack([s[k] for s in samples]) for k in samples[0]}
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def prepare_shards(
    scenes: list[tuple[str, Path, Path]],
    out_dir: Path,
    samples_per_shard: int,
    shards_per_scene: int,
    size: int,
    seed: int,
) -> list[Path]:
    """Write `shards_per_scene` shards for each (name, capture, sparse_dir); existing shards are kept."""
    from rich.progress import Progress

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with Progress(disable=None) as progress:
        task = progress.add_task("training samples", total=len(scenes) * shards_per_scene * samples_per_shard)
        for s_idx, (name, capture, sparse) in enumerate(scenes):
            scene = None
            for shard in range(shards_per_scene):
                path = out_dir / f"{name}_s{size}_{shard:03d}.npz"
                if path.exists():
                    progress.advance(task, samples_per_shard)
                    written.append(path)
                    continue
                scene = scene or SceneData.load(capture, sparse, name)
                rng = np.random.default_rng([seed, s_idx, shard, size])
                samples, misses = [], 0
                while len(samples) < samples_per_shard and misses < 10 * samples_per_shard:
                    sample = make_sample(scene, rng, size)
                    if sample is None:
                        misses += 1
                        continue
                    samples.append(sample)
                    progress.advance(task)
                if samples:
                    write_shard(samples, path)
                    written.append(path)
                    logger.info("wrote %s (%d samples)", path, len(samples))
    return written


def find_scenes(roots: list[Path]) -> list[tuple[str, Path, Path]]:
    """(name, capture, sparse/0) for every capture under `roots` that has a COLMAP model.

    A root is either a capture (images/ + sparse/0), or a folder of reconstructions made by
    `colmap_tools.reconstruct --out` whose `<name>/capture.txt` names the capture folder.
    """
    found = []
    for root in roots:
        for sparse in sorted(root.glob("**/sparse/0")):
            folder = sparse.parent.parent
            link = folder / "capture.txt"
            capture = Path(link.read_text().strip()) if link.is_file() else folder
            if (capture / "images").is_dir():
                found.append((folder.name, capture, sparse))
    return found


def synthetic_scenes(
    work: Path, count: int, seed: int = 0, texture_dir: str | None = None
) -> list[tuple[str, Path, Path]]:
    """(name, capture, sparse/0) for `count` photo-textured synthetic captures (`evaluation.photo_scenes`, the
    benchmark scenes' generator: cluttered surfaces at several depths, textures cut from `texture_dir`),
    rendered once under work/photo_<seed>: their object-free truth with the generator's exact sparse model.
    Seeds start at 1000, away from the benchmark's; forward arcs and orbits alternate."""
    from inconddiff.evaluation.photo_scenes import PhotoSceneConfig, generate_photo_scene

    found = []
    for i in range(count):
        s = seed + i
        cap = work / f"photo_{s:03d}"
        if not (cap / "gt" / "sparse" / "0").is_dir():
            config = PhotoSceneConfig(
                views=16,
                width=320,
                height=240,
                seed=1000 + s,
                path="arc" if s % 2 else "orbit",
                object_fraction=0.08,
                texture_dir=texture_dir,
            )
            generate_photo_scene(cap, config)
        found.append((cap.name, cap / "gt", cap / "gt" / "sparse" / "0"))
    return found


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write training shards from captures with COLMAP models.")
    p.add_argument("roots", nargs="*", type=Path, help="captures or folders of reconstructions")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--samples-per-shard", type=int, default=200)
    p.add_argument("--shards-per-scene", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synthetic", type=int, default=0, help="also this many synthetic captures")
    p.add_argument("--synthetic-dir", type=Path, default=Path("data_cache/synthetic_train"))
    p.add_argument("--texture-dir", default=None, help="photos the synthetic captures are textured with")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    scenes = find_scenes(args.roots)
    if args.synthetic:
        scenes += synthetic_scenes(args.synthetic_dir, args.synthetic, args.seed, args.texture_dir)
    if not scenes:
        raise SystemExit(f"no capture with sparse/0 under {args.roots} and no synthetic one asked for")
    logger.info("scenes: %s", ", ".join(n for n, _, _ in scenes))
    prepare_shards(scenes, args.out, args.samples_per_shard, args.shards_per_scene, args.size, args.seed)


if __name__ == "__main__":
    main()
