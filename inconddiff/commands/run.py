"""`inconddiff run CAPTURE --from VIEW ... --out OUT`: reconstruct, propagate masks, remove."""

from __future__ import annotations

from inconddiff.commands.remove import config_from_args


def add_parser(sub) -> None:
    from inconddiff.removal.config import METHODS, RemovalConfig

    p = sub.add_parser(
        "run", help="reconstruct, propagate masks from a few annotated views, remove the object"
    )
    p.add_argument("capture", help="capture with images/ and masks/<VIEW>.png for the annotated views")
    p.add_argument(
        "--from", dest="views", nargs="+", required=True, metavar="VIEW", help="annotated view stems"
    )
    p.add_argument("--out", required=True, help="new output folder")
    p.add_argument("--margin", type=int, default=3, help="dilation of the propagated masks, in pixels")
    p.add_argument("--method", choices=METHODS, default="auto")
    p.add_argument("--model", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--refs", type=int, default=3, metavar="K")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--working-size", type=int, default=RemovalConfig.working_size)
    p.add_argument("--plane-sweep", action="store_true", help="see `inconddiff remove --help`")
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.removal.run import run_capture

    run_capture(args.capture, args.views, args.out, config_from_args(args), margin=args.margin)
    return 0
