"""`inconddiff demo`: the whole pipeline on a synthetic capture, scored against its ground truth."""

from __future__ import annotations

from inconddiff.commands.synth import parse_size


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on a synthetic capture and score it")
    p.add_argument("--out", default="outputs/demo", help="new folder for the demo (default: outputs/demo)")
    p.add_argument("--views", type=int, default=24)
    p.add_argument("--size", type=parse_size, default=(160, 120), metavar="WxH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="auto", help="fill method (see `inconddiff remove --help`)")
    p.add_argument("--device", default=None)
    p.add_argument(
        "--nerf-steps",
        type=int,
        default=600,
        help="training steps of the radiance-field consistency check (0 skips it)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from inconddiff.demo import run_demo

    out = Path(args.out)
    if out == Path("outputs/demo") and out.exists():  # default folder: number the runs instead of failing
        k = 2
        while Path(f"{out}_{k}").exists():
            k += 1
        out = Path(f"{out}_{k}")
    summary = run_demo(
        out, args.views, args.size, args.seed, args.method, args.device, nerf_steps=args.nerf_steps
    )
    s = summary["scores"]
    table = Table(title="inconddiff demo: synthetic capture, object removed from every view")
    table.add_column("measure")
    table.add_column("input (object present)", justify="right")
    table.add_column("after removal", justify="right")
    a, b = s["input_against_truth"], s["against_truth"]
    table.add_row(
        "masked PSNR vs truth (dB, higher is better)", f"{a['masked_psnr']:.2f}", f"{b['masked_psnr']:.2f}"
    )
    table.add_row("masked SSIM vs truth", f"{a['masked_ssim']:.3f}", f"{b['masked_ssim']:.3f}")
    table.add_row("box LPIPS vs truth (lower is better)", f"{a['box_lpips']:.3f}", f"{b['box_lpips']:.3f}")
    table.add_row("cross-view PSNR between fills (dB)", "", f"{s['cross_view']['fill_vs_fill_psnr']:.2f}")
    if "nerf" in s:
        nerf = s["nerf"]
        consistency = nerf.get("hole_heldout", nerf["train"])["render_vs_edit"]["in_psnr"]
        table.add_row(
            "radiance-field refit: render vs edit in holes left out of the fit (consistency, PSNR dB)",
            "",
            f"{consistency:.2f}",
        )
        table.add_row(
            "radiance-field refit: render vs edit outside the holes (control, PSNR dB)",
            "",
            f"{nerf['train']['render_vs_edit']['out_psnr']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(f"took {summary['seconds']['total']:.0f} s")
    console.print(f"report: {Path(summary['removed']) / 'report.html'}")
    if "nerf" in s:
        console.print(f"3D consistency: {out / 'consistency' / 'consistency.html'}")
    return 0
