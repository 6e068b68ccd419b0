"""`inconddiff remove CAPTURE --out OUT`: remove the masked object from every view."""

from __future__ import annotations


def add_removal_options(p) -> None:
    """The options of a removal, shared by `remove` and `run`."""
    from inconddiff.prior.invention import INVENT
    from inconddiff.removal.config import METHODS, RemovalConfig

    p.add_argument(
        "--out", required=True, help="new output folder (an interrupted run resumes from OUT.partial)"
    )
    p.add_argument("--method", choices=METHODS, default="auto", help="fill method (default: auto)")
    p.add_argument("--model", default=None, help="pipeline weights folder (default: the shipped weights)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    p.add_argument(
        "--refs",
        type=int,
        default=RemovalConfig.refs,
        metavar="K",
        help="copy from at most K views per target, the best ranked (0 = fill each view on its own)",
    )
    p.add_argument(
        "--adapt-minutes",
        type=float,
        default=RemovalConfig.adapt_minutes,
        help="fine-tune the diffusion model on the capture itself for about this long first (0: off)",
    )
    p.add_argument(
        "--carry",
        action="store_true",
        help="invent what no view saw once, in the first view filled, and carry it to the later views",
    )
    p.add_argument(
        "--invent",
        choices=INVENT,
        default=RemovalConfig.invent,
        help="what no view saw: a smooth membrane with the surroundings' fine detail, their texture where a large"
        " part of the hole is unseen (default); the membrane alone; or the surroundings' texture throughout",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if available)")
    p.add_argument(
        "--working-size",
        type=int,
        default=RemovalConfig.working_size,
        help="longer side of the crop filled around a hole",
    )


def add_parser(sub) -> None:
    p = sub.add_parser("remove", help="remove the masked object from every view of a capture")
    p.add_argument("capture", help="capture folder with images/ (and sparse/0, or it is reconstructed)")
    p.add_argument(
        "--masks", default=None, help="PNG masks by image stem, 255 = remove (default CAPTURE/masks)"
    )
    add_removal_options(p)
    p.set_defaults(func=run)


def config_from_args(args):
    from inconddiff.removal.config import RemovalConfig

    return RemovalConfig(
        refs=args.refs,
        method=args.method,
        model=args.model,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        working_size=args.working_size,
        adapt_minutes=args.adapt_minutes,
        carry=args.carry,
        invent=args.invent,
    )


def run(args) -> int:
    from inconddiff.removal.driver import remove_object

    remove_object(args.capture, args.out, masks_dir=args.masks, config=config_from_args(args))
    return 0
