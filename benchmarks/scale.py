"""What each stage costs as a capture grows: wall seconds and peak resident memory per stage, against views.

Synthetic captures (`inconddiff synth`, an orbit of unordered photos or a forward video-like path) at a chosen
size with 25, 50, 100 and 200 views, and optionally a real capture. Stages, each in a fresh process so that
its peak memory is its own:
- synthesise: rendering the capture (not a pipeline stage; its cost says what the benchmark itself costs);
- reconstruct: COLMAP feature extraction, matching and mapping, timed separately;
- masks: `masks propagate` from two annotated views;
- remove: `remove` with the capture's own masks on the reconstructed model;
- evaluate: the consistency refit (`evaluate`), optional (`--stages`).

Prints one table, writes `benchmarks/results/scale.json` (rows are kept and skipped when done: an
interrupted run resumes) and a log-log plot of seconds against views with each stage's fitted exponent over
the captures of 50 views and more (all captures when there are fewer).

    python benchmarks/scale.py --views 25 50 100 200 --size 1920x1080 --paths orbit forward
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "data_cache" / "scale"
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
STAGES = ("synthesise", "reconstruct", "masks", "remove", "evaluate")


def _peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _stage_child(queue, stage: str, args: dict) -> None:
    """Run one stage in this (fresh) process; put (seconds, peak GB, parts) on the queue."""
    logging.basicConfig(level=logging.WARNING)
    parts: dict[str, float] = {}
    t0 = time.time()
    try:
        STAGE_FUNCTIONS[stage](parts=parts, **args)
        queue.put({"seconds": time.time() - t0, "peak_gb": _peak_rss_gb(), "parts": parts})
    except Exception as err:  # reported in the table, the other stages go on
        queue.put({"seconds": time.time() - t0, "peak_gb": _peak_rss_gb(), "error": repr(err)})


def run_stage(stage: str, **args) -> dict:
    """`stage` in a fresh process: its wall seconds, peak resident memory (GB) and timed parts."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_stage_child, args=(queue, stage, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _synthesise(parts, capture: str, views: int, width: int, height: int, path: str) -> None:
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    generate_capture(capture, SynthConfig(views=views, width=width, height=height, path=path, seed=0))


def _reconstruct(parts, capture: str, work: str) -> None:
    import pycolmap

    from colmap_tools.reconstruct import reconstruct

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.time()
            out = fn(*a, **k)
            parts[name] = parts.get(name, 0.0) + time.time() - t
            return out

        return wrapper

    # the pipeline's own calls, timed where pycolmap is entered
    for name, attr in (
        ("extraction", "extract_features"),
        ("matching", "match_exhaustive"),
        ("matching", "match_sequential"),
        ("matching", "match_image_pairs"),
        ("mapping", "incremental_mapping"),
    ):
        setattr(pycolmap, attr, timed(name, getattr(pycolmap, attr)))
    rec = reconstruct(capture, output_dir=work)
    parts["registered"] = rec.num_reg_images()


def _work_capture(capture: Path, work: Path) -> Path:
    """A capture folder seen through links: the capture's images and masks, the reconstructed model."""
    linked = work / "capture"
    if not linked.exists():
        linked.mkdir(parents=True)
        for sub in ("images", "masks"):
            (linked / sub).symlink_to(capture / sub)
        (linked / "sparse").symlink_to(work / "sparse")
    return linked


def _masks(parts, capture: str, work: str, out: str) -> None:
    from colmap_tools.propagate_masks import propagate_capture
    from inconddiff.capture import load_capture

    stems = load_capture(capture).stems
    pair = [stems[0], stems[len(stems) // 3]]
    propagate_capture(capture, pair, out_dir=out, sparse_dir=Path(work) / "sparse" / "0")


def _remove(parts, capture: str, out: str) -> None:
    from inconddiff.removal.config import RemovalConfig
    from inconddiff.removal.driver import remove_object

    remove_object(capture, out, config=RemovalConfig(method="warp"))


def _evaluate(parts, capture: str, out: str) -> None:
    from nerf_integration.evaluate import evaluate_capture

    evaluate_capture(capture, out)


STAGE_FUNCTIONS = {
    "synthesise": _synthesise,
    "reconstruct": _reconstruct,
    "masks": _masks,
    "remove": _remove,
    "evaluate": _evaluate,
}


def measure_capture(
    name: str, capture: Path, stages: list[str], synth: dict | None, done: dict, on_row
) -> None:
    """The stages of one capture not yet in `done` (keyed by (capture, stage)), each row handed to `on_row`
    as soon as it is measured."""
    work = WORK / name

    def record(stage: str, result: dict) -> None:
        row = {"capture": name, "views": synth["views"] if synth else None, "stage": stage, **result}
        done[(name, stage)] = row
        print(json.dumps(row), flush=True)
        on_row(row)

    if synth and "synthesise" in stages and (name, "synthesise") not in done:
        shutil.rmtree(capture, ignore_errors=True)  # rendered again, identical, to time it
    if synth and not capture.is_dir():
        record("synthesise", run_stage("synthesise", capture=str(capture), **synth))
    if "reconstruct" in stages and (name, "reconstruct") not in done:
        shutil.rmtree(work / "sparse", ignore_errors=True)
        record("reconstruct", run_stage("reconstruct", capture=str(capture), work=str(work)))
    if not (work / "sparse" / "0").is_dir():
        return
    linked = _work_capture(capture, work)
    for stage, out in (
        ("masks", work / "masks_out"),
        ("remove", work / "removed"),
        ("evaluate", work / "eval"),
    ):
        if stage not in stages or (name, stage) in done:
            continue
        for stale in (out, Path(f"{out}.partial")):
            shutil.rmtree(stale, ignore_errors=True)
        target = str(work / "removed") if stage == "evaluate" else str(linked)
        if stage == "evaluate" and not (work / "removed").is_dir():
            continue
        args = {"capture": target, "out": str(out)}
        if stage == "masks":
            args = {"capture": str(capture), "work": str(work), "out": str(out)}
        record(stage, run_stage(stage, **args))


TIMED_PARTS = ("extraction", "matching", "mapping")


def _with_parts(rows: list[dict]) -> list[dict]:
    """`rows` and, for each timed part of a stage (reconstruct's extraction, matching, mapping), a row of its
    own named stage.part."""
    out = list(rows)
    for r in rows:
        for part in TIMED_PARTS:
            if part in r.get("parts", {}):
                out.append({**r, "stage": f"{r['stage']}.{part}", "seconds": r["parts"][part]})
    return out


def series(capture: str) -> str:
    """The series a synthetic capture belongs to: its path and size (orbit_100_1920x1080 -> orbit_1920x1080)."""
    path, _, size = capture.rsplit("_", 2)
    return f"{path}_{size}"


def _timed(rows: list[dict]) -> list[dict]:
    """The rows of synthetic captures (those with a number of views) measured without error, each timed part
    as a row of its own: what the exponents are fitted to and the plot draws."""
    return [r for r in _with_parts(rows) if r.get("views") and "error" not in r]


def exponents(rows: list[dict], min_views: int = 50) -> dict[str, float]:
    """Per stage (and timed part) and series (path and size), the slope of log seconds against log views over
    the captures of at least `min_views` (all of them when fewer than two qualify)."""
    out = {}
    rows = _timed(rows)
    keys = {(series(r["capture"]), r["stage"]) for r in rows}
    for name, stage in sorted(keys):
        sel = [r for r in rows if r["stage"] == stage and series(r["capture"]) == name]
        big = [r for r in sel if r["views"] >= min_views]
        use = big if len({r["views"] for r in big}) >= 2 else sel
        if len({r["views"] for r in use}) >= 2:
            x = np.log([r["views"] for r in use])
            y = np.log([max(r["seconds"], 1e-3) for r in use])
            out[f"{name}/{stage}"] = float(np.polyfit(x, y, 1)[0])
    return out


def plot(rows: list[dict], slopes: dict[str, float], path: Path) -> None:
    """One log-log panel per series (path and size): seconds against views, a line per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _timed(rows)
    names = sorted({key.split("/")[0] for key in slopes})
    stages = sorted({key.split("/")[1] for key in slopes})
    colour = {stage: f"C{i % 10}" for i, stage in enumerate(stages)}  # one colour per stage in every panel
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4.5), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for key in sorted(k for k in slopes if k.startswith(f"{name}/")):
            stage = key.split("/")[1]
            sel = sorted(
                (r["views"], r["seconds"])
                for r in rows
                if r["stage"] == stage and series(r["capture"]) == name
            )
            style = "--" if "." in stage else "-"
            ax.plot(
                *zip(*sel, strict=True),
                "o" + style,
                color=colour[stage],
                label=f"{stage} ({slopes[key]:.2f})",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        views = sorted({r["views"] for r in rows if series(r["capture"]) == name})
        ax.set_xticks(views, [str(v) for v in views])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(name)
        ax.set_xlabel("views")
        ax.legend(fontsize=7, title="stage (exponent)", title_fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("wall seconds (2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--views", type=int, nargs="+", default=[25, 50, 100, 200])
    p.add_argument("--size", default="1920x1080", help="synthetic captures' WxH")
    p.add_argument("--paths", nargs="+", default=["orbit"], choices=["orbit", "forward"])
    p.add_argument(
        "--stages",
        nargs="+",
        default=["reconstruct", "masks", "remove"],
        choices=STAGES,
        help="synthesise: render a capture that exists again, to time it (a missing one is always rendered)",
    )
    p.add_argument("--real", nargs="*", default=[], help="real captures under ../shared/data to add")
    p.add_argument(
        "--redo", action="store_true", help="measure the chosen stages again (other rows are kept)"
    )
    p.add_argument(
        "--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(ROOT)})"
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    width, height = (int(v) for v in args.size.lower().split("x"))

    results = args.json
    rows = json.loads(results.read_text())["rows"] if results.is_file() else []
    # --redo measures the chosen stages again; the JSON keeps every other row
    done = {(r["capture"], r["stage"]): r for r in rows if not (args.redo and r["stage"] in args.stages)}

    def save() -> dict[str, float]:
        slopes = exponents(rows)
        results.parent.mkdir(parents=True, exist_ok=True)
        tmp = results.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps({"machine": f"{os.cpu_count()} cores", "rows": rows, "exponents": slopes}, indent=1)
        )
        os.replace(tmp, results)
        return slopes

    jobs = []
    for path in args.paths:
        for views in args.views:
            name = f"{path}_{views}_{width}x{height}"
            synth = {"views": views, "width": width, "height": height, "path": path}
            jobs.append((name, WORK / name / "source", synth))
    for real in args.real:
        if (SHARED / real).is_dir():
            jobs.append((real, SHARED / real, None))

    def on_row(row: dict) -> None:
        rows[:] = [r for r in rows if (r["capture"], r["stage"]) != (row["capture"], row["stage"])]
        rows.append(row)
        save()

    for name, capture, synth in jobs:
        measure_capture(name, capture, args.stages, synth, done, on_row)
    slopes = save()

    print(f"\n{'capture':28s} {'stage':12s} {'seconds':>9s} {'peak GB':>8s}  parts")
    for r in sorted(
        rows,
        key=lambda r: (
            series(r["capture"]) if r.get("views") else r["capture"],
            r.get("views") or 0,
            STAGES.index(r["stage"]),
        ),
    ):
        parts = ", ".join(f"{k} {v:.0f}" for k, v in r.get("parts", {}).items())
        err = f"  ERROR {r['error']}" if "error" in r else ""
        print(f"{r['capture']:28s} {r['stage']:12s} {r['seconds']:9.1f} {r['peak_gb']:8.2f}  {parts}{err}")
    print("\nfitted exponent of seconds against views:")
    for k, v in slopes.items():
        print(f"  {k:24s} {v:.2f}")
    if slopes:
        figure = results.with_suffix(".png")
        plot(rows, slopes, figure)
        print(f"plot: {figure}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
