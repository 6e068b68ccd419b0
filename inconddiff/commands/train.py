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
    p.add_argument(
        "--synthetic",
        type=int,
        default=6,
        help="also train on this many photo-textured synthetic captures (textures from the training photos)",
    )
    p.add_argument("--val", nargs="*", default=[], help="captures held out for validation (never trained on)")
    p.add_argument("--val-synthetic", type=int, default=2, help="synthetic captures held out for validation")
    p.add_argument(
        "--num-threads", type=int, default=None, help="torch CPU threads (1 while other work runs)"
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="start from this pipeline's weights (e.g. inconddiff/weights/default) instead of from scratch",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from inconddiff.training.recipe import reproduce

    captures = args.captures or sorted(str(p) for p in DEFAULT_CAPTURES.iterdir() if (p / "images").is_dir())
    val = {str(Path(v).resolve()) for v in args.val}
    captures = [c for c in captures if str(Path(c).resolve()) not in val]
    reproduce(
        captures,
        args.work,
        args.out,
        size=args.size,
        max_minutes=args.minutes,
        seed=args.seed,
        synthetic=args.synthetic,
        val_captures=args.val,
        val_synthetic=args.val_synthetic,
        num_threads=args.num_threads,
        init_from=args.init_from,
        texture_dir=str(DEFAULT_CAPTURES) if DEFAULT_CAPTURES.is_dir() else None,
    )
    return 0
