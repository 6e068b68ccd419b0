"""The whole job from a few annotated views: reconstruct (once), propagate masks, remove the object.

The capture is a folder, or a video whose frames are taken first (`video.extract_frames`, into OUT.work/frames)
with the annotated frames' masks copied beside them from a folder of the user's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from inconddiff.capture import CaptureError

logger = logging.getLogger(__name__)


def run_capture(
    capture: str | os.PathLike,
    views: list[str],
    out: str | os.PathLike,
    config,
    margin: int | None = None,
    masks_from: str | os.PathLike | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
) -> Path:
    """Reconstruct CAPTURE when it has no sparse/0 (into OUT.work/, the capture is not modified), propagate
    the masks of `views` to every view (OUT.work/masks), and remove the object into OUT.

    CAPTURE may be a video: its frames (`fps`, `max_frames`; by default `video.DEFAULT_FPS` and
    `DEFAULT_MAX_FRAMES`) go to OUT.work/frames and the masks of `views` are read from `masks_from` (FRAME.png,
    drawn on the frames `inconddiff frames` writes with the same settings). Everything in OUT.work is kept, so
    an interrupted run resumes where it stopped."""
    from colmap_tools.propagate_masks import propagate_capture
    from colmap_tools.reconstruct import reconstruct
    from inconddiff.removal.driver import remove_object
    from inconddiff.video import is_video

    capture, out = Path(capture), Path(out)
    if out.exists():
        raise CaptureError(out, "output folder already exists; choose a new folder")
    work = out.with_name(out.name + ".work")
    if capture.is_file() and is_video(capture):
        capture = video_capture(capture, views, work / "frames", masks_from, fps, max_frames)
    elif masks_from is not None:
        raise CaptureError(capture, "--masks is for a video; a capture folder holds its masks in masks/")
    sparse = capture / "sparse" / "0"
    if not sparse.is_dir():
        sparse = work / "sparse" / "0"
        if not sparse.is_dir():
            reconstruct(capture, output_dir=work)
    masks = work / "masks"
    if not masks.is_dir():
        propagate_capture(capture, views, masks, sparse_dir=sparse, margin=margin)
    view = work / "capture"  # the capture as the driver sees it: its images, the propagated masks, the model
    view.mkdir(parents=True, exist_ok=True)
    for name, target in (("images", capture / "images"), ("sparse", sparse.parent)):
        link = view / name
        if not link.exists():
            link.symlink_to(target.resolve(), target_is_directory=True)
    result = remove_object(view, out, masks_dir=masks, config=config)
    logger.info("done: %s (propagated masks and model kept in %s)", result, work)
    return result


def video_capture(
    video: Path,
    views: list[str],
    frames: Path,
    masks_from: str | os.PathLike | None,
    fps: float | None,
    max_frames: int | None,
) -> Path:
    """The capture folder `frames` made from `video` (once: a resumed run finds it) with the annotated
    frames' masks copied into frames/masks from `masks_from`."""
    from inconddiff.capture import image_size, read_mask
    from inconddiff.video import DEFAULT_FPS, DEFAULT_MAX_FRAMES, extract_frames

    if masks_from is None:
        raise CaptureError(
            video,
            "a video needs --masks DIR with FRAME.png for each --from frame: take the frames with `inconddiff "
            f"frames {video} --out PREVIEW` (same --fps), draw PREVIEW/masks/FRAME.png for two of them, and "
            "pass --masks PREVIEW/masks",
        )
    masks_from, fps = Path(masks_from), fps or DEFAULT_FPS
    missing = [v for v in views if not (masks_from / f"{v}.png").is_file()]
    if missing:
        raise CaptureError(masks_from, f"no mask for frame {', '.join(missing)} (expected FRAME.png)")
    settings = {
        "video": str(video.resolve()),
        "bytes": video.stat().st_size,
        "fps": fps,
        "max_frames": max_frames or DEFAULT_MAX_FRAMES,
    }
    record = frames / "frames.json"
    if frames.is_dir():
        if not record.is_file() or json.loads(record.read_text()) != settings:
            raise CaptureError(
                frames, "frames of another video or other settings; choose a new --out or delete this folder"
            )
        logger.info("frames already taken: %s", frames)
    else:
        frames.parent.mkdir(parents=True, exist_ok=True)
        staging = frames.with_name(frames.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        extract_frames(video, staging, fps=fps, max_frames=settings["max_frames"])
        (staging / "frames.json").write_text(json.dumps(settings, indent=1))
        os.replace(staging, frames)
    (frames / "masks").mkdir(exist_ok=True)
    for v in views:
        frame = frames / "images" / f"{v}.png"
        if not frame.is_file():
            raise CaptureError(frames / "images", f"no frame named {v} in {video} at {fps} frames per second")
        read_mask(masks_from / f"{v}.png", image_size(frame))  # names the drawn mask if it is wrong
        shutil.copyfile(masks_from / f"{v}.png", frames / "masks" / f"{v}.png")
    return frames
