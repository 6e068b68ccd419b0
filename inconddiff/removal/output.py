"""The output folder of a removal run: work in OUT.partial/, resume from the views done, finish atomically.

Every filled view is written to OUT.partial/images with a record in OUT.partial/done/ as soon as it is made,
so that a run that stops half-way resumes from there; at the end the masks, transforms.json, log and
report are added and the folder is renamed to OUT. One run at a time writes there (`run_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from inconddiff.capture import Capture, CaptureError, write_image
from inconddiff.removal.config import RemovalConfig

logger = logging.getLogger(__name__)


def _settings(capture: Path, masks_dir: Path, config: RemovalConfig) -> dict:
    return {"capture": str(capture.resolve()), "masks": str(masks_dir.resolve()), "config": asdict(config)}


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold, for the `with` block, the lock that lets one run at a time write to OUT (through OUT.partial).

    An exclusive `flock` on OUT.lock, beside OUT.partial, taken without waiting: a second run stops at once
    with a CaptureError naming the folder and the process writing to it, and creates nothing. The kernel
    drops a flock with its process, so a lock file left by a killed run blocks nothing; the file is removed
    when the block ends, however it ends.
    """
    partial = out.with_name(out.name + ".partial")
    lock_path = out.with_name(out.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CaptureError(
                out,
                f"another run is writing to {partial} (pid {holder}); wait for it to end or choose "
                "another output folder",
            ) from None
        # the run before may have removed the file between our open and our lock: lock the file at the path
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while locked: a run waiting on this file then sees it gone
        os.close(fd)


def open_partial(out: Path, settings: dict) -> tuple[Path, dict[str, dict]]:
    """The work folder OUT.partial (created, or reopened to resume) and the records of views done."""
    if out.exists():
        raise CaptureError(out, "output folder already exists; choose a new folder")
    partial = out.with_name(out.name + ".partial")
    done: dict[str, dict] = {}
    if partial.exists():
        saved_path = partial / "settings.json"
        saved = json.loads(saved_path.read_text()) if saved_path.is_file() else None
        if saved != settings:
            raise CaptureError(
                partial,
                "an interrupted run with other settings is here; rerun with the same settings to resume "
                "it, or delete this folder to start over",
            )
        for p in sorted((partial / "done").glob("*.json")):
            done[p.stem] = json.loads(p.read_text())
        logger.info("resuming %s: %d views already done", partial, len(done))
    else:
        (partial / "done").mkdir(parents=True)
        (partial / "settings.json").write_text(json.dumps(settings, indent=2))
    return partial, done


def _write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


PROVENANCE_STEP = 85
"""A provenance map is stored as a grey PNG, its values (`prior.copy_fill`: kept 0, copied 1, carried 2,
invented 3) times this: 0, 85, 170, 255, so that it reads as a picture too."""


def write_provenance(path: Path, provenance: np.ndarray) -> None:
    """Write a full-resolution provenance map (uint8 values 0-3)."""
    write_image(path, (provenance * PROVENANCE_STEP).astype(np.uint8))


def read_provenance(path: Path) -> np.ndarray:
    """A provenance map written by `write_provenance`."""
    import imageio.v3 as iio

    if not path.is_file():
        raise CaptureError(path, "provenance map of a filled view not found: the work folder is incomplete")
    return np.round(iio.imread(path).astype(np.float64) / PROVENANCE_STEP).astype(np.uint8)


def validate_masks(capture: Capture) -> dict[str, np.ndarray]:
    """Masks by stem (non-empty ones only); a mask covering the whole image is an error."""
    masks = {}
    for stem in capture.stems:
        m = capture.mask(stem)
        if m is None or not m.any():
            continue
        if m.all():
            raise CaptureError(
                capture.masks[stem], "mask covers the whole image: nothing would be left to fill from"
            )
        masks[stem] = m
    return masks


def ensure_sparse_model(capture: Capture, partial: Path) -> Path:
    """The capture's COLMAP model, copied to the work folder; reconstructed there when the capture has none."""
    target = partial / "sparse" / "0"
    if target.is_dir() and any(target.iterdir()):
        return target
    if capture.sparse_dir.is_dir() and any(capture.sparse_dir.iterdir()):
        shutil.copytree(capture.sparse_dir, target, dirs_exist_ok=True)
        return target
    from colmap_tools.reconstruct import reconstruct

    logger.info("%s has no sparse/0: reconstructing it (the capture itself is not modified)", capture.root)
    reconstruct(capture.root, output_dir=partial)
    if not target.is_dir():
        raise CaptureError(capture.root, "reconstruction produced no model in sparse/0")
    return target


def finish_output(
    capture: Capture,
    masks: dict[str, np.ndarray],
    partial: Path,
    out: Path,
    done: dict[str, dict],
    config: RemovalConfig,
    seconds: float,
) -> None:
    """Masks, transforms.json, report and log into the work folder, then rename it to OUT."""
    from inconddiff.removal.report import write_removal_report

    for stem in capture.masks:
        dst = partial / "masks" / f"{stem}.png"
        if not dst.exists():
            write_image(dst, masks[stem] if stem in masks else capture.mask(stem))
    sparse = partial / "sparse" / "0"
    if sparse.is_dir():
        from colmap_tools.sparse_model import load_scene_geometry
        from inconddiff.cameras import background_points
        from inconddiff.transforms_json import write_transforms

        geometry = load_scene_geometry(sparse)
        background = geometry.points[background_points(geometry, masks)] if masks else geometry.points
        write_transforms(geometry, capture.stems, partial, points=background)
    log = {
        "settings": json.loads((partial / "settings.json").read_text()),
        "seconds_total_this_run": round(seconds, 2),
        "views": [done[s] for s in capture.stems],
    }
    _write_json_atomic(partial / "log.json", log)
    provenance = {s: read_provenance(partial / "provenance" / f"{s}.png") for s in masks}
    write_removal_report(capture, partial, [done[s] for s in capture.stems], provenance, masks)
    shutil.rmtree(partial / "done")
    (partial / "settings.json").unlink()
    os.replace(partial, out)
    logger.info("wrote %s (report: %s)", out, out / "report.html")
