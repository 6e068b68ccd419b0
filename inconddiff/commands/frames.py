"""`inconddiff frames VIDEO --out CAPTURE`: a new capture folder from a video's sharpest frames."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def add_frame_options(p, note: str = "") -> None:
    """--fps and --max-frames, shared by `frames` and `run` so that both take the same frames of a video."""
    from inconddiff.video import DEFAULT_FPS, DEFAULT_MAX_FRAMES

    p.add_argument(
        "--fps",
        type=float,
        default=DEFAULT_FPS,
        help=f"{note}frames kept per second (default: {DEFAULT_FPS:g})",
    )
    p.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        help=f"{note}keep at most this many, sampling a long video more sparsely (default: {DEFAULT_MAX_FRAMES})",
    )


def add_parser(sub) -> None:
    p = sub.add_parser("frames", help="extract a video's frames into a new capture folder (images/)")
    p.add_argument("video", help="video file (mp4, mov, ...)")
    p.add_argument("--out", required=True, help="new capture folder")
    add_frame_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.video import extract_frames

    out = extract_frames(args.video, args.out, fps=args.fps, max_frames=args.max_frames)
    logger.info(
        "next: draw %s/masks/FRAME.png for two frames seeing the object from different sides, then "
        "`inconddiff run %s --from FRAME_A FRAME_B --out OUT` (or `inconddiff run %s --masks %s/masks --fps %g "
        "--max-frames %d --from FRAME_A FRAME_B --out OUT`: the same frames, taken again)",
        out,
        out,
        args.video,
        out,
        args.fps,
        args.max_frames,
    )
    return 0
