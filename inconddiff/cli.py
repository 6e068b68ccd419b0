"""The `inconddiff` command line: one subcommand per step, each a thin layer over an importable function."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from inconddiff import __version__

# Modules under inconddiff.commands, in the order `--help` lists them.
COMMAND_MODULES = (
    "demo",
    "synth",
    "frames",
    "reconstruct",
    "masks",
    "remove",
    "run",
    "train",
    "finetune",
    "evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inconddiff",
        description="Remove objects from multi-view captures so that every view agrees in 3D.",
    )
    parser.add_argument("--version", action="version", version=f"inconddiff {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"inconddiff.commands.{name}").add_parser(sub)
    return parser


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(show_path=False, rich_tracebacks=False, log_time_format="[%X]")
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    for noisy in ("PIL", "matplotlib", "urllib3", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    from inconddiff.capture import CaptureError

    try:
        result = args.func(args)
    except CaptureError as err:
        logging.getLogger("inconddiff").error("%s", err)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
