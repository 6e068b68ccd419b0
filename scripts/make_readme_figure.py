"""The README's before/after picture from a demo folder.

    .venv/bin/inconddiff demo --out /tmp/demo
    .venv/bin/python scripts/make_readme_figure.py /tmp/demo [--out docs/images/demo_before_after.png]

Reads DEMO/capture (images/, masks/, gt/images/) and DEMO/removed/images, the layout `inconddiff demo` writes.
Picks `--views` masked views spread over the capture and draws them side by side: the input with its mask
outlined, the result, and the object-free truth where the capture has one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
OUTLINE = (255, 40, 40)
LABEL_WIDTH = 110
HEADER_HEIGHT = 22


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demo", type=Path, help="folder written by `inconddiff demo --out DIR`")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "demo_before_after.png")
    p.add_argument("--views", type=int, default=4, help="views side by side")
    p.add_argument("--scale", type=float, default=2.0, help="enlargement of each view")
    p.add_argument("--no-truth", action="store_true", help="leave out the ground-truth row")
    return p.parse_args(argv)


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: cannot read this image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def pick_views(masks_dir: Path, count: int) -> list[str]:
    """`count` stems with a non-empty mask, evenly spread over the sorted masked views."""
    masked = [
        p.stem for p in sorted(masks_dir.glob("*.png")) if cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).any()
    ]
    if not masked:
        raise SystemExit(f"{masks_dir}: no non-empty masks")
    picks = np.linspace(0, len(masked) - 1, min(count, len(masked))).round().astype(int)
    return [masked[i] for i in picks]


def outline_mask(image: np.ndarray, mask: np.ndarray, thickness: int) -> np.ndarray:
    contours, _ = cv2.findContours((mask > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = image.copy()
    cv2.drawContours(out, contours, -1, OUTLINE, thickness)
    return out


def enlarge(image: np.ndarray, scale: float) -> np.ndarray:
    """Nearest-neighbour enlargement: shows the pixels as they are and keeps the PNG small."""
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_NEAREST)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    capture, removed = args.demo / "capture", args.demo / "removed"
    stems = pick_views(capture / "masks", args.views)
    truth_dir = capture / "gt" / "images"
    rows = [("input + mask", "in"), ("result", "out")]
    if truth_dir.is_dir() and not args.no_truth:
        rows.append(("truth", "gt"))

    tiles: dict[str, list[np.ndarray]] = {key: [] for _, key in rows}
    for stem in stems:
        image = enlarge(read_rgb(capture / "images" / f"{stem}.png"), args.scale)
        mask = enlarge(cv2.imread(str(capture / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE), args.scale)
        tiles["in"].append(outline_mask(image, mask, thickness=max(1, round(args.scale))))
        tiles["out"].append(enlarge(read_rgb(removed / "images" / f"{stem}.png"), args.scale))
        if "gt" in tiles:
            tiles["gt"].append(enlarge(read_rgb(truth_dir / f"{stem}.png"), args.scale))

    th, tw = tiles["in"][0].shape[:2]
    gap = 4
    width = LABEL_WIDTH + len(stems) * (tw + gap)
    height = HEADER_HEIGHT + len(rows) * (th + gap)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    for c, stem in enumerate(stems):
        draw.text((LABEL_WIDTH + c * (tw + gap) + 4, 3), stem, fill="black", font=font)
    for r, (label, key) in enumerate(rows):
        y = HEADER_HEIGHT + r * (th + gap)
        draw.text((6, y + th // 2 - 8), label, fill="black", font=font)
        for c, tile in enumerate(tiles[key]):
            canvas.paste(Image.fromarray(tile), (LABEL_WIDTH + c * (tw + gap), y))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the picture small enough for a README
    canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        args.out, optimize=True
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): {', '.join(stems)}")


if __name__ == "__main__":
    main()
