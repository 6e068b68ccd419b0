"""A video through `inconddiff run` end to end: a synthetic 1080p walk encoded as a video, two frames annotated.

The walk is `inconddiff synth --path forward` (a camera moving on a spiral, all views facing the scene), its
renders encoded as one H.264 video lasting `--seconds`. The two annotated frames get their true masks, drawn
on the frames `inconddiff frames` takes (as a user would). `inconddiff run VIDEO --masks DIR` then runs in a
process of its own, with its wall seconds, its peak resident memory and the time of each stage read from its
log. Each extracted frame is matched to the render it came from (the nearest of its sampling window), so that
the result is scored against the object-free renders: masked PSNR of the output and of Telea (each frame on
its own, true mask) in the true mask, and the propagated masks' IoU with the true ones.

Prints one table and writes `benchmarks/results/video_run.json`.

    python benchmarks/video_run.py --frames 240 --seconds 60 --size 1920x1080
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data_cache" / "video"
RESULTS = ROOT / "benchmarks" / "results" / "video_run.json"
STAGE_ENDS = {  # the log line that ends each stage of `run`
    "frames": "kept ",
    "reconstruct": "largest model",
    "masks": "wrote ",
    "remove": "done:",
}
RECONSTRUCT_MARKS = {  # the log line that starts each part of the reconstruction
    "extraction": "extracting SIFT",
    "matching": "matching (",
    "mapping": "incremental mapping",
}


def render_walk(capture: Path, frames: int, width: int, height: int) -> None:
    """The synthetic walk's renders (once: an existing capture is kept)."""
    if capture.is_dir():
        return
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    generate_capture(capture, SynthConfig(views=frames, width=width, height=height, path="forward", seed=0))


def encode(capture: Path, video: Path, seconds: float) -> float:
    """The renders as one H.264 video of `seconds` (imageio-ffmpeg's ffmpeg); returns its frame rate."""
    import imageio_ffmpeg

    from inconddiff.capture import list_images, read_image

    paths = list_images(capture / "images")
    fps = len(paths) / seconds
    if not video.is_file():
        tmp = video.with_name(video.stem + ".tmp" + video.suffix)
        first = read_image(paths[0])
        size = (first.shape[1], first.shape[0])
        writer = imageio_ffmpeg.write_frames(str(tmp), size, fps=fps, codec="libx264", macro_block_size=8)
        writer.send(None)
        for p in paths:
            writer.send(np.ascontiguousarray(read_image(p)))
        writer.close()
        os.replace(tmp, video)
    return fps


def source_of(frame: np.ndarray, capture: Path, guess: float, stems: list[str]) -> str:
    """The render an extracted frame came from: the nearest to it among those around `guess` (an index)."""
    from inconddiff.capture import read_image

    near = range(max(0, int(guess) - 3), min(len(stems), int(guess) + 4))
    small = frame[::8, ::8].astype(np.float32)
    errors = {
        stems[i]: float(((read_image(capture / "images" / f"{stems[i]}.png")[::8, ::8] - small) ** 2).mean())
        for i in near
    }
    return min(errors, key=errors.get)


def run_logged(cmd: list[str], log: Path) -> tuple[int, float]:
    """Run `cmd` with its output, each line stamped with the seconds since it started, into `log`; returns
    its exit code and wall seconds."""
    env = {**os.environ, "COLUMNS": "240"}  # the log's lines unwrapped
    started = time.time()
    with open(log, "w", buffering=1) as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            f.write(f"{time.time() - started:9.1f} {line}")
        code = proc.wait()
    return code, time.time() - started


def stage_seconds(log: Path) -> dict[str, float]:
    """Seconds of each stage of `run` (and of the reconstruction's parts), from the stamped `log`: a stage
    lasts from the end of the one before to the first line that ends it."""
    first: dict[str, float] = {}
    for line in log.read_text().splitlines():
        stamp, _, text = line.strip().partition(" ")
        for key, mark in [
            *STAGE_ENDS.items(),
            *((f"reconstruct.{k}", m) for k, m in RECONSTRUCT_MARKS.items()),
        ]:
            if key not in first and mark in text:
                first[key] = float(stamp)
    out, before = {}, 0.0
    for stage in STAGE_ENDS:
        if stage in first:
            out[stage], before = first[stage] - before, first[stage]
    parts = [f"reconstruct.{k}" for k in RECONSTRUCT_MARKS if f"reconstruct.{k}" in first]
    for k, part in enumerate(parts):
        end = first[parts[k + 1]] if k + 1 < len(parts) else first.get("reconstruct")
        if end is not None:
            out[part] = end - first[part]
    return out


def psnr(error_sum: float, count: int) -> float:
    return float(10 * np.log10(255**2 / max(error_sum / max(count, 1), 1e-9)))


def score(capture: Path, frames: Path, out: Path, masks: Path, video_fps: float, fps: float) -> dict:
    """Masked PSNR of the output and of Telea against the object-free renders; the propagated masks' IoU."""
    import cv2

    from inconddiff.capture import list_images, load_capture, read_image, read_mask

    truth = load_capture(capture)
    stems = truth.stems
    se = {"ours": 0.0, "telea": 0.0}
    count, ious, scored = 0, [], 0
    for k, path in enumerate(list_images(frames / "images")):
        frame = read_image(path)
        src = source_of(frame, capture, (k + 0.5) * video_fps / fps, stems)
        mask = truth.mask(src)
        result = out / "images" / path.name
        if mask is None or not mask.any() or not result.is_file():
            continue
        clean = read_image(capture / "gt" / "images" / f"{src}.png").astype(np.float64)
        ours = read_image(result).astype(np.float64)
        telea = cv2.inpaint(frame, mask.astype(np.uint8), 5, cv2.INPAINT_TELEA).astype(np.float64)
        for name, img in (("ours", ours), ("telea", telea)):
            se[name] += ((img[mask] - clean[mask]) ** 2).mean(-1).sum()
        count += int(mask.sum())
        scored += 1
        prop = masks / path.name
        if prop.is_file():
            p = read_mask(prop)
            ious.append(float((p & mask).sum() / max((p | mask).sum(), 1)))
    return {
        "frames_scored": scored,
        "masked_psnr": {k: psnr(v, count) for k, v in se.items()},
        "mask_iou_mean": float(np.mean(ious)) if ious else None,
        "mask_iou_min": float(np.min(ious)) if ious else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=240, help="renders in the video")
    p.add_argument("--seconds", type=float, default=60.0, help="the video's length")
    p.add_argument("--size", default="1920x1080", help="WxH")
    p.add_argument("--fps", type=float, default=2.0, help="frames `run` keeps per second")
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    name = f"forward_{args.frames}_{width}x{height}"
    capture, run_dir = WORK / name, WORK / f"{name}_run"
    render_walk(capture, args.frames, width, height)
    video = WORK / f"{name}_{args.seconds:.0f}s.mp4"
    video_fps = encode(capture, video, args.seconds)

    from inconddiff.capture import list_images, load_capture, read_image, write_image
    from inconddiff.video import extract_frames

    # the user's side: take the frames, draw two masks (here the true ones)
    preview = run_dir / "preview"
    if not preview.is_dir():
        extract_frames(video, preview, fps=args.fps)
    taken = list_images(preview / "images")
    pick = [taken[0], taken[len(taken) // 3]]
    truth = load_capture(capture)
    drawn = run_dir / "drawn"
    drawn.mkdir(parents=True, exist_ok=True)
    for path in pick:
        k = taken.index(path)
        src = source_of(read_image(path), capture, (k + 0.5) * video_fps / args.fps, truth.stems)
        write_image(drawn / path.name, truth.mask(src).astype(np.uint8) * 255)

    out = run_dir / "removed"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(run_dir / "removed.work", ignore_errors=True)
    cmd = [
        sys.executable, "-m", "inconddiff.cli", "run", str(video),
        "--from", *[p.stem for p in pick], "--masks", str(drawn), "--fps", str(args.fps),
        "--out", str(out), "--method", "warp",
    ]  # fmt: skip
    code, seconds = run_logged(cmd, run_dir / "run.log")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    if code != 0:
        raise SystemExit(f"`inconddiff run` failed: see {run_dir / 'run.log'}")
    work = run_dir / "removed.work"
    import pycolmap

    registered = pycolmap.Reconstruction(str(work / "sparse" / "0")).num_reg_images()
    row = {
        "video": {"frames": args.frames, "seconds": args.seconds, "size": [width, height], "fps": video_fps},
        "frames_taken": len(taken),
        "registered": registered,
        "seconds": seconds,
        "stage_seconds": stage_seconds(run_dir / "run.log"),
        "peak_gb": peak_gb,
        **score(capture, work / "frames", out, work / "masks", video_fps, args.fps),
        "machine": f"{os.cpu_count()} cores",
        "command": " ".join(cmd[2:]),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, args.json)
    print(f"{'video':28s} {'frames':>6s} {'registered':>10s} {'seconds':>8s} {'peak GB':>7s}  stages")
    stages = ", ".join(f"{k} {v:.0f}" for k, v in row["stage_seconds"].items())
    print(f"{video.name:28s} {len(taken):6d} {registered:10d} {row['seconds']:8.0f} {peak_gb:7.2f}  {stages}")
    mp = row["masked_psnr"]
    print(
        f"masked PSNR: ours {mp['ours']:.2f} dB, Telea {mp['telea']:.2f} dB over {row['frames_scored']} frames; "
        f"propagated masks' IoU mean {row['mask_iou_mean']:.3f}, worst {row['mask_iou_min']:.3f}"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
