"""`inconddiff train`: reproduce the default weights' recipe (reconstruct, make shards, train, export)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the diffusion inpainter (resumes from the latest checkpoint)")
    p.add_argument(
        "captures",
        nargs="*",
        help=f"training captures (images/ each; default: every folder in {DEFAULT_CAPTURES})",
    )
    p.add_argument("--out", default="runs/inconddiff", help="run folder: checkpoints, curves, pipeline/")
    p.add_argument("--work", default="data_cache", help="reconstructions and training shards")
    p.add_argument("--minutes", type=float, default=None, help="stop after this long (a checkpoint is kept)")
    p.add_argument("--size", type=int, default=64, help="training crop side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synthetic", type=int, default=0, help="also train on this many synthetic captures")
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.training.recipe import reproduce

    captures = args.captures or sorted(str(p) for p in DEFAULT_CAPTURES.iterdir() if (p / "images").is_dir())
    reproduce(
        captures,
        args.work,
        args.out,
        size=args.size,
        max_minutes=args.minutes,
        seed=args.seed,
        synthetic=args.synthetic,
    )
    return 0
