"""colmap_tools.export read back by nerfstudio's dataparser."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from inconddiff.capture import CaptureError


def capture_with_model(tiny_capture, tmp_path, keep_masks=("view_000", "view_002")):
    cap = tmp_path / "cap"
    shutil.copytree(tiny_capture, cap)
    for p in (cap / "masks").iterdir():
        if p.stem not in keep_masks:
            p.unlink()
    shutil.copytree(cap / "gt" / "sparse" / "0", cap / "sparse" / "0")
    return cap


def test_export_is_read_by_nerfstudio_with_inverted_masks(tiny_capture, tmp_path):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from colmap_tools.export import export_nerfstudio
    from inconddiff.capture import read_mask
    from inconddiff.evaluation.synthetic import load_gt_cameras

    cap = capture_with_model(tiny_capture, tmp_path)
    path = export_nerfstudio(cap, tmp_path / "ns")
    data = json.loads(path.read_text())
    assert len(data["frames"]) == 8
    assert all("mask_path" in f for f in data["frames"])
    # nerfstudio convention: 0 = ignore = our object
    ours = read_mask(cap / "masks" / "view_000.png")
    theirs = read_mask(tmp_path / "ns" / "masks_nerfstudio" / "view_000.png")
    assert (theirs == ~ours).all()
    assert read_mask(tmp_path / "ns" / "masks_nerfstudio" / "view_001.png").all()  # no mask: keep all

    parser = NerfstudioDataParserConfig(
        data=tmp_path / "ns",
        downscale_factor=1,
        auto_scale_poses=False,
        center_method="none",
        orientation_method="none",
        train_split_fraction=1.0,
    ).setup()
    outputs = parser.get_dataparser_outputs(split="train")
    assert len(outputs.image_filenames) == 8
    assert outputs.mask_filenames is not None and len(outputs.mask_filenames) == 8
    assert all(p.exists() for p in outputs.image_filenames)
    # camera centres survive the round trip (nerfstudio scales poses into a box, so compare shapes)
    g = load_gt_cameras(cap)
    names = [p.stem for p in outputs.image_filenames]
    order = [list(map(lambda n: n.split(".")[0], g["names"])).index(n) for n in names]
    truth = np.stack([-g["R"][i].T @ g["t"][i] for i in order])
    got = outputs.cameras.camera_to_worlds[:, :3, 3].numpy() / outputs.dataparser_scale
    d_truth = np.linalg.norm(truth[:, None] - truth[None], axis=-1)
    d_got = np.linalg.norm(got[:, None] - got[None], axis=-1)
    assert np.allclose(d_got, d_truth, rtol=1e-3, atol=1e-4)
    assert float(outputs.cameras.fx[0]) == pytest.approx(float(g["K"][0, 0]), rel=1e-4)


def test_export_refuses_to_overwrite_and_needs_a_model(tiny_capture, tmp_path):
    from colmap_tools.export import export_nerfstudio

    cap = capture_with_model(tiny_capture, tmp_path, keep_masks=())
    path = export_nerfstudio(cap, tmp_path / "ns")
    assert all("mask_path" not in f for f in json.loads(path.read_text())["frames"])
    with pytest.raises(CaptureError, match="already exists"):
        export_nerfstudio(cap, tmp_path / "ns")
    shutil.rmtree(cap / "sparse")
    with pytest.raises(CaptureError, match="model folder not found"):
        export_nerfstudio(cap, tmp_path / "ns2")
