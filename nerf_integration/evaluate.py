"""3D-consistency of an edited capture: refit one radiance field on the edits and compare its renders with them.

Edits that agree in 3D are explained by one field, so its renders reproduce them inside the holes about as well as
outside (the control); edits that disagree between views get averaged away and the renders drift from them.
With ground truth (synthetic captures), the renders and the 2D edits are also scored against it.

    evaluate_capture(edited, out, gt_images=None, holdout=2) -> dict   # also `inconddiff evaluate`

Writes OUT/consistency.json, OUT/consistency.html, OUT/renders/<stem>.png, OUT/depth/<stem>.png (+ .npy), all at
the working size, and the fitted nerfstudio run under OUT/nerf/ (config.yml + checkpoint; `ns-viewer` and
`ns-render` load it with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, atomic_output_dir, load_capture, read_image, write_image
from inconddiff.evaluation.metrics import LPIPS, psnr, sharpness_ratio, ssim

log = logging.getLogger(__name__)


def _finite(x: float) -> float | None:
    """JSON-safe number: nan -> None, inf stays a large sentinel (100 dB) so means stay finite."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, float) and math.isinf(x):
        return 100.0
    return float(x)


def region_scores(a: np.ndarray, b: np.ndarray, hole: np.ndarray | None, lpips: LPIPS | None) -> dict:
    """PSNR/SSIM of a against b inside `hole` and outside it (the control), LPIPS on the hole's box and on the
    whole image with the hole made equal (outside only), and `gap_psnr` = in_psnr - out_psnr (how much worse the
    hole is reproduced than the untouched pixels of the same view: near 0 for edits one field explains as well as
    the capture itself, strongly negative for edits it cannot). Without a hole, only the `out_*` (whole image)
    scores."""
    a = np.asarray(a)
    b = np.asarray(b)
    rec: dict = {}
    outside = ~hole if hole is not None else np.ones(a.shape[:2], bool)
    if hole is not None and hole.any():
        rec["in_psnr"] = _finite(psnr(a, b, hole))
        rec["in_ssim"] = _finite(ssim(a, b, hole))
        if lpips is not None:
            rec["in_lpips"] = lpips.in_box(a, b, hole)
    rec["out_psnr"] = _finite(psnr(a, b, outside))
    rec["out_ssim"] = _finite(ssim(a, b, outside))
    if rec.get("in_psnr") is not None and rec["out_psnr"] is not None:
        rec["gap_psnr"] = rec["in_psnr"] - rec["out_psnr"]
    if lpips is not None:
        a_out = a.copy()
        if hole is not None:
            a_out[hole] = b[hole]
        rec["out_lpips"] = lpips(a_out, b)
    return rec


LPIPS_WEIGHT = 20.0
"""dB taken off a view's hole PSNR per unit of hole LPIPS (`consistency_score`): 0.05 LPIPS counts as 1 dB, about
the trade-off between the two in InConDiff's own results (+2.66 dB with -0.12 LPIPS)."""

SHARPNESS_WEIGHT = 1.0
"""dB taken off a view's hole PSNR per tenfold loss of detail in its fill (`consistency_score`): a smooth fill that
one field reproduces well also has a low render-vs-edit LPIPS, so LPIPS alone does not see blur."""


def consistency_score(views: list[dict]) -> float | None:
    """The consistency score: over the views whose holes were left out of the fit, the PSNR of the render
    against the edit inside the hole (how well the other views' edits predict this one), less `LPIPS_WEIGHT` x
    the hole's LPIPS (what PSNR misses: a render that predicts the right colours with the wrong texture), less
    `SHARPNESS_WEIGHT` x log10 of how much less detail the fill has than the pixels around it (its
    `edit_sharpness`, at most 1). None without LPIPS: a score without its texture term would rank blurred fills
    first, so it is not given at all."""
    vals = []
    for v in views:
        psnr_in = v["render_vs_edit"].get("in_psnr")
        lpips_in = v["render_vs_edit"].get("in_lpips")
        sharp = v.get("edit_sharpness")
        if v["split"] != "hole_heldout" or psnr_in is None or lpips_in is None or sharp is None:
            continue
        vals.append(
            psnr_in - LPIPS_WEIGHT * lpips_in + SHARPNESS_WEIGHT * math.log10(min(max(sharp, 1e-3), 1.0))
        )
    return float(np.mean(vals)) if vals else None


def _mean(records: list[dict], key: str) -> float | None:
    vals = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def summarise(views: list[dict]) -> dict:
    """Means of every score over training views, views whose holes were held out, and held-out views."""
    out: dict = {}
    for split in ("train", "hole_heldout", "heldout"):
        recs = [v for v in views if v["split"] == split]
        if not recs:
            continue
        s: dict = {"views": len(recs)}
        sharp = [r["edit_sharpness"] for r in recs if r.get("edit_sharpness") is not None]
        if sharp:
            s["edit_sharpness"] = float(np.mean(sharp))
        for group in ("render_vs_edit", "render_vs_gt", "edit_vs_gt"):
            rows = [r[group] for r in recs if group in r]
            if rows:
                keys = sorted({k for r in rows for k in r})
                s[group] = {k: _mean(rows, k) for k in keys}
        out[split] = s
    return out


def error_map(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """|a - b| averaged over channels, amplified, as an inferno-coloured uint8 image."""
    from matplotlib import colormaps

    err = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(-1) / 255.0
    return (colormaps["inferno"](np.clip(err * gain, 0, 1))[..., :3] * 255).astype(np.uint8)


def depth_image(depth: np.ndarray) -> np.ndarray:
    """Depth as a turbo-coloured uint8 image (near = warm), scaled by robust percentiles of inverse depth."""
    from matplotlib import colormaps

    inv = 1.0 / np.maximum(depth, 1e-6)
    lo, hi = np.percentile(inv, [2, 98])
    return (colormaps["turbo"](np.clip((inv - lo) / max(hi - lo, 1e-9), 0, 1))[..., :3] * 255).astype(
        np.uint8
    )


WORKING_SIZE = 320
"""Longer side (pixels) at which `evaluate_capture` fits, renders and scores by default. The field resolves detail
a few pixels across at this size (its colour grid is 512 cells over the whole scene), so larger views cost rays
without adding what it can reproduce."""


def hole_at(capture, stem: str, shape: tuple[int, int]) -> np.ndarray | None:
    """A view's hole (None without a mask) at the working `shape` (a pixel is in it if any part of it was)."""
    from inconddiff.prior.crops import resize_mask

    if stem not in capture.masks:
        return None
    hole = capture.mask(stem)
    return hole if hole.shape == tuple(shape) else resize_mask(hole, shape)


def view_at(capture, stem: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """A view's edit (area-averaged) and hole (`hole_at`) at the working `shape`."""
    from inconddiff.prior.crops import resize_image

    edit = capture.image(stem)
    if edit.shape[:2] != tuple(shape):
        edit = resize_image(edit, shape)
    return edit, hole_at(capture, stem, shape)


def truth_at(gt_dir: Path, stem: str, shape: tuple[int, int]) -> np.ndarray:
    """A view's ground-truth image from `gt_dir` (any extension) at the working `shape` (area-averaged)."""
    from inconddiff.prior.crops import resize_image

    path = next((p for p in gt_dir.glob(f"{stem}.*")), None)
    if path is None:
        raise CaptureError(gt_dir, f"no ground-truth image for view {stem}")
    return resize_image(read_image(path), shape)


SCORED_VIEWS = 32
"""Views `evaluate_capture` renders and scores by default. The fit uses every view; a view costs about 2.5 s to
render at 320 px on 2 cores, so scoring all of a 100-view capture would add 4 minutes to a 7-minute fit and
move the means little."""


FITTED_VIEWS_RENDERED = 4
"""Of the scored training views whose holes were fitted, only this many (spread over them) are rendered: they
show how closely the field fits its own views, which the untouched pixels of the views whose holes were left out
show too, and each costs seconds to render."""


def rendered_stems(scored: list[str], left_out: set[str], limit: int = FITTED_VIEWS_RENDERED) -> list[str]:
    """The scored views to render: every view in `left_out` (whole views or holes left out of the fit) and at
    most `limit` of the others, spread over them."""
    fitted = [s for s in scored if s not in left_out]
    if len(fitted) > limit:
        fitted = [fitted[int(i)] for i in np.linspace(0, len(fitted), limit, endpoint=False)]
    return sorted(set(fitted) | (set(scored) & left_out))


def scored_stems(stems: list[str], heldout: list[str], limit: int | None) -> list[str]:
    """The views to render and score: every held-out view, and training views spread evenly over the sorted
    `stems` up to `limit` views in all (None: every view)."""
    train = [s for s in stems if s not in heldout]
    if limit is None or len(stems) <= limit:
        return sorted(stems)
    room = max(limit - len(heldout), 1)
    picked = {train[int(i)] for i in np.linspace(0, len(train), room, endpoint=False)}
    return sorted(picked | set(heldout))


def evaluate_capture(
    edited: str | os.PathLike,
    out: str | os.PathLike,
    gt_images: str | os.PathLike | None = None,
    holdout: int = 2,
    masks_dir: str | os.PathLike | None = None,
    max_steps: int | None = None,
    time_budget: float | None = None,
    use_lpips: bool = True,
    overwrite: bool = False,
    seed: int = 0,
    hole_holdout: bool = True,
    carve: bool = True,
    working_size: int | None = WORKING_SIZE,
    device: str | None = None,
    max_views: int | None = SCORED_VIEWS,
    appearance: bool = True,
) -> dict:
    """Fit `inconddiff-fit` on the edited capture's images, render views and score renders against edits
    (inside the holes and outside as control), and renders and edits against `gt_images` when given.

    `edited` is a capture folder (images/, masks/ marking the edited holes, cameras in transforms.json,
    sparse/0, gt/transforms.json or gt/sparse/0). `holdout` views are kept out of the fit and scored as novel
    views. With `hole_holdout`, every other masked training view (sorted by name) has its hole left out of the
    fit (split "hole_heldout"): the field learns those pixels only from the other views' edits and the untouched
    background, so render-vs-edit inside those holes measures whether an edit agrees with the rest of the capture
    (cross-validated), where inside fitted holes a field can partly memorise each view's own fill. With `carve`,
    the volume the masks agree the removed object filled is held empty (`nerf_integration.carve`), so smooth fills
    cannot be explained by a ghost of the object (on by default). Views larger than `working_size` (longer side)
    are fitted, rendered and scored shrunk to it (None: at full size). The fit uses every view; at most
    `max_views` of them (the held-out views and training views spread over the capture; None: all) are scored:
    every other one with a hole has its hole left out, and those, the held-out views and
    `FITTED_VIEWS_RENDERED` of the rest are rendered. The field trains and renders on `device` (default: CUDA when
    available). With `appearance`, each training view is fitted and rendered through its own colour transform
    (photos differ in exposure and white balance). The fit runs `max_steps` steps (None: `config.fit_steps` of
    the training views). Returns the dict written to OUT/consistency.json.
    """
    from nerf_integration.fit import fit, prepare_fit_data, relocate_run, working_shape
    from nerf_integration.render import render_views

    edited = Path(edited)
    capture = load_capture(edited, masks_dir=masks_dir)
    gt_dir = Path(gt_images) if gt_images is not None else None
    if gt_dir is not None and not gt_dir.is_dir():
        raise CaptureError(gt_dir, "ground-truth image folder not found")
    lpips = LPIPS() if use_lpips else None
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        from nerf_integration.fit import _frames_from_capture, heldout_stems

        stems = sorted(
            f["file_path"] for f in _frames_from_capture(edited)[0] if f["file_path"] in capture.images
        )
        held_views = heldout_stems(stems, holdout) if len(stems) >= 2 else []
        scored = scored_stems(stems, held_views, max_views)
        exclude: dict[str, np.ndarray] = {}
        if hole_holdout:
            masked = [st for st in scored if st not in held_views and st in capture.masks]
            masked = [st for st in masked if capture.mask(st).any()]
            exclude = {st: capture.mask(st) for st in masked[1::2]}
        data_dir, train, held = prepare_fit_data(
            edited, tmp / "nerf" / "data", heldout=held_views, exclude=exclude, working_size=working_size
        )
        t0 = time.perf_counter()
        if max_steps is None:
            from nerf_integration.config import fit_steps

            max_steps = fit_steps(len(train))
        carve_masks = None
        if carve:
            carve_masks = data_dir / "carve_masks"
            for frame in json.loads((data_dir / "transforms.json").read_text())["frames"]:
                stem = Path(frame["file_path"]).stem
                if stem in capture.masks:
                    shape = (int(frame["h"]), int(frame["w"]))
                    write_image(carve_masks / f"{stem}.png", hole_at(capture, stem, shape))
        result = fit(
            data_dir,
            tmp / "nerf",
            max_steps=max_steps,
            time_budget=time_budget,
            seed=seed,
            carve_masks=carve_masks,
            device=device,
            appearance=appearance,
        )
        renders = render_views(result.pipeline, rendered_stems(scored, set(held_views) | set(exclude)))
        render_seconds = time.perf_counter() - t0 - result.seconds
        views = []
        for stem in sorted(renders):
            rgb, depth = renders[stem]
            render = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
            full = capture.image(stem).shape[:2]
            if render.shape[:2] != working_shape(*full, working_size):
                raise CaptureError(
                    capture.images[stem],
                    f"size {full} does not match its camera's ({render.shape[:2]} to fit on)",
                )
            edit, hole = view_at(capture, stem, render.shape[:2])
            write_image(tmp / "renders" / f"{stem}.png", render)
            write_image(tmp / "depth" / f"{stem}.png", depth_image(depth))
            np.save(tmp / "depth" / f"{stem}.npy", depth.astype(np.float32))
            rec = {
                "name": stem,
                "split": "heldout" if stem in held else "hole_heldout" if stem in exclude else "train",
                "hole_fraction": float(hole.mean()) if hole is not None else 0.0,
                "render_vs_edit": region_scores(render, edit, hole, lpips),
            }
            if hole is not None and hole.any():
                rec["edit_sharpness"] = _finite(sharpness_ratio(edit, hole))
            if gt_dir is not None:
                gt = truth_at(gt_dir, stem, render.shape[:2])
                rec["render_vs_gt"] = region_scores(render, gt, hole, lpips)
                rec["edit_vs_gt"] = region_scores(edit, gt, hole, lpips)
            views.append(rec)
        summary = summarise(views)
        report = {
            "consistency_score": consistency_score(views),
            "capture": str(edited.resolve()),
            "gt_images": str(gt_dir.resolve()) if gt_dir is not None else None,
            "method": "inconddiff-fit",
            "working_size": working_size,
            "appearance": appearance,
            "capture_views": len(stems),
            "scored_views": len(views),
            "fit_steps": result.steps,
            "carved_cells": result.carved_cells,
            "fit_seconds": result.seconds,
            "render_seconds": render_seconds,
            "heldout": held,
            "summary": summary,
            "views": views,
            "notes": (
                "render_vs_edit in_* = inside the edited holes (consistency), out_* = outside them (control: "
                "how well the field fits untouched pixels), gap_psnr = in_psnr - out_psnr per view. Split "
                "hole_heldout: training views whose hole pixels were left out of the fit (the consistency "
                "score: the edit predicted from the other views); train: holes fitted; heldout: whole view "
                "left out. PSNR in dB (identical pixels count as 100 dB), "
                "SSIM averaged over the region's pixels, in_lpips = LPIPS (AlexNet, v0.1 weights) on the hole's "
                "bounding box grown to >= 32 px, out_lpips = whole image with the hole made equal."
            ),
        }
        (tmp / "consistency.json").write_text(json.dumps(report, indent=1))
        write_html(report, capture, gt_dir, tmp)
        relocate_run(result.config_path, tmp, out)
    log.info("consistency report in %s", out)
    return report


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}" if abs(x) < 1.5 else f"{x:.2f}"


def write_html(report: dict, capture, gt_dir: Path | None, out: Path) -> Path:
    """consistency.html: per view edit | render | error map (| ground truth | render error vs truth) | depth."""
    assets = out / "html"
    rows = []
    for v in report["views"]:
        stem = v["name"]
        render = read_image(out / "renders" / f"{stem}.png")
        edit, hole = view_at(capture, stem, render.shape[:2])
        write_image(assets / f"{stem}_edit.png", edit)
        write_image(assets / f"{stem}_err.png", error_map(render, edit))
        cells = [f"<td><b>{html.escape(stem)}</b><div class=small>{v['split']}</div></td>"]
        cells.append(f'<td><img src="html/{stem}_edit.png"></td><td><img src="renders/{stem}.png"></td>')
        cells.append(f'<td><img src="html/{stem}_err.png"></td>')
        if gt_dir is not None:
            gt = truth_at(gt_dir, stem, render.shape[:2])
            write_image(assets / f"{stem}_gterr.png", error_map(render, gt))
            cells.append(f'<td><img src="html/{stem}_gterr.png"></td>')
        cells.append(f'<td><img src="depth/{stem}.png"></td>')
        if hole is not None and hole.any():
            from inconddiff.removal.report import overlay_mask

            write_image(assets / f"{stem}_hole.png", overlay_mask(edit, hole))
            cells.append(f'<td><img src="html/{stem}_hole.png"></td>')
        else:
            cells.append("<td class=small>no hole</td>")
        s = v["render_vs_edit"]
        text = (
            f"render vs edit<br>hole: {_fmt(s.get('in_psnr'))} dB, SSIM {_fmt(s.get('in_ssim'))}, "
            f"LPIPS {_fmt(s.get('in_lpips'))}<br>outside: {_fmt(s.get('out_psnr'))} dB, SSIM {_fmt(s.get('out_ssim'))}"
        )
        if v.get("edit_sharpness") is not None:
            text += f"<br>detail in the fill vs around it: {_fmt(v['edit_sharpness'])}"
        if "render_vs_gt" in v:
            g, e = v["render_vs_gt"], v["edit_vs_gt"]
            text += f"<br>hole vs truth: render {_fmt(g.get('in_psnr'))} dB, edit {_fmt(e.get('in_psnr'))} dB"
        cells.append(f"<td class=small>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    summary_rows = []
    for split, s in report["summary"].items():
        for group in ("render_vs_edit", "render_vs_gt", "edit_vs_gt"):
            if group in s:
                g = s[group]
                summary_rows.append(
                    f"<tr><td>{split} ({s['views']})</td><td>{group.replace('_', ' ')}</td>"
                    + "".join(
                        f"<td>{_fmt(g.get(k))}</td>"
                        for k in ("in_psnr", "in_ssim", "in_lpips", "out_psnr", "out_ssim", "out_lpips")
                    )
                    + f"<td>{_fmt(s.get('edit_sharpness')) if group == 'render_vs_edit' else ''}</td></tr>"
                )
    gt_head = "<th>render error vs truth</th>" if gt_dir is not None else ""
    carve_text = ""
    if report.get("carved_cells") is not None:
        carve_text = (
            f" The volume the masks agree the removed object filled ({report['carved_cells']} cells) was held empty,"
            " so the field cannot explain the fills with a ghost of the object."
        )
    from inconddiff.removal.report import STYLE

    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>inconddiff consistency</title>
<style>{STYLE} img {{ width: 200px; image-rendering: pixelated; }}</style></head><body>
<h1>3D consistency: {html.escape(Path(report["capture"]).name)}</h1>
<p>One radiance field (inconddiff-fit, {report["fit_steps"]} steps, {report["fit_seconds"]:.0f} s) was fitted to the
edited images{" except the held-out views" if report["heldout"] else ""}; {report["scored_views"]} of the capture's
{report["capture_views"]} views were rendered and scored. Edits that agree in 3D are reproduced by its
renders inside the holes about as well as outside them (the control). Views of the split <i>hole_heldout</i> had
their hole pixels left out of the fit, so their hole scores say whether the edit agrees with what the other views
put there.{carve_text} Error maps: |render - edit| x4.</p>
<p><b>Consistency score: {_fmt(report.get("consistency_score"))} dB</b>: the hole PSNR of the <i>hole_heldout</i> views,
less {LPIPS_WEIGHT:g} dB per unit of their hole LPIPS and {SHARPNESS_WEIGHT:g} dB per tenfold loss of detail in their
fills against the pixels around them (a smooth fill is easy to predict and would otherwise score best; "detail"
below: 1 = as detailed as its surroundings). Without LPIPS there is no score.</p>
<table><tr><th>split</th><th>pair</th><th>hole PSNR</th><th>hole SSIM</th><th>hole LPIPS</th>
<th>outside PSNR</th><th>outside SSIM</th><th>outside LPIPS</th><th>detail</th></tr>{"".join(summary_rows)}</table>
<h2>Views</h2>
<table><tr><th>view</th><th>edit</th><th>render</th><th>error vs edit</th>{gt_head}<th>depth</th><th>hole</th><th></th></tr>
{"".join(rows)}</table></body></html>"""
    path = out / "consistency.html"
    path.write_text(page)
    return path
