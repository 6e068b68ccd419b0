"""`inconddiff run CAPTURE --from VIEW ... --out OUT`: reconstruct, propagate masks, remove (CAPTURE may be a
video, with `--masks DIR` for the annotated frames)."""

from __future__ import annotations

from inconddiff.commands.frames import add_frame_options
from inconddiff.commands.remove import add_removal_options, config_from_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="reconstruct, propagate masks from a few annotated views, remove the object"
    )
    p.add_argument(
        "capture",
        help="capture with images/ and masks/<VIEW>.png for the annotated views, or a video (with --masks)",
    )
    p.add_argument(
        "--from", dest="views", nargs="+", required=True, metavar="VIEW", help="annotated view stems"
    )
    p.add_argument(
        "--margin",
        type=int,
        default=None,
        help="dilation of the propagated masks, in pixels (default: 0.4%% of the image's longer side)",
    )
    p.add_argument(
        "--masks",
        default=None,
        metavar="DIR",
        help="for a video: FRAME.png for each --from frame, drawn on the frames `inconddiff frames` takes",
    )
    add_frame_options(p, note="for a video: ")
    add_removal_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.removal.run import run_capture

    run_capture(
        args.capture,
        args.views,
        args.out,
        config_from_args(args),
        margin=args.margin,
        masks_from=args.masks,
        fps=args.fps,
        max_frames=args.max_frames,
    )
    return 0
