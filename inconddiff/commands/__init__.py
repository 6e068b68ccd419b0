"""Subcommands of the `inconddiff` command line; each module adds one parser and calls into the library.

A module here defines `add_parser(subparsers)`, which registers its subcommand and sets `func` to a
callable taking the parsed arguments. Heavy imports (torch, pycolmap, open3d) stay inside `func`.
"""
