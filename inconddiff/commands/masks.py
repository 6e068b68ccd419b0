"""`inconddiff masks propagate CAPTURE --from VIEW ...`: masks for every view from a few annotated ones."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("masks", help="mask tools")
    msub = p.add_subparsers(dest="masks_command", metavar="ACTION", required=True)
    q = msub.add_parser(
        "propagate", help="carry masks from annotated views to all views through the 3D points"
    )
    q.add_argument(
        "capture", help="capture with images/, sparse/0 and masks/<VIEW>.png for the annotated views"
    )
    q.add_argument(
        "--from", dest="views", nargs="+", required=True, metavar="VIEW", help="annotated view stems"
    )
    q.add_argument("--out", default=None, help="new mask folder (default CAPTURE/masks_propagated)")
    q.add_argument("--margin", type=int, default=3, help="dilation of the propagated masks, in pixels")
    q.add_argument(
        "--sparse",
        default=None,
        help="COLMAP model folder (default CAPTURE/sparse/0; make one with `inconddiff reconstruct`)",
    )
    q.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from colmap_tools.propagate_masks import propagate_capture
    from inconddiff.capture import CaptureError

    sparse = Path(args.sparse) if args.sparse else Path(args.capture) / "sparse" / "0"
    if not sparse.is_dir():
        raise CaptureError(
            sparse, "no COLMAP model: run `inconddiff reconstruct CAPTURE` first (or pass --sparse DIR)"
        )
    out = propagate_capture(args.capture, args.views, args.out, sparse_dir=sparse, margin=args.margin)
    print(f"masks written to {out}")
    return 0
