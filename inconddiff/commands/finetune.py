"""`inconddiff finetune CAPTURE`: adapt the diffusion inpainter to one capture (self-supervised)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="adapt the diffusion inpainter to one capture: holes cut away from the object, which never "
        "enters the loss (resumes from the latest checkpoint)",
    )
    p.add_argument("capture", help="capture folder with images/ and masks/ (sparse/0 is made if missing)")
    p.add_argument("--out", required=True, help="run folder; the fine-tuned pipeline goes to OUT/pipeline")
    p.add_argument("--model", default=None, help="pipeline to start from (default: the shipped weights)")
    p.add_argument("--minutes", type=float, default=10.0, help="stop after this long (a checkpoint is kept)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--samples", type=int, default=300, help="training samples cut from the capture")
    p.add_argument("--size", type=int, default=64, help="training crop side")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    from inconddiff.training.finetune import finetune

    path = finetune(
        args.capture,
        args.out,
        model=args.model,
        samples=args.samples,
        size=args.size,
        minutes=args.minutes,
        steps=args.steps,
        learning_rate=args.lr,
        seed=args.seed,
    )
    logging.getLogger("inconddiff").info(
        "fine-tuned pipeline: %s (use it with `remove --model %s`)", path, path
    )
    return 0
