"""`inconddiff reconstruct CAPTURE`: COLMAP poses and sparse points into CAPTURE/sparse/0 (or --out)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct a capture with COLMAP (pycolmap, CPU)")
    p.add_argument("capture", help="capture folder with images/")
    p.add_argument("--out", default=None, help="write OUT/sparse/0 instead of CAPTURE/sparse/0")
    p.add_argument("--matcher", choices=("auto", "exhaustive", "sequential"), default="auto")
    p.set_defaults(func=run)


def run(args) -> int:
    from colmap_tools.reconstruct import reconstruct

    reconstruct(args.capture, args.out, args.matcher)
    return 0
