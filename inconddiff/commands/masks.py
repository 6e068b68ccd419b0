"""`inconddiff masks propagate CAPTURE --from VIEW ...`: masks for every view from a few annotated ones."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("masks", help="mask tools")
    msub = p.add_subparsers(dest="masks_command", metavar="ACTION", required=True)
    q = msub.add_parser(
        "propagate", help="carry masks from annotated views to all views through the 3D points"
    )
    q.add_argument(
        "capture", help="capture with images/ and masks/<VIEW>.png for the annotated views (and sparse/0)"
    )
    q.add_argument(
        "--from", dest="views", nargs="+", required=True, metavar="VIEW", help="annotated view stems"
    )
    q.add_argument("--out", default=None, help="new mask folder (default CAPTURE/masks_propagated)")
    q.add_argument(
        "--margin",
        type=int,
        default=None,
        help="dilation of the propagated masks, in pixels (default: 0.4%% of the image's longer side)",
    )
    q.add_argument(
        "--sparse",
        default=None,
        help="COLMAP model folder (default CAPTURE/sparse/0; when there is none, the capture is reconstructed "
        "into OUT.model/ beside the mask folder, the capture itself untouched)",
    )
    q.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from colmap_tools.propagate_masks import propagate_capture
    from colmap_tools.reconstruct import reconstruct
    from inconddiff.capture import CaptureError

    capture = Path(args.capture)
    out = Path(args.out) if args.out else capture / "masks_propagated"
    sparse = Path(args.sparse) if args.sparse else capture / "sparse" / "0"
    if args.sparse and not sparse.is_dir():
        raise CaptureError(sparse, "COLMAP model folder not found")
    if not sparse.is_dir():
        model = out.with_name(out.name + ".model")
        sparse = model / "sparse" / "0"
        if not sparse.is_dir():
            reconstruct(capture, output_dir=model)
    out = propagate_capture(capture, args.views, out, sparse_dir=sparse, margin=args.margin)
    print(f"masks written to {out}")
    return 0
