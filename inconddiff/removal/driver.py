"""The multi-view driver: remove a masked object from every view of a capture, one view after another.

Views are filled in the order of how much of their hole other views saw (`order.fill_order`). Each view's hole
is filled from its ranked sources (`colmap_tools.pairs`, read from OUT/pairs.txt): the original pixels of every
view that sees part of it (copied), and the content earlier fills invented (carried), never the other way
round (`prior.copy_fill`); the filler then refines or replaces that prior. Each filled view is pasted back at
full resolution with a provenance map (copied, carried, invented) that later views read. Outputs land in
OUT.partial/ as they are made and the folder is renamed to OUT at the end, so a run that stops half-way resumes
from the views already done.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from colmap_tools.pairs import (
    HoleProbe,
    hole_probe,
    rank_all,
    read_pairs,
    reference_score,
    seen_share,
    write_pairs,
)
from inconddiff.cameras import SceneGeometry, background_points
from inconddiff.capture import Capture, CaptureError, load_capture, read_image, write_image
from inconddiff.prior.copy_fill import CARRIED, COPIED, INVENTED, CopySource
from inconddiff.prior.crops import CropBox, paste_back, resize_mask
from inconddiff.removal.config import METHODS, RemovalConfig, ViewRecord
from inconddiff.removal.fillers import default_weights_dir, make_filler
from inconddiff.removal.order import fill_order
from inconddiff.removal.output import (
    _settings,
    _write_json_atomic,
    ensure_sparse_model,
    finish_output,
    open_partial,
    read_provenance,
    run_lock,
    validate_masks,
    write_provenance,
)
from inconddiff.removal.request import prepare_request
from inconddiff.removal.views import CaptureViews

logger = logging.getLogger(__name__)

CARRIED_SOURCES = 3
"""A view is offered the invented content of at most this many earlier fills: those whose invented region
covers most of its hole."""


def remove_object(
    capture_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    config: RemovalConfig | None = None,
    filler=None,
) -> Path:
    """Remove the masked object from every view of `capture_dir` into the new folder `out_dir`.

    `filler` overrides the one `config.method` would build (for tests and benchmarks). One run at a time
    writes to `out_dir`: a second one stops with a CaptureError (`output.run_lock`).
    """
    with run_lock(Path(out_dir)):
        return _remove_object(capture_dir, out_dir, masks_dir, config, filler)


def _remove_object(capture_dir, out_dir, masks_dir, config, filler) -> Path:
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
        if filler is None:
            filler = make_filler(adapted(config, capture, masks, geometry, partial))
    else:
        logger.info("no view has a non-empty mask: copying the capture")
        geometry, keep = SceneGeometry({}, np.zeros((0, 3)), []), np.zeros(0, dtype=bool)

    for stem in capture.stems:  # views with nothing to fill are copied as PNG
        if stem not in masks and stem not in done:
            write_image(partial / "images" / f"{stem}.png", capture.image(stem))
            rec = ViewRecord(name=stem, status="kept")
            _write_json_atomic(partial / "done" / f"{stem}.json", asdict(rec))
            done[stem] = asdict(rec)

    ranking: dict[str, list[tuple[str, float]]] = {}
    probes = hole_probes(geometry, masks, keep) if config.refs > 0 else {}  # no references, no probes
    if config.refs > 0 and masks:
        pairs = partial / "pairs.txt"
        if not pairs.is_file():
            write_pairs(pairs, rank_all(geometry, masks, keep, config.angle_falloff_deg, probes))
        ranking = read_pairs(pairs)
    run = _Run(capture, masks, geometry, keep, ranking, partial, config, probes)
    seen = {s: run.seen_share(s) for s in masks}
    filled = sorted((s for s in masks if s in done), key=lambda s: done[s]["order"])
    todo = [s for s in fill_order(seen) if s not in done]
    with Progress(disable=None) as progress:
        task = progress.add_task("filling views", total=len(masks), completed=len(filled))
        for stem in todo:
            t0 = time.time()
            result, provenance, record = run.fill(stem, filled, filler)
            record.seconds = time.time() - t0
            record.order = len(filled)
            write_provenance(partial / "provenance" / f"{stem}.png", provenance)
            write_image(partial / "images" / f"{stem}.png", result)
            _write_json_atomic(partial / "done" / f"{stem}.json", asdict(record))
            done[stem] = asdict(record)
            filled.append(stem)
            progress.advance(task)
            logger.debug(
                "%s filled (%s): %.0f%% copied, %.0f%% carried, %.0f%% invented, %.1f s",
                stem,
                record.method,
                100 * record.seen_fraction,
                100 * record.carried_fraction,
                100 * record.invented_fraction,
                record.seconds,
            )

    finish_output(capture, masks, partial, out, done, config, time.time() - t_start)
    return out


def adapted(
    config: RemovalConfig,
    capture: Capture,
    masks: dict[str, np.ndarray],
    geometry: SceneGeometry,
    partial: Path,
) -> RemovalConfig:
    """`config`, its model adapted to this capture first when its filler uses the model and adaptation is on
    (`RemovalConfig.adapt_minutes`)."""
    if config.method not in ("auto", "diffusion") or config.adapt_minutes <= 0:
        return config
    base = Path(config.model) if config.model else default_weights_dir()
    if not (base / "model_index.json").is_file():
        return config  # make_filler says what is missing
    from inconddiff.training.finetune import SAMPLE_SIDE, adapt
    from inconddiff.training.samples import SceneData

    logger.info("adapting the diffusion model to this capture (about %.1f min)", config.adapt_minutes)
    scene = SceneData.shrunk(capture.root.name, geometry, capture.image, SAMPLE_SIDE)
    model = adapt(scene, masks, partial / "adapted", base, config.adapt_minutes, seed=config.seed)
    return replace(config, model=str(model))


def hole_probes(
    geometry: SceneGeometry, masks: dict[str, np.ndarray], keep: np.ndarray
) -> dict[str, HoleProbe | None]:
    """Each masked view's `hole_probe` (views with a camera): made once, for ranking and for filling."""
    return {s: hole_probe(s, m, geometry, keep) for s, m in masks.items() if s in geometry.cameras}


class _Run:
    """What one run knows while it fills views: the capture, its geometry and ranking, and its work folder."""

    def __init__(
        self,
        capture: Capture,
        masks: dict[str, np.ndarray],
        geometry: SceneGeometry,
        keep: np.ndarray,
        ranking: dict[str, list[tuple[str, float]]],
        partial: Path,
        config: RemovalConfig,
        probes: dict[str, HoleProbe | None],
    ):
        self.capture, self.masks, self.geometry, self.keep = capture, masks, geometry, keep
        self.ranking, self.partial, self.config, self.probes = ranking, partial, config, probes
        self.views = CaptureViews(geometry, keep, capture.image, masks)
        self._invented: dict[str, np.ndarray] = {}

    def seen_share(self, stem: str) -> float:
        """The share of `stem`'s hole its ranked views see (at the probe's resolution)."""
        names = [n for n, _ in self.ranking.get(stem, [])[: self.config.refs]]
        cams = self.geometry.cameras
        return seen_share(self.probes.get(stem), [(cams[n], self.masks.get(n)) for n in names])

    def invented(self, stem: str) -> np.ndarray:
        """Where a filled view holds content that no view observed (carried or invented), full resolution."""
        if stem not in self._invented:
            prov = read_provenance(self.partial / "provenance" / f"{stem}.png")
            self._invented[stem] = (prov == CARRIED) | (prov == INVENTED)
        return self._invented[stem]

    def sources(self, stem: str, filled: list[str]) -> list[tuple[CopySource, float]]:
        """The observed views ranked for `stem`, then the earlier fills whose invented content its hole sees."""
        cams = self.geometry.cameras
        out = [(self.views.source(n), score) for n, score in self.ranking.get(stem, [])[: self.config.refs]]
        probe = self.probes.get(stem)
        if probe is None or not out or not self.config.carry:
            return out
        offers = []
        for order, name in enumerate(filled):
            if name in cams and self.invented(name).any():
                score = reference_score(
                    probe, cams[name], ~self.invented(name), self.config.angle_falloff_deg
                )
                if score > 0:
                    offers.append((-score, order, name))
        for _, _, name in sorted(offers)[:CARRIED_SOURCES]:
            image = read_image(self.partial / "images" / f"{name}.png")
            out.append((CopySource(name, cams[name], image, ~self.invented(name), carried=True), 0.0))
        return out

    def fill(self, stem: str, filled: list[str], filler) -> tuple[np.ndarray, np.ndarray, ViewRecord]:
        """Fill one view's hole: the full-resolution result, its provenance map and its record."""
        image, mask = self.views.image(stem), self.masks[stem]
        sources = self.sources(stem, filled)
        cfg = self.config
        request, box = prepare_request(
            stem,
            image,
            mask,
            sources,
            self.geometry,
            self.keep,
            cfg.working_size,
            cfg.context,
            cfg.seed,
            probes=getattr(filler, "probes", 0),
            invent=cfg.invent,
        )
        fill = filler(request)
        result = paste_back(image, mask, box, fill)
        provenance = full_resolution(request.provenance, mask, box)
        hole = request.hole
        share = {k: float((request.provenance[hole] == k).mean()) if hole.any() else 0.0 for k in (1, 2, 3)}
        used = set(np.unique(request.label[request.label >= 0])) if request.label is not None else set()
        observed = [(s.name, sc) for i, (s, sc) in enumerate(sources) if not s.carried and i in used]
        record = ViewRecord(
            name=stem,
            status="filled",
            method=getattr(filler, "last_method", filler.name),
            references=[n for n, _ in observed],
            reference_scores=[round(sc, 4) for _, sc in observed],
            carried_from=[s.name for i, (s, _) in enumerate(sources) if s.carried and i in used],
            hole_fraction=float(mask.mean()),
            seen_fraction=share[COPIED],
            carried_fraction=share[CARRIED],
            invented_fraction=share[INVENTED],
            scores=dict(getattr(filler, "last_scores", {}) or {}),
            probe_fraction=float(getattr(filler, "last_probe_fraction", 0.0)),
        )
        return result, provenance, record


def full_resolution(provenance: np.ndarray, mask: np.ndarray, box: CropBox) -> np.ndarray:
    """A crop's provenance map brought to the full image (uint8): the crop's value at every masked pixel,
    `INVENTED` for masked pixels outside the crop."""
    out = np.where(mask, INVENTED, 0).astype(np.uint8)
    h, w = box.shape
    region = np.zeros((h, w), np.uint8)
    for value in (COPIED, CARRIED, INVENTED):
        region[resize_mask(provenance == value, (h, w)) & (region == 0)] = value
    crop_mask = box.cut(mask)
    out[box.y0 : box.y1, box.x0 : box.x1][crop_mask] = np.where(
        region[crop_mask] > 0, region[crop_mask], INVENTED
    )
    return out
