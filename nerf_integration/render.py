"""Renders of a fitted pipeline: one camera, every view, or a fixed set of held-out pixels for a quick PSNR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def render_camera(pipeline, cameras, index: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB (float HxWx3 in [0, 1]) and depth (float HxW, scene units) of one camera of a Cameras batch."""
    model = pipeline.model
    cam = cameras[index : index + 1].to(model.device)
    out = model.get_outputs_for_camera(cam)
    rgb = out["rgb"].clamp(0, 1).cpu().numpy()
    depth = out["depth"][..., 0].cpu().numpy()
    return rgb, depth


@torch.no_grad()
def render_depth(
    pipeline, cameras, index: int, pixels: np.ndarray | None = None, chunk: int = 8192
) -> np.ndarray:
    """Depth (float HxW, scene units) of one camera of a Cameras batch, without evaluating colour where the model
    can skip it (`inconddiff-fit`). With `pixels` (HxW bool), only those pixels' rays are rendered and the others
    are NaN."""
    model = pipeline.model
    before = getattr(model, "depth_only", None)
    if before is not None:
        model.depth_only = True
    try:
        if pixels is None:
            return render_camera(pipeline, cameras, index)[1]
        depth = np.full(pixels.shape, np.nan, np.float32)
        rows, cols = np.nonzero(pixels)
        if rows.size == 0:
            return depth
        coords = torch.stack([torch.as_tensor(rows), torch.as_tensor(cols)], -1).float() + 0.5
        cams = cameras[index : index + 1]
        bundle = cams.generate_rays(camera_indices=torch.zeros(rows.size, 1, dtype=torch.long), coords=coords)
        out = [
            model(bundle[i : i + chunk].to(model.device))["depth"].cpu() for i in range(0, rows.size, chunk)
        ]
        depth[rows, cols] = torch.cat(out)[:, 0].numpy()
        return depth
    finally:
        if before is not None:
            model.depth_only = before


def dataset_stems(dataset) -> list[str]:
    return [Path(p).stem for p in dataset._dataparser_outputs.image_filenames]


def render_views(pipeline, stems: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Render every training and held-out view (or those named in `stems`): stem -> (rgb, depth).
    A training view is rendered in its own colours (its `colour_transform` in `inconddiff-fit`), a held-out view
    in the mean colours of the training views."""
    dm = pipeline.datamanager
    wanted = None if stems is None else set(stems)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    model = pipeline.model
    has_views = hasattr(model, "render_view")
    for dataset in (dm.train_dataset, dm.eval_dataset):
        for i, stem in enumerate(dataset_stems(dataset)):
            if stem not in out and (wanted is None or stem in wanted):
                if has_views:
                    model.render_view = i if dataset is dm.train_dataset else None
                try:
                    out[stem] = render_camera(pipeline, dataset.cameras, i)
                finally:
                    if has_views:
                        model.render_view = None
    return out


def sample_pixels(
    pipeline, num: int = 8192, seed: int = 0, split: str = "eval"
) -> tuple[object, torch.Tensor]:
    """A fixed random set of pixels of the held-out views (`split` "eval") or of the training views ("train") as a
    ray bundle and their colours, for quick PSNR."""
    dm = pipeline.datamanager
    ds = dm.eval_dataset if split == "eval" else dm.train_dataset
    g = torch.Generator().manual_seed(seed)
    cams = ds.cameras
    n = len(cams)
    idx = torch.randint(0, n, (num,), generator=g)
    h, w = cams.height[idx, 0], cams.width[idx, 0]  # views may differ in size
    ys = (torch.rand(num, generator=g) * h).long().clamp_max(h - 1)
    xs = (torch.rand(num, generator=g) * w).long().clamp_max(w - 1)
    colours = torch.stack(
        [
            torch.as_tensor(ds.get_image_float32(int(i))[..., :3][y, x])
            for i, y, x in zip(idx, ys, xs, strict=True)
        ]
    )
    coords = torch.stack([ys, xs], -1).float() + 0.5
    bundle = cams.generate_rays(camera_indices=idx[:, None], coords=coords)
    return bundle, colours


@torch.no_grad()
def pixel_psnr(pipeline, bundle, colours: torch.Tensor, chunk: int = 8192) -> float:
    """PSNR of the model's colours on a ray bundle against `colours`."""
    model = pipeline.model
    preds = []
    for i in range(0, len(bundle), chunk):
        preds.append(model(bundle[i : i + chunk].to(model.device))["rgb"].cpu())
    mse = float(((torch.cat(preds).clamp(0, 1) - colours) ** 2).mean())
    return float("inf") if mse == 0 else -10 * float(np.log10(mse))
