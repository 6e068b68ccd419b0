"""The capture readers accept good folders and reject each kind of bad input with the file named."""

from __future__ import annotations

import numpy as np
import pytest

from inconddiff.capture import (
    CaptureError,
    atomic_output_dir,
    list_images,
    load_capture,
    read_image,
    read_mask,
    write_image,
)


def make_capture(root, sizes=((20, 30), (20, 30)), masks=None):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        write_image(root / "images" / f"v{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    for name, m in (masks or {}).items():
        write_image(root / "masks" / f"{name}.png", m)
    return root


def test_good_capture_reads_images_and_masks(tmp_path):
    m = np.zeros((20, 30), dtype=np.uint8)
    m[5:10, 5:10] = 255
    cap = load_capture(make_capture(tmp_path, masks={"v1": m}))
    assert cap.stems == ["v0", "v1"]
    assert cap.sizes["v0"] == (20, 30)
    assert cap.image("v0").shape == (20, 30, 3) and cap.image("v0").dtype == np.uint8
    assert cap.mask("v0") is None
    got = cap.mask("v1")
    assert got.dtype == bool and got.sum() == 25 and got[5:10, 5:10].all()


def test_mask_of_zeros_and_ones_is_accepted(tmp_path):
    m = np.zeros((20, 30), dtype=np.uint8)
    m[0, 0] = 1
    make_capture(tmp_path, masks={"v0": m})
    assert load_capture(tmp_path).mask("v0").sum() == 1


def test_missing_capture_and_image_folder(tmp_path):
    with pytest.raises(CaptureError, match="capture folder not found"):
        load_capture(tmp_path / "nope")
    with pytest.raises(CaptureError, match="image folder not found") as err:
        load_capture(tmp_path)
    assert err.value.path == tmp_path / "images"


def test_empty_image_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("x")
    with pytest.raises(CaptureError, match="no images"):
        load_capture(tmp_path)


def test_unreadable_image_is_named(tmp_path):
    make_capture(tmp_path)
    bad = tmp_path / "images" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(CaptureError, match="unreadable image") as err:
        load_capture(tmp_path)
    assert err.value.path == bad
    with pytest.raises(CaptureError, match="unreadable image"):
        read_image(bad)


def test_duplicate_stems_rejected(tmp_path):
    make_capture(tmp_path)
    (tmp_path / "images" / "v0.jpg").write_bytes((tmp_path / "images" / "v0.png").read_bytes())
    with pytest.raises(CaptureError, match="share the stem"):
        list_images(tmp_path / "images")


def test_mask_size_mismatch_is_named(tmp_path):
    make_capture(tmp_path, masks={"v0": np.zeros((10, 30), dtype=np.uint8)})
    with pytest.raises(CaptureError, match="mask size 30x10 differs from its image 30x20") as err:
        load_capture(tmp_path)
    assert err.value.path.name == "v0.png" and err.value.path.parent.name == "masks"


def test_non_binary_mask_rejected(tmp_path):
    m = np.zeros((20, 30), dtype=np.uint8)
    m[2:4, 2:4] = 128
    m[5:8, 5:8] = 255
    make_capture(tmp_path, masks={"v0": m})
    with pytest.raises(CaptureError, match="not binary.*128"):
        load_capture(tmp_path)


def test_colour_mask_rejected(tmp_path):
    m = np.zeros((20, 30, 3), dtype=np.uint8)
    m[2:4, 2:4, 0] = 255
    write_image(tmp_path / "m.png", m)
    with pytest.raises(CaptureError, match="colour"):
        read_mask(tmp_path / "m.png")


def test_mask_naming_no_image_rejected(tmp_path):
    make_capture(tmp_path, masks={"v7": np.zeros((20, 30), dtype=np.uint8)})
    with pytest.raises(CaptureError, match="mask names no image") as err:
        load_capture(tmp_path)
    assert err.value.path.stem == "v7"


def test_explicit_mask_folder_must_exist(tmp_path):
    make_capture(tmp_path)
    with pytest.raises(CaptureError, match="mask folder not found"):
        load_capture(tmp_path, masks_dir=tmp_path / "elsewhere")


def test_mixed_sizes_rejected_only_where_it_matters(tmp_path):
    make_capture(tmp_path, sizes=((20, 30), (24, 30)))
    assert len(load_capture(tmp_path).stems) == 2
    with pytest.raises(CaptureError, match="mixed sizes"):
        load_capture(tmp_path, same_size=True)


def test_grey_and_rgba_images_become_rgb(tmp_path):
    write_image(tmp_path / "g.png", np.full((5, 6), 7, dtype=np.uint8))
    write_image(tmp_path / "a.png", np.full((5, 6, 4), 9, dtype=np.uint8))
    assert read_image(tmp_path / "g.png").shape == (5, 6, 3)
    assert (read_image(tmp_path / "a.png") == 9).all()


def test_atomic_output_dir_refuses_existing_and_cleans_up_on_failure(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(CaptureError, match="already exists"):
        with atomic_output_dir(tmp_path / "taken"):
            pass
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path / "out") as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("stopped")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "done.txt").write_text("ok")
    assert (tmp_path / "out" / "done.txt").read_text() == "ok"
