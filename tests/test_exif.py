"""Phone photos: every stage sees an image and its mask upright, as displayed (EXIF orientation applied)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from colmap_tools.reconstruct import upright_images
from inconddiff.capture import (
    exif_orientation,
    image_size,
    load_capture,
    read_image,
    read_mask,
    to_upright,
    write_image,
)
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.driver import remove_object


def save_sideways(upright: np.ndarray, path: Path, orientation: int = 6) -> None:
    """Store `upright` as a camera held upright does: pixels turned 90 degrees, EXIF orientation 6."""
    assert orientation == 6
    im = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))  # counter-clockwise: 6 turns it back
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif, quality=95)


def picture(height: int = 30, width: int = 40) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    img = np.stack([rows * 100 // height, cols * 100 // width, np.full_like(rows, 60)], axis=2).astype(
        np.uint8
    )
    img[: height // 3, : width // 4] = (250, 20, 20)  # a red block at the top left, upright
    return img


def test_read_image_turns_a_sideways_photo_upright(tmp_path):
    upright = picture()
    save_sideways(upright, tmp_path / "photo.jpg")
    with Image.open(tmp_path / "photo.jpg") as im:
        assert im.size == (30, 40)  # stored sideways: 30 wide, 40 high
    mask = np.zeros(upright.shape[:2], dtype=bool)
    mask[:10, :10] = True  # drawn on the displayed, upright picture
    write_image(tmp_path / "photo_mask.png", mask)

    img = read_image(tmp_path / "photo.jpg")
    assert img.shape == (30, 40, 3) == upright.shape
    assert image_size(tmp_path / "photo.jpg") == (30, 40)
    assert exif_orientation(tmp_path / "photo.jpg") == 6
    assert img[:10, :10, 0].mean() > 200 and img[:10, :10, 1].mean() < 60  # the red block is top left
    assert np.abs(img.astype(int) - upright).mean() < 8  # JPEG loss only
    assert read_mask(tmp_path / "photo_mask.png", img.shape[:2]).shape == img.shape[:2]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, orientation):
    stored = (np.arange(5 * 7 * 3) % 251).astype(np.uint8).reshape(5, 7, 3)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "a.png", exif=exif)
    with Image.open(tmp_path / "a.png") as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened))
    assert np.array_equal(to_upright(stored, orientation), expected)
    assert np.array_equal(read_image(tmp_path / "a.png"), expected)
    assert image_size(tmp_path / "a.png") == expected.shape[:2]


def test_a_mask_with_an_orientation_tag_is_turned_too(tmp_path):
    upright = np.zeros((30, 40), dtype=np.uint8)
    upright[:10, :10] = 255
    im = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "m.png", exif=exif)
    assert np.array_equal(read_mask(tmp_path / "m.png", (30, 40)), upright > 0)


@pytest.fixture
def phone_capture(tiny_capture, tmp_path) -> Path:
    """The tiny capture with its images stored sideways as JPEGs tagged orientation 6; masks drawn upright."""
    cap = tmp_path / "phone"
    (cap / "images").mkdir(parents=True)
    shutil.copytree(tiny_capture / "masks", cap / "masks")
    shutil.copytree(tiny_capture / "gt" / "sparse" / "0", cap / "sparse" / "0")
    for p in sorted((tiny_capture / "images").iterdir()):
        save_sideways(read_image(p), cap / "images" / f"{p.stem}.jpg")
    return cap


def test_removal_on_sideways_photos_changes_only_the_upright_masks(phone_capture, tmp_path):
    cap = load_capture(phone_capture)  # masks are checked against the upright size here
    assert len(cap.stems) >= 3
    out = remove_object(phone_capture, tmp_path / "out", config=RemovalConfig(method="telea", refs=0))
    for stem in cap.stems:
        original, result, mask = cap.image(stem), read_image(out / "images" / f"{stem}.png"), cap.mask(stem)
        assert result.shape == original.shape == (*mask.shape, 3) == (48, 64, 3)
        assert np.array_equal(result[~mask], original[~mask]), f"{stem}: pixels outside the mask changed"
        if mask.any():
            assert not np.array_equal(result[mask], original[mask]), f"{stem}: the hole was not filled"


def test_colmap_reads_upright_copies_only_when_an_image_is_rotated(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    upright = picture()
    for name in ("a.png", "b.jpg"):
        Image.fromarray(upright).save(images / name)
    assert upright_images(images, tmp_path / "copies") == images
    assert not (tmp_path / "copies").exists()

    save_sideways(upright, images / "c.jpg")
    folder = upright_images(images, tmp_path / "copies")
    assert folder == tmp_path / "copies"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.jpg", "c.jpg"]
    assert (folder / "a.png").is_symlink() and (folder / "b.jpg").is_symlink()
    assert not (folder / "c.jpg").is_symlink()
    with Image.open(folder / "c.jpg") as im:
        assert im.size == (40, 30) and im.getexif().get(0x0112, 1) == 1  # upright as stored, no tag
    assert np.abs(read_image(folder / "c.jpg").astype(int) - read_image(images / "c.jpg")).mean() < 3
    assert exif_orientation(images / "c.jpg") == 6  # the capture itself is untouched


@pytest.mark.slow
def test_colmap_reconstructs_sideways_photos_with_upright_cameras(small_capture, tmp_path):
    from colmap_tools.reconstruct import reconstruct

    cap = tmp_path / "phone"
    (cap / "images").mkdir(parents=True)
    for p in sorted((small_capture / "images").iterdir()):
        save_sideways(read_image(p), cap / "images" / f"{p.stem}.jpg")
    before = {p.name: p.read_bytes() for p in (cap / "images").iterdir()}
    rec = reconstruct(cap, output_dir=tmp_path / "work")
    assert rec.num_reg_images() == len(before)
    assert {(c.width, c.height) for c in rec.cameras.values()} == {(160, 120)}
    assert sorted(img.name for img in rec.images.values()) == sorted(before)
    assert {p.name: p.read_bytes() for p in (cap / "images").iterdir()} == before
