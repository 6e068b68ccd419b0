"""HTML reports with picture grids: per view before, mask, after, where the fill came from, the views used."""

from __future__ import annotations

import html
from pathlib import Path

import cv2
import numpy as np

from inconddiff.capture import Capture, read_image, write_image
from inconddiff.prior.crops import resize_image

THUMB = 256


def thumbnail(image: np.ndarray, size: int = THUMB) -> np.ndarray:
    """Shrink so the longer side is at most `size`."""
    h, w = image.shape[:2]
    s = min(1.0, size / max(h, w))
    return resize_image(image, (max(1, round(h * s)), max(1, round(w * s))))


def overlay_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted red."""
    out = image.astype(np.float64)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array([255.0, 40.0, 40.0])
    return out.astype(np.uint8)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
table { border-collapse: collapse; }
td, th { padding: 4px 8px; vertical-align: top; border-bottom: 1px solid #ddd; font-size: 13px; }
img { max-width: 256px; display: block; }
.refs img { max-width: 120px; display: inline-block; margin-right: 4px; }
.small { color: #666; font-size: 12px; }
"""


PROVENANCE_COLOURS = {1: (40, 200, 60), 2: (60, 110, 255), 3: (255, 40, 40)}
"""Tints of the provenance map: copied from an observation green, carried from an earlier invention blue,
invented here red."""


def overlay_provenance(image: np.ndarray, provenance: np.ndarray) -> np.ndarray:
    """The result with each filled pixel tinted by where it came from (`PROVENANCE_COLOURS`)."""
    out = image.astype(np.float64)
    for value, colour in PROVENANCE_COLOURS.items():
        sel = provenance == value
        out[sel] = 0.5 * out[sel] + 0.5 * np.array(colour, dtype=np.float64)
    return out.astype(np.uint8)


def _details(rec: dict) -> str:
    parts = [
        f"{rec['seconds']:.2f} s, order {rec['order'] + 1}",
        f"method: {html.escape(rec['method'])}",
        f"hole: {100 * rec['hole_fraction']:.1f}% of the view",
        f"copied {100 * rec['seen_fraction']:.0f}%, carried {100 * rec['carried_fraction']:.0f}%, "
        f"invented {100 * rec['invented_fraction']:.0f}%",
    ]
    if rec.get("scores"):
        scores = ", ".join(f"{html.escape(k)} {v:.5f}" for k, v in rec["scores"].items())
        parts.append(f"probe error: {scores} (probes {100 * rec['probe_fraction']:.1f}% of the judging crop)")
    return "<br>".join(parts)


def thumbnail_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask or label map (bool or small integers) at a thumbnail's `shape` (h, w), nearest label."""
    return cv2.resize(labels.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST).astype(
        labels.dtype
    )


def write_removal_report(
    capture: Capture,
    out: Path,
    records: list[dict],
    provenance: dict[str, np.ndarray] | None = None,
    masks: dict[str, np.ndarray] | None = None,
) -> Path:
    """out/report.html with thumbnails in out/report/: before | mask | after | where the fill came from |
    the views copied from | details. `masks` spares reading masks already in memory again."""
    assets = out / "report"
    rows = []
    for rec in records:
        stem = rec["name"]
        before = thumbnail(capture.image(stem))
        after = thumbnail(read_image(out / "images" / f"{stem}.png"))
        mask = masks[stem] if masks and stem in masks else capture.mask(stem)
        write_image(assets / f"{stem}_before.png", before)
        write_image(assets / f"{stem}_after.png", after)
        cells = [f"<td><b>{html.escape(stem)}</b><div class=small>{html.escape(rec['status'])}</div></td>"]
        cells.append(f'<td><img src="report/{stem}_before.png"></td>')
        if mask is not None:
            shown = thumbnail(mask.astype(np.float32)) > 0  # a thin mask stays visible
            write_image(assets / f"{stem}_mask.png", overlay_mask(before, shown))
            cells.append(f'<td><img src="report/{stem}_mask.png"></td>')
        else:
            cells.append("<td class=small>no mask</td>")
        cells.append(f'<td><img src="report/{stem}_after.png"></td>')
        if provenance and stem in provenance:
            labels = thumbnail_labels(provenance[stem], after.shape[:2])
            write_image(assets / f"{stem}_source.png", overlay_provenance(after, labels))
            cells.append(f'<td><img src="report/{stem}_source.png"></td>')
        else:
            cells.append("<td></td>")
        refs = rec.get("references") or []
        scores = rec.get("reference_scores") or []
        ref_html = "".join(
            f'<div style="display:inline-block"><img src="report/{r}_before.png" title="{html.escape(r)}">'
            f"<div class=small>{html.escape(r)} ({sc:.2f})</div></div>"
            for r, sc in zip(refs, scores, strict=False)
        )
        carried = rec.get("carried_from") or []
        if carried:
            ref_html += f"<div class=small>carried from: {html.escape(', '.join(carried))}</div>"
        cells.append(f"<td class=refs>{ref_html or '<span class=small>none</span>'}</td>")
        cells.append(f"<td class=small>{_details(rec) if rec['status'] == 'filled' else ''}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n_filled = sum(r["status"] == "filled" for r in records)
    total = sum(r.get("seconds", 0.0) for r in records)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>inconddiff removal report</title>
<style>{STYLE}</style></head><body>
<h1>Object removal: {html.escape(capture.root.name)}</h1>
<p>{n_filled} of {len(records)} views filled in {total:.1f} s. Views are listed in capture order; "order" is
the position in which a view was filled (the views whose holes other views saw most come first). In the
"source" column, green pixels were copied from other views' observations, blue ones carried from content an
earlier view invented, red ones invented for this view.</p>
<table><tr><th>view</th><th>before</th><th>mask</th><th>after</th><th>source</th><th>copied from (score)</th>
<th></th></tr>
{"".join(rows)}
</table></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
