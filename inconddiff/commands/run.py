"""`inconddiff run CAPTURE --from VIEW ... --out OUT`: reconstruct, propagate masks, remove."""

from __future__ import annotations

from pathlib import Path

from inconddiff.commands.remove import add_removal_options, config_from_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="reconstruct, propagate masks from a few annotated views, remove the object"
    )
    p.add_argument("capture", help="capture with images/ and masks/<VIEW>.png for the annotated views")
    p.add_argument(
        "--from", dest="views", nargs="+", required=True, metavar="VIEW", help="annotated view stems"
    )
    p.add_argument(
        "--margin",
        type=int,
        default=None,
        help="dilation of the propagated masks, in pixels (default: 0.4%% of the image's longer side)",
    )
    add_removal_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.capture import CaptureError
    from inconddiff.removal.run import run_capture
    from inconddiff.video import is_video

    if Path(args.capture).is_file() and is_video(args.capture):
        raise CaptureError(
            args.capture,
            "a video, not a capture folder: first extract its frames with `inconddiff frames "
            f"{args.capture} --out CAPTURE`, draw CAPTURE/masks/FRAME.png for two of them (frame_00001 ...), "
            "then run `inconddiff run CAPTURE --from FRAME_A FRAME_B --out OUT`",
        )
    run_capture(args.capture, args.views, args.out, config_from_args(args), margin=args.margin)
    return 0
