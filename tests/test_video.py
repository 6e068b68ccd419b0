"""Video input: frames sampled at a fixed rate into a new capture, the sharpest of each window."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from inconddiff.capture import CaptureError, list_images, read_image
from inconddiff.cli import main
from inconddiff.removal.run import run_capture, video_capture
from inconddiff.video import extract_frames, sharpness

VIDEO_FPS, FRAMES, BLURRED = 20, 40, (2, 3)  # in each window of 5 frames, the 3rd and 4th are blurred


def box_blur(img: np.ndarray, radius: int = 3) -> np.ndarray:
    out = img.astype(np.float64)
    for axis in (0, 1):
        out = sum(np.roll(out, s, axis=axis) for s in range(-radius, radius + 1)) / (2 * radius + 1)
    return out.astype(np.uint8)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """2 s of a moving checkerboard at 20 fps, 64x48, two of every five frames blurred."""
    rows, cols = np.mgrid[:48, :64]
    frames = []
    for i in range(FRAMES):
        board = (((rows // 8) + (cols + 2 * i) // 8) % 2 * 200 + 30).astype(np.uint8)
        frame = np.stack([board, board // 2 + 60, 255 - board], axis=2)
        frames.append(box_blur(frame) if i % 5 in BLURRED else frame)
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    iio.imwrite(path, np.stack(frames), plugin="FFMPEG", fps=VIDEO_FPS)
    return path


def test_keeps_the_sharpest_frame_of_each_window(video, tmp_path):
    out = extract_frames(video, tmp_path / "capture", fps=4.0)
    assert out == tmp_path / "capture"
    kept = list_images(out / "images")
    assert [p.stem for p in kept] == [f"frame_{n:05d}" for n in range(1, 9)]  # 2 s at 4 per second
    decoded = list(iio.imiter(video, plugin="FFMPEG"))
    scores = [sharpness(f) for f in decoded]
    for k, path in enumerate(kept):
        window = range(5 * k, 5 * k + 5)
        sharpest = max(window, key=lambda i: scores[i])
        assert sharpest % 5 not in BLURRED
        assert np.array_equal(read_image(path), decoded[sharpest]), f"{path.name}: not frame {sharpest}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture"]  # no temporary folder left


def test_max_frames_samples_a_long_video_more_sparsely(video, tmp_path):
    out = extract_frames(video, tmp_path / "capture", fps=10.0, max_frames=3)
    assert len(list_images(out / "images")) == 3


def test_the_capture_folder_must_be_new(video, tmp_path):
    (tmp_path / "capture").mkdir()
    with pytest.raises(CaptureError, match="already exists"):
        extract_frames(video, tmp_path / "capture")
    assert list((tmp_path / "capture").iterdir()) == []


def test_a_missing_or_unreadable_video_is_named(tmp_path):
    with pytest.raises(CaptureError, match="video file not found") as err:
        extract_frames(tmp_path / "none.mp4", tmp_path / "a")
    assert err.value.path == tmp_path / "none.mp4"
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(CaptureError, match="unreadable video") as err:
        extract_frames(tmp_path / "junk.mp4", tmp_path / "b")
    assert err.value.path == tmp_path / "junk.mp4"
    assert "\n" not in str(err.value)  # ffmpeg's reason, not its whole log
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_phone_video_comes_out_upright(video, tmp_path):
    from imageio_ffmpeg import get_ffmpeg_exe

    turned = tmp_path / "portrait.mp4"
    subprocess.run(
        [
            get_ffmpeg_exe(),
            "-v",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(video),
            "-c",
            "copy",
            str(turned),
        ],
        check=True,
    )
    out = extract_frames(turned, tmp_path / "capture", fps=1.0)
    assert read_image(list_images(out / "images")[0]).shape == (64, 48, 3)


def test_run_on_a_video_without_masks_explains_the_order(video, tmp_path, caplog):
    assert main(["frames", str(video), "--out", str(tmp_path / "capture"), "--fps", "4"]) == 0
    assert len(list_images(tmp_path / "capture" / "images")) == 8
    assert (
        main(["run", str(video), "--from", "frame_00001", "frame_00005", "--out", str(tmp_path / "o")]) == 1
    )
    assert f"inconddiff frames {video} --out PREVIEW" in caplog.text
    assert not (tmp_path / "o").exists()


def test_a_video_capture_takes_the_same_frames_and_the_annotated_masks(video, tmp_path):
    preview = extract_frames(video, tmp_path / "preview", fps=4.0)
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    for stem in ("frame_00002", "frame_00007"):
        mask = np.zeros((48, 64), np.uint8)
        mask[10:30, 20:40] = 255
        iio.imwrite(drawn / f"{stem}.png", mask)
    frames = video_capture(
        video, ["frame_00002", "frame_00007"], tmp_path / "o.work" / "frames", drawn, 4.0, None
    )
    taken = list_images(frames / "images")
    assert [p.name for p in taken] == [p.name for p in list_images(preview / "images")]
    for path in taken:  # the frames the user drew on
        assert np.array_equal(read_image(path), read_image(preview / "images" / path.name))
    assert sorted(p.name for p in (frames / "masks").iterdir()) == ["frame_00002.png", "frame_00007.png"]
    assert sorted(p.name for p in drawn.iterdir()) == ["frame_00002.png", "frame_00007.png"]  # untouched
    # a resumed run finds its frames; other settings are refused, not mixed in
    before = (frames / "images" / "frame_00001.png").stat().st_mtime_ns
    video_capture(video, ["frame_00002", "frame_00007"], frames, drawn, 4.0, None)
    assert (frames / "images" / "frame_00001.png").stat().st_mtime_ns == before
    with pytest.raises(CaptureError, match="other settings"):
        video_capture(video, ["frame_00002", "frame_00007"], frames, drawn, 2.0, None)
    with pytest.raises(CaptureError, match="no mask for frame frame_00003") as err:
        video_capture(video, ["frame_00002", "frame_00003"], tmp_path / "p", drawn, 4.0, None)
    assert err.value.path == drawn
    iio.imwrite(drawn / "frame_00004.png", np.zeros((40, 64), np.uint8))
    with pytest.raises(CaptureError, match="mask size 64x40 differs") as err:
        video_capture(video, ["frame_00002", "frame_00004"], tmp_path / "r", drawn, 4.0, None)
    assert err.value.path == drawn / "frame_00004.png"
    with pytest.raises(CaptureError, match="no frame named frame_00009"):
        (drawn / "frame_00009.png").write_bytes((drawn / "frame_00002.png").read_bytes())
        video_capture(video, ["frame_00002", "frame_00009"], tmp_path / "q", drawn, 4.0, None)


def test_masks_are_for_a_video_only(tmp_path):
    from inconddiff.removal.config import RemovalConfig

    (tmp_path / "cap" / "images").mkdir(parents=True)
    with pytest.raises(CaptureError, match="--masks is for a video"):
        run_capture(tmp_path / "cap", ["a"], tmp_path / "o", RemovalConfig(), masks_from=tmp_path)


def test_run_takes_a_video_end_to_end(small_capture, tmp_path):
    """A 16-frame video of an orbit through `inconddiff run`: frames taken, reconstructed, masks carried from two
    annotated frames to all, the object removed; the video and the drawn masks untouched."""
    import hashlib

    from inconddiff.capture import load_capture, read_mask

    truth = load_capture(small_capture)
    video = tmp_path / "orbit.mp4"
    iio.imwrite(
        video, np.stack([truth.image(s) for s in truth.stems]), plugin="FFMPEG", fps=4, macro_block_size=8
    )
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    for k in (1, 6):  # at the video's own rate, frame k is render k - 1
        iio.imwrite(drawn / f"frame_{k:05d}.png", truth.mask(truth.stems[k - 1]).astype(np.uint8) * 255)
    out = tmp_path / "out"
    argv = ["run", str(video), "--from", "frame_00001", "frame_00006", "--masks", str(drawn)]
    assert main([*argv, "--fps", "4", "--out", str(out), "--method", "warp"]) == 0
    work = tmp_path / "out.work"
    frames = list_images(work / "frames" / "images")
    assert len(frames) == len(list_images(out / "images")) == 16
    assert len(list((work / "masks").iterdir())) == 16  # every frame registered and masked
    for path in frames:
        hole = read_mask(work / "masks" / path.name)
        assert hole.any()
        before, after = read_image(path), read_image(out / "images" / path.name)
        assert np.array_equal(before[~hole], after[~hole])
    k = 3  # a frame nobody annotated: its propagated mask finds the object
    found = read_mask(work / "masks" / f"frame_{k:05d}.png")
    true = truth.mask(truth.stems[k - 1])
    assert (found & true).sum() / (found | true).sum() > 0.6
    assert hashlib.sha256(video.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in drawn.iterdir()) == ["frame_00001.png", "frame_00006.png"]
