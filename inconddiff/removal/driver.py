"""The multi-view driver: remove a masked object from every view of a capture, one view after another.

For each masked view, in the order that fills the best-covered holes first: crop around the hole at the
working resolution, warp the best K references into the crop with depth interpolated from the sparse
points (views filled earlier count as references), fill, harmonise colour, and paste back at full
resolution. Outputs land in OUT.partial/ as they are made and the folder is renamed to OUT at the end,
so a run that stops half-way resumes from the views already done.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from colmap_tools.pairs import HoleProbe, hole_probe, rank_all, read_pairs, rescore_filled, write_pairs
from inconddiff.cameras import SceneGeometry, background_points
from inconddiff.capture import CaptureError, load_capture, read_image, write_image
from inconddiff.prior.crops import CropBox, paste_back
from inconddiff.removal.config import METHODS, RemovalConfig, ViewRecord
from inconddiff.removal.fillers import make_filler
from inconddiff.removal.order import choose_references, next_view
from inconddiff.removal.output import (
    _settings,
    _write_json_atomic,
    ensure_sparse_model,
    finish_output,
    open_partial,
    validate_masks,
)
from inconddiff.removal.request import FillRequest, PreparedReference, prepare_request

logger = logging.getLogger(__name__)


def remove_object(
    capture_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    config: RemovalConfig | None = None,
    filler=None,
) -> Path:
    """Remove the masked object from every view of `capture_dir` into the new folder `out_dir`.

    `filler` overrides the one `config.method` would build (for tests and benchmarks).
    """
    from rich.progress import Progress

    config = config or RemovalConfig()
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; choose one of {METHODS}")
    capture_dir, out = Path(capture_dir), Path(out_dir)
    masks_path = Path(masks_dir) if masks_dir is not None else capture_dir / "masks"
    if not masks_path.is_dir():
        raise CaptureError(masks_path, "mask folder not found (PNG masks named by image stem, 255 = remove)")
    capture = load_capture(capture_dir, masks_dir=masks_path)
    if len(capture.stems) < 2:
        raise CaptureError(capture.root / "images", f"need at least 2 views, found {len(capture.stems)}")
    masks = validate_masks(capture)
    partial, done = open_partial(out, _settings(capture_dir, masks_path, config))
    t_start = time.time()

    if masks:
        from colmap_tools.sparse_model import load_scene_geometry

        geometry = load_scene_geometry(ensure_sparse_model(capture, partial))
        missing = sorted(set(masks) - set(geometry.cameras))
        if missing:
            logger.warning("views without geometry (filled without references): %s", ", ".join(missing))
        keep = background_points(geometry, masks)
        filler = filler or make_filler(config)
    else:
        logger.info("no view has a non-empty mask: copying the capture")
        geometry, keep = SceneGeometry({}, np.zeros((0, 3)), []), np.zeros(0, dtype=bool)

    images: dict[str, np.ndarray] = {}

    def current(stem: str) -> np.ndarray:
        if stem not in images:
            p = partial / "images" / f"{stem}.png"
            images[stem] = read_image(p) if stem in done and p.is_file() else capture.image(stem)
        return images[stem]

    # Views with nothing to fill are copied as PNG.
    for stem in capture.stems:
        if stem not in masks and stem not in done:
            write_image(partial / "images" / f"{stem}.png", capture.image(stem))
            rec = ViewRecord(name=stem, status="kept")
            _write_json_atomic(partial / "done" / f"{stem}.json", asdict(rec))
            done[stem] = asdict(rec)

    ranking: dict[str, list[tuple[str, float]]] = {}
    probes: dict[str, HoleProbe | None] = {}
    if config.refs > 0 and masks:
        pairs = partial / "pairs.txt"
        if not pairs.is_file():
            write_pairs(pairs, rank_all(geometry, masks, keep, config.angle_falloff_deg))
        ranking = read_pairs(pairs)
        probes = {stem: hole_probe(stem, masks[stem], geometry, keep) for stem in ranking}
    # views filled in an earlier (interrupted) run see through their holes already
    for stem in ranking:
        for view in masks:
            if view in done and view != stem:
                ranking[stem] = rescore_filled(
                    ranking[stem], view, probes[stem], geometry, config.angle_falloff_deg
                )

    filled = {s for s in masks if s in done}
    todo = [s for s in masks if s not in done]
    with Progress(disable=None) as progress:
        task = progress.add_task("filling views", total=len(masks), completed=len(filled))
        while todo:
            stem = next_view(todo, ranking, config.refs, filled)
            t0 = time.time()
            ranked = choose_references(stem, ranking, config.refs + EXTRA_REFERENCES, filled)
            refs, spare = ranked[: config.refs], ranked[config.refs :]
            result, record = fill_view(
                stem,
                current(stem),
                masks[stem],
                refs,
                geometry,
                keep,
                masks,
                filled,
                current,
                filler,
                config,
                spare=spare,
            )
            record.seconds = time.time() - t0
            record.order = len(filled)
            write_image(partial / "images" / f"{stem}.png", result)
            _write_json_atomic(partial / "done" / f"{stem}.json", asdict(record))
            images[stem] = result
            done[stem] = asdict(record)
            filled.add(stem)
            todo.remove(stem)
            for other in todo:  # the new fill sees through its hole: what it offers the others changed
                if other in ranking:
                    ranking[other] = rescore_filled(
                        ranking[other], stem, probes[other], geometry, config.angle_falloff_deg
                    )
            progress.advance(task)
            logger.debug(
                "%s filled (%s, refs %s) in %.1f s",
                stem,
                record.method,
                ", ".join(record.references or []) or "-",
                record.seconds,
            )

    finish_output(capture, masks, partial, out, done, config, time.time() - t_start)
    return out


EXTRA_REFERENCES = 2
"""At most this many references beyond K are added for a view whose K references together leave part of its
hole unseen (`fill_view`)."""


FULL_COVERAGE = 0.98
"""Share of the hole the references' warps must see together before no more are added."""


def fill_view(
    stem: str,
    image: np.ndarray,
    mask: np.ndarray,
    refs: list[tuple[str, float]],
    geometry: SceneGeometry,
    keep: np.ndarray,
    masks: dict[str, np.ndarray],
    filled: set[str],
    current,
    filler,
    config: RemovalConfig,
    spare: list[tuple[str, float]] | None = None,
) -> tuple[np.ndarray, ViewRecord]:
    """Fill one view's hole; returns the full-resolution result and its record.

    When the warps of `refs` together see less than `FULL_COVERAGE` of the hole, up to `EXTRA_REFERENCES`
    of the `spare` (next-ranked) views that see some of the rest are added. When an object is removed from
    every view, a view's best references are its neighbours, whose own holes (until they are filled) hide
    much the same background: early in a run they can leave part of the hole unseen, which would otherwise
    be invented and carried to every view filled later. A single hole in an otherwise clean capture is
    usually seen whole by its first references, which then stay all it gets."""

    def prepare(names: list[tuple[str, float]]) -> tuple[FillRequest, CropBox]:
        invalid = {name: None if name in filled else masks.get(name) for name, _ in names}
        return prepare_request(
            stem,
            image,
            mask,
            names,
            geometry,
            keep,
            invalid,
            current,
            config.working_size,
            config.context,
            config.seed,
            plane_sweep=config.plane_sweep,
        )

    def sees(ref: PreparedReference) -> np.ndarray:
        out = ref.valid.copy()
        for _, valid in ref.alternatives:
            out |= valid
        return out

    request, box = prepare(refs)
    seen = np.zeros_like(request.hole)
    for p in request.references:
        seen |= sees(p)
    total = max(int(request.hole.sum()), 1)
    added = 0
    for candidate in (spare or []) if refs else []:
        if added >= EXTRA_REFERENCES or (seen & request.hole).sum() >= FULL_COVERAGE * total:
            break
        more = prepare([candidate])[0].references
        if more and (sees(more[0]) & request.hole & ~seen).sum() >= 0.02 * total:
            request.references.append(more[0])
            seen |= sees(more[0])
            added += 1
    for p in request.references:
        p.filled = p.name in filled
    union = np.zeros_like(request.hole)
    for p in request.references:
        union |= p.valid
    coverage = float(union[request.hole].mean()) if request.references and request.hole.any() else 0.0
    fill = filler(request)
    result = paste_back(image, mask, box, fill)
    record = ViewRecord(
        name=stem,
        status="filled",
        method=getattr(filler, "last_method", filler.name),
        references=[p.name for p in request.references],
        reference_scores=[round(p.score, 4) for p in request.references],
        hole_fraction=float(mask.mean()),
        warp_coverage=coverage,
    )
    return result, record
