"""The whole job from a few annotated views: reconstruct (once), propagate masks, remove the object."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from inconddiff.capture import CaptureError

logger = logging.getLogger(__name__)


def run_capture(
    capture: str | os.PathLike, views: list[str], out: str | os.PathLike, config, margin: int | None = None
) -> Path:
    """Reconstruct CAPTURE when it has no sparse/0 (into OUT.work/, the capture is not modified), propagate
    the masks of `views` to every view (OUT.work/masks), and remove the object into OUT."""
    from colmap_tools.propagate_masks import propagate_capture
    from colmap_tools.reconstruct import reconstruct
    from inconddiff.removal.driver import remove_object

    capture, out = Path(capture), Path(out)
    if out.exists():
        raise CaptureError(out, "output folder already exists; choose a new folder")
    work = out.with_name(out.name + ".work")
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
