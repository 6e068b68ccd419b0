"""A removal at a glance: for a few views, the input with its mask tinted, the result, and where each filled
pixel came from (the report's overlay: green copied from another view, red invented).

    .venv/bin/python scripts/draw_removal.py CAPTURE OUT [--views A B ...] [--picture removal.jpg]

CAPTURE is the capture that was given to `inconddiff run` or `remove`, OUT its output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from inconddiff.capture import load_capture, read_image, read_mask

TINT = np.array([255, 40, 40], np.float32)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("capture", type=Path)
    p.add_argument("out", type=Path, help="the removal's output folder")
    p.add_argument("--views", nargs="*", default=None, help="stems (default: 4 spread over the capture)")
    p.add_argument("--width", type=int, default=900, help="width of the picture in pixels")
    p.add_argument("--picture", type=Path, default=Path("removal.jpg"))
    return p.parse_args(argv)


def row(capture, out: Path, stem: str) -> np.ndarray:
    before = capture.image(stem).astype(np.float32)
    mask = read_mask(out / "masks" / f"{stem}.png")
    before[mask] = 0.5 * before[mask] + 0.5 * TINT
    after = read_image(out / "images" / f"{stem}.png")
    source = read_image(out / "report" / f"{stem}_source.png")
    h, w = after.shape[:2]
    source = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([before.astype(np.uint8), after, source], 1)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    capture = load_capture(args.capture)
    stems = args.views or [s for s in capture.stems if (args.out / "masks" / f"{s}.png").is_file()]
    if not args.views:
        stems = [stems[i] for i in np.linspace(0, len(stems) - 1, min(4, len(stems))).round().astype(int)]
    picture = np.concatenate([row(capture, args.out, s) for s in stems], 0)
    scale = args.width / picture.shape[1]
    picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(args.picture), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
