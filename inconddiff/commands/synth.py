"""`inconddiff synth OUT`: render a synthetic capture with ground truth."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got {text!r}") from err
    return w, h


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="render a synthetic capture with ground truth (open3d ray casting)")
    p.add_argument("out", help="new folder to write the capture into")
    p.add_argument("--views", type=int, default=30)
    p.add_argument("--size", type=parse_size, default=(160, 120), metavar="WxH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--path", choices=("orbit", "forward"), default="orbit", help="camera path")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    cfg = SynthConfig(
        views=args.views, width=args.size[0], height=args.size[1], seed=args.seed, path=args.path
    )
    generate_capture(args.out, cfg, overwrite=args.overwrite)
    return 0
