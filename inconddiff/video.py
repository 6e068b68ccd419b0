"""A capture folder from a video: frames sampled at a fixed rate, the sharpest one of each sampling window.

The video is cut into windows of 1/fps seconds and each window gives one frame, as in nerfstudio's
`ns-process-data video`; where that keeps the most representative frame (ffmpeg's `thumbnail` filter), this
keeps the sharpest (highest variance of the Laplacian): hand-held videos have motion-blurred frames, and
COLMAP and the fills need sharp ones, while the views stay evenly spread. The video is read with imageio's ffmpeg plugin (the `imageio-ffmpeg`
package ships its ffmpeg), which turns phone videos upright as they are displayed. The frames go to
`CAPTURE/images/frame_00001.png ...` in a new folder; the user then draws masks for two of them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from inconddiff.capture import CaptureError, atomic_output_dir, write_image

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")

DEFAULT_FPS = 2.0
"""Frames kept per second of video: consecutive frames of a hand-held walk still differ in viewpoint."""

DEFAULT_MAX_FRAMES = 300
"""More frames than COLMAP's exhaustive matching and the view-by-view removal handle in reasonable time on
a CPU; a longer video is sampled more sparsely instead."""


def is_video(path: str | os.PathLike) -> bool:
    """Whether `path` names a video file (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sharpness(frame: np.ndarray) -> float:
    """Variance of the (4-neighbour) Laplacian of the grey frame: low for blurred frames."""
    grey = frame.astype(np.float32).mean(axis=2) if frame.ndim == 3 else frame.astype(np.float32)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def _ffmpeg_error(video: Path, err: Exception) -> CaptureError:
    """The error for a video ffmpeg cannot read, with ffmpeg's last line (its reason) instead of its log."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(err).__name__
    return CaptureError(video, f"unreadable video ({reason})")


def _frames(video: Path) -> Iterator[np.ndarray]:
    """The video's frames (HxWx3 uint8), upright as displayed; CaptureError when ffmpeg fails."""
    import imageio.v3 as iio

    try:
        yield from iio.imiter(video, plugin="FFMPEG")
    except Exception as err:  # imageio-ffmpeg raises OSError, RuntimeError... with ffmpeg's whole log
        raise _ffmpeg_error(video, err) from err


def extract_frames(
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    fps: float = DEFAULT_FPS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    blur_window: float = 1.0,
) -> Path:
    """Write the sharpest frame of every 1/`fps` seconds of `video` to the new capture `out_dir`/images.

    At most `max_frames` frames: a longer video is sampled at a lower rate. `blur_window` is the share of
    each window, around its middle, whose frames compete on sharpness: 1 takes the sharpest of the whole
    window, smaller values keep the frames more evenly spaced (0 takes the frame nearest the middle).
    Returns `out_dir`, written atomically; CaptureError names a missing or unreadable video.
    """
    import imageio.v3 as iio
    from rich.progress import Progress

    video, out_dir = Path(video), Path(out_dir)
    if fps <= 0 or max_frames < 1 or not 0 <= blur_window <= 1:
        raise ValueError(
            f"need fps > 0, max_frames >= 1 and 0 <= blur_window <= 1; got {fps}, {max_frames}, {blur_window}"
        )
    if not video.is_file():
        raise CaptureError(video, "video file not found")
    try:
        meta = iio.immeta(video, plugin="FFMPEG")
    except Exception as err:
        raise _ffmpeg_error(video, err) from err
    video_fps = float(meta.get("fps") or 0)
    if not video_fps > 0:
        raise CaptureError(video, "no frame rate found: is this a video?")
    duration = float(meta.get("duration") or 0)
    if duration * fps > max_frames:
        fps = max_frames / duration
        logger.info(
            "%s lasts %.0f s: sampling %.2f frames per second to keep %d", video, duration, fps, max_frames
        )

    kept = 0
    with atomic_output_dir(out_dir) as tmp:
        window = -1
        sharpest, sharpest_score, middle, middle_offset = None, -1.0, None, 1.0

        def flush() -> None:
            nonlocal kept
            frame = sharpest if sharpest is not None else middle
            if frame is not None and kept < max_frames:
                kept += 1
                write_image(tmp / "images" / f"frame_{kept:05d}.png", frame)

        with Progress(disable=None) as progress:
            task = progress.add_task(f"reading {video.name}", total=round(duration * video_fps) or None)
            for i, frame in enumerate(_frames(video)):
                # in windows; the epsilon keeps a frame that starts a window from rounding into the one before
                position = i * fps / video_fps + 1e-9
                if math.floor(position) != window:
                    flush()
                    window = math.floor(position)
                    sharpest, sharpest_score, middle, middle_offset = None, -1.0, None, 1.0
                offset = abs(position - window - 0.5)  # from the window's middle, in windows
                if offset < middle_offset:
                    middle, middle_offset = frame, offset
                if offset <= blur_window / 2:
                    score = sharpness(frame)
                    if score > sharpest_score:
                        sharpest, sharpest_score = frame, score
                progress.advance(task)
            flush()
        if kept == 0:
            raise CaptureError(video, "no frame could be read from this video")
    logger.info(
        "kept %d frames of %s (%.2f per second, the sharpest of each window) in %s", kept, video, fps, out_dir
    )
    return out_dir
