"""HTML reports with picture grids: per view before, mask, after and the references used."""

from __future__ import annotations

import html
from pathlib import Path

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


def write_removal_report(capture: Capture, out: Path, records: list[dict]) -> Path:
    """out/report.html with thumbnails in out/report/: before | mask | after | references | time."""
    assets = out / "report"
    rows = []
    order = {r["name"]: r.get("order", -1) for r in records}
    for rec in records:
        stem = rec["name"]
        before = capture.image(stem)
        after = read_image(out / "images" / f"{stem}.png")
        mask = capture.mask(stem)
        write_image(assets / f"{stem}_before.png", thumbnail(before))
        write_image(assets / f"{stem}_after.png", thumbnail(after))
        cells = [f"<td><b>{html.escape(stem)}</b><div class=small>{html.escape(rec['status'])}</div></td>"]
        cells.append(f'<td><img src="report/{stem}_before.png"></td>')
        if mask is not None:
            write_image(assets / f"{stem}_mask.png", thumbnail(overlay_mask(before, mask)))
            cells.append(f'<td><img src="report/{stem}_mask.png"></td>')
        else:
            cells.append("<td class=small>no mask</td>")
        cells.append(f'<td><img src="report/{stem}_after.png"></td>')
        refs = rec.get("references") or []
        scores = rec.get("reference_scores") or []
        ref_html = ""
        for r, s in zip(refs, scores, strict=False):
            was_filled = 0 <= order.get(r, -1) < rec.get("order", -1)  # filled earlier: used as filled
            thumb = f"report/{r}_after.png" if was_filled else f"report/{r}_before.png"
            note = ", filled" if was_filled else ""
            ref_html += (
                f'<div style="display:inline-block"><img src="{thumb}" title="{html.escape(r)}">'
                f"<div class=small>{html.escape(r)} ({s:.2f}{note})</div></div>"
            )
        cells.append(f"<td class=refs>{ref_html or '<span class=small>none</span>'}</td>")
        detail = ""
        if rec["status"] == "filled":
            detail = (
                f"{rec['seconds']:.2f} s<br>method: {html.escape(rec['method'])}<br>"
                f"hole: {100 * rec['hole_fraction']:.1f}% of the view<br>"
                f"references see {100 * rec['warp_coverage']:.0f}% of it<br>order: {rec['order'] + 1}"
            )
        cells.append(f"<td class=small>{detail}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n_filled = sum(r["status"] == "filled" for r in records)
    total = sum(r.get("seconds", 0.0) for r in records)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>inconddiff removal report</title>
<style>{STYLE}</style></head><body>
<h1>Object removal: {html.escape(capture.root.name)}</h1>
<p>{n_filled} of {len(records)} views filled in {total:.1f} s. Views are listed in capture order; "order" is
the position in which a view was filled (best-covered holes first, filled views then serve as references).</p>
<table><tr><th>view</th><th>before</th><th>mask</th><th>after</th><th>references (score)</th><th></th></tr>
{"".join(rows)}
</table></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
