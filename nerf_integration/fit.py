"""Fit `inconddiff-fit` in-process and render views from it.

`prepare_fit_data` writes a nerfstudio `transforms.json` for a capture (cameras from transforms.json,
sparse/0, gt/transforms.json or gt/sparse/0; images from any folder of same-stem files) with an explicit
train / held-out split. `fit` runs nerfstudio's own Trainer machinery (pipeline, optimisers, callbacks,
checkpoint + config.yml, so `ns-render` and `ns-eval` can load the result) one iteration at a time, with an
optional wall-clock budget and a progress hook; for `inconddiff-fit` each iteration draws its rays from a table
of every training pixel built once (the same model, loss, optimisers and schedule as `ns-train`, without the
datamanager's per-step sampling).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inconddiff.capture import CaptureError, list_images

log = logging.getLogger(__name__)

RAYS_PER_BATCH = 1024
"""Rays per step of `fit` (the evaluation's fits and the speed benchmark)."""
# nerfstudio's checkpoint loaders (ns-eval, ns-render, --load-dir) call torch.load without weights_only=False.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def _frames_from_capture(capture: Path) -> tuple[list[dict], str]:
    """nerfstudio frames (file_path = image stem) from the capture's own or ground-truth cameras."""
    for tf in (capture / "transforms.json", capture / "gt" / "transforms.json"):
        if tf.is_file():
            meta = json.loads(tf.read_text())
            frames = []
            for f in meta.get("frames", []):
                frame = {k: meta[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h") if k in meta}
                frame.update(f)
                frame["file_path"] = Path(f["file_path"]).stem
                frame.pop("mask_path", None)
                frames.append(frame)
            if not frames:
                raise CaptureError(tf, "no frames")
            return frames, str(tf)
    for sparse in (capture / "sparse" / "0", capture / "gt" / "sparse" / "0"):
        if sparse.is_dir():
            from colmap_tools.sparse_model import load_scene_geometry
            from inconddiff.transforms_json import nerfstudio_frame

            geom = load_scene_geometry(sparse)
            frames = [
                nerfstudio_frame(c.K, c.R, c.t, c.width, c.height, stem) for stem, c in geom.cameras.items()
            ]
            return frames, str(sparse)
    raise CaptureError(
        capture, "no cameras: expected transforms.json, sparse/0, gt/transforms.json or gt/sparse/0"
    )


def _points_file(capture: Path, work_dir: Path) -> Path | None:
    """The capture's sparse points as a PLY (nerfstudio's `ply_file_path`, which the model's scene box is chosen
    from): the one its transforms.json names, else one written to `work_dir` from its COLMAP model."""
    tf = capture / "transforms.json"
    if tf.is_file():
        named = json.loads(tf.read_text()).get("ply_file_path")
        if named and (capture / named).is_file():
            return capture / named
    for sparse in (capture / "sparse" / "0", capture / "gt" / "sparse" / "0"):
        if sparse.is_dir():
            from colmap_tools.sparse_model import load_scene_geometry
            from inconddiff.transforms_json import POINTS_FILE, write_points_ply

            work_dir.mkdir(parents=True, exist_ok=True)
            write_points_ply(work_dir / POINTS_FILE, load_scene_geometry(sparse).points)
            return work_dir / POINTS_FILE
    return None


def heldout_stems(stems: list[str], holdout: int) -> list[str]:
    """`holdout` stems spread evenly over the sorted list (none when holdout <= 0)."""
    if holdout <= 0:
        return []
    if holdout >= len(stems):
        raise ValueError(f"cannot hold out {holdout} of {len(stems)} views")
    idx = np.linspace(0, len(stems), holdout, endpoint=False).astype(int) + len(stems) // (2 * holdout)
    return [stems[i] for i in sorted(set(int(i) % len(stems) for i in idx))]


def prepare_fit_data(
    capture: str | os.PathLike,
    work_dir: str | os.PathLike,
    holdout: int = 0,
    image_dir: str | os.PathLike | None = None,
    heldout: list[str] | None = None,
    exclude: dict[str, np.ndarray] | None = None,
    working_size: int | None = None,
) -> tuple[Path, list[str], list[str]]:
    """Write work_dir/transforms.json for the capture's registered views, images from `image_dir` (default
    capture/images), with `holdout` views (or the named `heldout` stems) kept out of training and, for the views
    named in `exclude`, the pixels where its bool mask is True kept out of the loss (nerfstudio masks, written to
    work_dir/loss_masks/). With `working_size`, views whose longer side exceeds it are shrunk to it (area
    averaging, copies in work_dir/images/, intrinsics scaled; `exclude` masks are given at full size).

    Returns (data dir, training stems, held-out stems)."""
    capture, work_dir = Path(capture), Path(work_dir)
    image_dir = Path(image_dir) if image_dir is not None else capture / "images"
    images = {p.stem: p.resolve() for p in list_images(image_dir)}
    frames, source = _frames_from_capture(capture)
    frames = [f for f in frames if f["file_path"] in images]
    if len(frames) < 2:
        raise CaptureError(image_dir, f"fewer than 2 images have cameras in {source}")
    stems = sorted(f["file_path"] for f in frames)
    held = list(heldout) if heldout is not None else heldout_stems(stems, holdout)
    train = [s for s in stems if s not in held]
    work_dir.mkdir(parents=True, exist_ok=True)
    if working_size is not None:
        images = {
            f["file_path"]: _shrink_view(f, images[f["file_path"]], work_dir, working_size) for f in frames
        }
    if exclude:
        from inconddiff.capture import write_image
        from inconddiff.prior.crops import resize_mask

        for f in frames:
            stem = f["file_path"]
            keep = np.ones((int(f["h"]), int(f["w"])), bool)
            if stem in exclude:
                keep &= ~resize_mask(np.asarray(exclude[stem], bool), keep.shape)
            path = work_dir / "loss_masks" / f"{stem}.png"
            write_image(path, keep.astype(np.uint8) * 255)
            f["mask_path"] = str(path.resolve())
    root = work_dir.resolve()

    def named(path: Path) -> str:
        """Files inside work_dir by relative path, so the folder can be moved with the fit's run."""
        path = Path(path).resolve()
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    for f in frames:
        f["file_path"] = named(images[f["file_path"]])
        if "mask_path" in f:
            f["mask_path"] = named(f["mask_path"])
    meta = {"camera_model": "OPENCV", "frames": frames}
    points = _points_file(capture, work_dir)
    if points is not None:
        meta["ply_file_path"] = named(points)
    meta["train_filenames"] = [named(images[s]) for s in train]
    # nerfstudio needs a non-empty eval split; without held-out views it evaluates on the training views.
    meta["val_filenames"] = meta["test_filenames"] = [named(images[s]) for s in (held or train)]
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "transforms.json").write_text(json.dumps(meta, indent=1))
    return work_dir, train, held


def working_shape(height: int, width: int, working_size: int | None) -> tuple[int, int]:
    """(height, width) of a view shrunk so that its longer side is at most `working_size` (None: unchanged)."""
    if working_size is None or max(height, width) <= working_size:
        return height, width
    s = working_size / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def _shrink_view(frame: dict, image: Path, work_dir: Path, working_size: int) -> Path:
    """Shrink one view to the working size in place in `frame` (size and intrinsics) and return the image to fit
    on: a shrunk copy under work_dir/images/, or the original when it is small enough."""
    from inconddiff.capture import read_image, write_image
    from inconddiff.prior.crops import resize_image

    h, w = int(frame["h"]), int(frame["w"])
    nh, nw = working_shape(h, w, working_size)
    if (nh, nw) == (h, w):
        return image
    sx, sy = nw / w, nh / h
    frame.update(
        w=nw, h=nh, fl_x=frame["fl_x"] * sx, cx=frame["cx"] * sx, fl_y=frame["fl_y"] * sy, cy=frame["cy"] * sy
    )
    pixels = read_image(image)
    if pixels.shape[:2] != (h, w):
        raise CaptureError(
            image, f"size {pixels.shape[1]}x{pixels.shape[0]} differs from its camera's {w}x{h}"
        )
    out = work_dir / "images" / f"{frame['file_path']}.png"
    write_image(out, resize_image(pixels, (nh, nw)))
    return out.resolve()


@dataclass
class FitResult:
    """A fitted pipeline with what it took."""

    pipeline: object
    config_path: Path
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    carved_cells: int | None = None
    """Cells carved as the removed object's volume (None when no pass ran: without masks, or in a fit shorter
    than the model's `carve_after`)."""


def fit(
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    max_steps: int | None = None,
    time_budget: float | None = None,
    rays_per_batch: int = RAYS_PER_BATCH,
    method_config=None,
    on_step: Callable[[int, float, object], dict | None] | None = None,
    hook_every: int = 100,
    seed: int = 0,
    carve_masks: str | os.PathLike | None = None,
    device: str | None = None,
    appearance: bool | None = None,
) -> FitResult:
    """Train a nerfstudio method (default `inconddiff-fit`) on `data_dir` (a folder with transforms.json), on
    `device` ('cpu', 'cuda'; default: CUDA when available), for `max_steps` steps (None: `config.MAX_STEPS`).

    `time_budget` (seconds of training, carving passes included, hook time excluded) stops early.
    `on_step(step, train_seconds, pipeline)` runs every `hook_every` steps and at the end; dicts it returns are
    collected in `history`. Writes `config.yml` and a checkpoint under `output_dir` in nerfstudio's layout. With
    `carve_masks` (a folder of object masks by image stem), the volume the masks agree the removed object filled
    is held empty, by the model's own training callback (`InconddiffFitModel`, as under `ns-train`).
    `appearance` turns the per-view colour transforms of `inconddiff-fit` on or off (None: the method's default,
    on).
    """
    from nerfstudio.engine.callbacks import TrainingCallbackLocation
    from nerfstudio.engine.trainer import Trainer

    from nerf_integration.config import MAX_STEPS, fit_trainer_config

    max_steps = MAX_STEPS if max_steps is None else max_steps

    config = method_config or fit_trainer_config(max_steps=max_steps, rays_per_batch=rays_per_batch)
    config.pipeline.datamanager.data = Path(data_dir)
    config.pipeline.datamanager.dataparser.data = Path(data_dir)
    config.output_dir = Path(output_dir)
    config.experiment_name = "fit"
    config.timestamp = "run"
    config.max_num_iterations = max_steps
    config.machine.seed = seed
    if device is not None:
        from inconddiff.device import get_device

        config.machine.device_type = get_device(device).type
    config.vis = "tensorboard"
    if appearance is not None and hasattr(config.pipeline.model, "appearance"):
        config.pipeline.model.appearance = appearance
    if hasattr(config.pipeline.model, "carve_masks"):
        config.pipeline.model.carve_masks = Path(carve_masks) if carve_masks is not None else None
        config.pipeline.model.carve = carve_masks is not None
    torch.manual_seed(seed)
    trainer = Trainer(config, local_rank=0, world_size=1)
    trainer.setup()
    config.save_config()
    pipeline = trainer.pipeline
    pipeline.train()
    fast = _fast_batches(pipeline, config.pipeline.datamanager.train_num_rays_per_batch, seed)
    history: list[dict] = []
    train_seconds, step = 0.0, 0
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("fitting"), BarColumn(), TextColumn("{task.completed} steps"), TimeElapsedColumn())
    total = max_steps if time_budget is None else None
    with Progress(*columns, disable=None, transient=True) as progress:
        task = progress.add_task("fit", total=total)
        for step in range(max_steps):
            t0 = time.perf_counter()
            for cb in trainer.callbacks:
                cb.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
            if fast is not None:
                _fast_iteration(pipeline.model, trainer.optimizers, fast, step)
            else:
                trainer.train_iteration(step)
            for cb in trainer.callbacks:
                cb.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
            train_seconds += time.perf_counter() - t0
            done = step + 1 == max_steps or (time_budget is not None and train_seconds >= time_budget)
            if on_step is not None and ((step + 1) % hook_every == 0 or done):
                pipeline.eval()
                rec = on_step(step + 1, train_seconds, pipeline)
                pipeline.train()
                if rec:
                    history.append(rec)
            progress.advance(task)
            if done:
                break
    trainer.save_checkpoint(step)
    _close_event_writers()
    pipeline.eval()
    log.info("fitted %d steps in %.1f s of training", step + 1, train_seconds)
    carved = getattr(pipeline.model, "carved_cells", None)
    return FitResult(pipeline, config.get_base_dir() / "config.yml", step + 1, train_seconds, history, carved)


def relocate_run(
    config_path: str | os.PathLike, old_root: str | os.PathLike, new_root: str | os.PathLike
) -> None:
    """Rewrite a fitted run's config.yml so that its paths under `old_root` (data, output, masks) point under
    `new_root` instead: for a run written into a temporary folder that is then renamed, so that nerfstudio's
    tools (`ns-viewer --load-config`, `ns-render`) find its data and checkpoint there."""
    import dataclasses

    import yaml

    config_path = Path(config_path)
    old_root, new_root = Path(old_root).resolve(), Path(new_root).resolve()

    def moved(value):
        if isinstance(value, Path):  # relative paths were made relative to the working directory
            absolute = value.resolve()
            return new_root / absolute.relative_to(old_root) if absolute.is_relative_to(old_root) else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                setattr(value, f.name, moved(getattr(value, f.name)))
            return value
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        return value

    config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    config_path.write_text(yaml.dump(moved(config)))


def _close_event_writers() -> None:
    """Close and forget nerfstudio's event writers: they are module globals, and a writer left open keeps writing
    into this fit's folder (which the evaluation then moves) during the next fit in the process."""
    from nerfstudio.utils import writer

    for w in writer.EVENT_WRITERS:
        inner = getattr(w, "tb_writer", None)
        if inner is not None:
            inner.close()
    writer.EVENT_WRITERS.clear()
    writer.EVENT_STORAGE.clear()


class _RayTable:
    """Every training pixel's ray and colour, precomputed once, drawn from at random each step."""

    def __init__(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        colours: torch.Tensor,
        views: torch.Tensor,
        rays: int,
        seed: int,
    ):
        self.origins, self.directions, self.colours, self.views = origins, directions, colours, views
        self.rays = rays
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rays at random: origins, directions, colours and the index of each one's training view."""
        idx = torch.randint(0, self.origins.shape[0], (self.rays,), generator=self.generator)
        return self.origins[idx], self.directions[idx], self.colours[idx], self.views[idx]


@torch.no_grad()
def _fast_batches(pipeline, rays: int, seed: int) -> _RayTable | None:
    """For `inconddiff-fit`, a table of all training rays (pixels a dataset mask marks 0 left out, as nerfstudio's
    pixel sampler does), so a step skips the datamanager's per-step sampling and ray generation; None for other
    models, which train through nerfstudio's `train_iteration` unchanged."""
    from nerf_integration.model import InconddiffFitModel

    model = pipeline.model
    if not isinstance(model, InconddiffFitModel):
        return None
    ds = pipeline.datamanager.train_dataset
    origins, directions, colours, views = [], [], [], []
    for i in range(len(ds)):
        bundle = ds.cameras.generate_rays(camera_indices=i, keep_shape=True)
        data = ds.get_data(i, image_type="float32")
        keep = torch.ones(bundle.origins.shape[:2], dtype=torch.bool)
        if "mask" in data:
            keep = data["mask"][..., 0].bool()
        origins.append(bundle.origins[keep])
        directions.append(bundle.directions[keep])
        colours.append(data["image"][..., :3][keep])
        views.append(torch.full((int(keep.sum()),), i, dtype=torch.long))
    dev = model.device
    return _RayTable(
        torch.cat(origins).to(dev),
        torch.cat(directions).to(dev),
        torch.cat(colours).to(dev),
        torch.cat(views).to(dev),
        rays,
        seed,
    )


def _fast_iteration(model, optimizers, table: _RayTable, step: int) -> dict[str, torch.Tensor]:
    """One optimisation step of `inconddiff-fit` on a random batch from the ray table (the model's own loss,
    nerfstudio's optimisers and schedulers)."""
    optimizers.zero_grad_all()
    origins, directions, colours, views = table.draw()
    c = model.config
    near = origins.new_full((origins.shape[0], 1), c.near_plane)
    far = origins.new_full((origins.shape[0], 1), c.far_plane)
    outputs = model.render_rays(origins, directions, near, far, views)
    loss_dict = model.get_loss_dict(outputs, {"image": colours})
    loss = sum(loss_dict.values())
    loss.backward()
    optimizers.optimizer_step_all()
    optimizers.scheduler_step_all(step)
    if step % 100 == 0 and "samples_per_ray" in outputs:
        log.debug(
            "step %d: loss %.4f, %.1f samples per ray",
            step,
            float(loss.detach()),
            float(outputs["samples_per_ray"]),
        )
    return loss_dict
