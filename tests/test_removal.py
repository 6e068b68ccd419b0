"""The multi-view removal driver: outputs, untouched inputs, resume, and clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tree_hash

from inconddiff.capture import CaptureError, load_capture, read_image, write_image
from inconddiff.evaluation.metrics import psnr
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.driver import remove_object
from inconddiff.removal.fillers import WarpFiller
from inconddiff.removal.request import FillRequest


def test_outputs_keep_names_sizes_and_unmasked_pixels(capture, tmp_path):
    before = tree_hash(capture)
    out = remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp", refs=3))
    assert tree_hash(capture) == before, "the input capture was modified"
    cap = load_capture(capture)
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{s}.png" for s in cap.stems]
    gains = []
    for stem in cap.stems:
        original, result = cap.image(stem), read_image(out / "images" / f"{stem}.png")
        mask = cap.mask(stem)
        assert result.shape == original.shape
        assert np.array_equal(result[~mask], original[~mask]), f"{stem}: pixels outside the mask changed"
        truth = read_image(capture / "gt" / "images" / f"{stem}.png")
        gains.append(psnr(result, truth, mask) - psnr(original, truth, mask))
    assert np.mean(gains) > 3.0  # the object really is gone: much closer to the object-free truth
    for name in ("report.html", "log.json", "transforms.json"):
        assert (out / name).is_file()
    assert (out / "sparse" / "0" / "images.txt").is_file()
    assert len(list((out / "masks").iterdir())) == len(cap.stems)
    log = json.loads((out / "log.json").read_text())
    filled = [v for v in log["views"] if v["status"] == "filled"]
    assert len(filled) == len(cap.stems)
    assert all(1 <= len(v["references"]) <= 3 for v in filled)
    assert sorted(v["order"] for v in filled) == list(range(len(cap.stems)))
    for v in filled:  # every hole pixel is copied, carried or invented, and the shares say which
        parts = v["seen_fraction"] + v["carried_fraction"] + v["invented_fraction"]
        assert parts == pytest.approx(1.0, abs=1e-6)
    assert np.mean([v["seen_fraction"] for v in filled]) > 0.5
    assert not (tmp_path / "out.partial").exists()


def test_no_references_fills_each_view_alone(capture, tmp_path):
    out = remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp", refs=0))
    log = json.loads((out / "log.json").read_text())
    assert all(v["references"] == [] for v in log["views"])


class StopAfter:
    """A warp filler that fails on its n-th call, like a run killed half-way."""

    name = "warp"

    def __init__(self, n: int):
        self.n, self.calls = n, []

    def __call__(self, request: FillRequest) -> np.ndarray:
        self.calls.append(request)
        if len(self.calls) == self.n:
            raise KeyboardInterrupt("stopped")
        return WarpFiller()(request)


def test_interrupted_run_resumes_from_views_done(capture, tmp_path):
    config = RemovalConfig(method="warp")
    with pytest.raises(KeyboardInterrupt):
        remove_object(capture, tmp_path / "out", config=config, filler=StopAfter(4))
    partial = tmp_path / "out.partial"
    assert len(list((partial / "done").glob("view_*.json"))) == 3
    assert not (tmp_path / "out").exists()
    again = StopAfter(10**6)
    out = remove_object(capture, tmp_path / "out", config=config, filler=again)
    assert len(again.calls) == 8 - 3  # only the views not done yet
    reference = remove_object(capture, tmp_path / "ref", config=config)
    for p in sorted((reference / "images").iterdir()):
        assert np.array_equal(read_image(p), read_image(out / "images" / p.name)), p.name


def test_resume_with_other_settings_is_refused(capture, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp"), filler=StopAfter(2))
    with pytest.raises(CaptureError, match="other settings"):
        remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp", refs=1))


def test_existing_output_is_refused(capture, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(CaptureError, match="already exists"):
        remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp"))


def test_empty_masks_and_views_without_masks_are_kept(capture, tmp_path):
    write_image(capture / "masks" / "view_000.png", np.zeros((48, 64), dtype=np.uint8))
    (capture / "masks" / "view_001.png").unlink()
    out = remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp"))
    for stem in ("view_000", "view_001"):
        assert np.array_equal(
            read_image(out / "images" / f"{stem}.png"), read_image(capture / "images" / f"{stem}.png")
        )
    log = {v["name"]: v for v in json.loads((out / "log.json").read_text())["views"]}
    assert log["view_000"]["status"] == "kept" and log["view_002"]["status"] == "filled"


def test_bad_inputs_fail_with_the_file_named(capture, tmp_path):
    cfg = RemovalConfig(method="warp")
    with pytest.raises(CaptureError, match="mask folder not found"):
        remove_object(capture, tmp_path / "o1", masks_dir=tmp_path / "nomasks", config=cfg)

    full = capture / "masks" / "view_002.png"
    write_image(full, np.full((48, 64), 255, dtype=np.uint8))
    with pytest.raises(CaptureError, match="covers the whole image") as err:
        remove_object(capture, tmp_path / "o2", config=cfg)
    assert err.value.path == full
    write_image(full, np.zeros((48, 64), dtype=np.uint8))

    write_image(capture / "masks" / "ghost.png", np.zeros((48, 64), dtype=np.uint8))
    with pytest.raises(CaptureError, match="mask names no image"):
        remove_object(capture, tmp_path / "o3", config=cfg)
    (capture / "masks" / "ghost.png").unlink()

    write_image(capture / "masks" / "view_003.png", np.zeros((40, 64), dtype=np.uint8))
    with pytest.raises(CaptureError, match="differs from its image"):
        remove_object(capture, tmp_path / "o4", config=cfg)
    write_image(capture / "masks" / "view_003.png", np.zeros((48, 64), dtype=np.uint8))

    (capture / "images" / "view_004.png").write_bytes(b"garbage")
    with pytest.raises(CaptureError, match="unreadable image"):
        remove_object(capture, tmp_path / "o5", config=cfg)
    assert not any(p.name.startswith("o") for p in tmp_path.iterdir())  # nothing half-written


def test_fewer_than_two_views(tmp_path):
    write_image(tmp_path / "c" / "images" / "a.png", np.zeros((20, 20, 3), dtype=np.uint8))
    (tmp_path / "c" / "masks").mkdir()
    with pytest.raises(CaptureError, match="at least 2 views"):
        remove_object(tmp_path / "c", tmp_path / "out", config=RemovalConfig(method="warp"))


def test_missing_images_folder(tmp_path):
    (tmp_path / "c" / "masks").mkdir(parents=True)
    with pytest.raises(CaptureError, match="image folder not found"):
        remove_object(tmp_path / "c", tmp_path / "out", config=RemovalConfig(method="warp"))


def test_surface_depth_fits_a_plane_through_noisy_points_and_falls_back_otherwise():
    from inconddiff.prior.hole_depth import fit_inverse_depth_plane, interpolate_depth, surface_depth

    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 100, (200, 2))
    coef = np.array([0.001, -0.0005, 0.2])  # a tilted plane: 1/z affine in the pixel coordinates
    true = 1.0 / (np.concatenate([uv, np.ones((200, 1))], 1) @ coef)
    noisy = true * (1 + rng.normal(0, 0.003, 200))
    noisy[:30] *= 0.5  # 15% outliers (nearer points)
    fit, frac = fit_inverse_depth_plane(uv, noisy)
    assert frac > 0.8 and np.allclose(fit, coef, rtol=0.05, atol=2e-5)
    query = rng.uniform(10, 90, (50, 2))
    want = 1.0 / (np.concatenate([query, np.ones((50, 1))], 1) @ coef)
    assert np.abs(surface_depth(uv, noisy, query) / want - 1).max() < 0.01
    # two surfaces half and half: no plane explains them, the samples are interpolated
    two = np.where(uv[:, 0] < 50, true, true * 2)
    assert np.array_equal(surface_depth(uv, two, query), interpolate_depth(uv, two, query))


def test_later_views_copy_from_the_original_views_and_take_earlier_fills_only_as_invented(capture, tmp_path):
    from colmap_tools.pairs import read_pairs
    from inconddiff.removal.output import read_provenance

    out = remove_object(capture, tmp_path / "out", config=RemovalConfig(method="warp", carry=True))
    cap = load_capture(capture)
    for stem in cap.stems:  # every hole pixel's provenance is on disk, nothing outside the hole
        prov = read_provenance(out / "provenance" / f"{stem}.png")
        assert np.array_equal(prov > 0, cap.mask(stem))
    # the run's sources for the last view: the ranked views' own pixels, then earlier fills marked carried
    import inconddiff.removal.driver as driver
    from colmap_tools.sparse_model import load_scene_geometry
    from inconddiff.cameras import background_points

    masks = {s: cap.mask(s) for s in cap.stems}
    geometry = load_scene_geometry(out / "sparse" / "0")
    keep = background_points(geometry, masks)
    run = driver._Run(
        cap,
        masks,
        geometry,
        keep,
        read_pairs(out / "pairs.txt"),
        out,
        RemovalConfig(method="warp", carry=True),
        driver.hole_probes(geometry, masks, keep),
    )
    log = {v["name"]: v for v in json.loads((out / "log.json").read_text())["views"]}
    order = sorted(log, key=lambda s: log[s]["order"])
    sources = run.sources(order[-1], order[:-1])
    observed = [s for s, _ in sources if not s.carried]
    carried = [s for s, _ in sources if s.carried]
    assert observed and all(np.array_equal(s.image, cap.image(s.name)) for s in observed)
    assert all(np.array_equal(s.invalid, masks[s.name]) for s in observed)  # their holes are never copied
    for s in carried:  # an earlier fill offers only what it did not copy from an observation
        prov = read_provenance(out / "provenance" / f"{s.name}.png")
        assert np.array_equal(~s.invalid, (prov == 2) | (prov == 3))
    assert carried  # the capture's holes hide background that no view sees
    run.config = RemovalConfig(method="warp")  # the default: each view invents its own
    assert not any(s.carried for s, _ in run.sources(order[-1], order[:-1]))


def test_two_runs_on_the_same_capture_give_identical_images(small_capture, tmp_path):
    """COLMAP included: the reconstruction is seeded and run where its order of work is fixed."""
    config = RemovalConfig(method="warp")
    a = remove_object(small_capture, tmp_path / "a", config=config)
    b = remove_object(small_capture, tmp_path / "b", config=config)
    models = sorted(p.relative_to(a) for p in (a / "sparse").rglob("*.bin"))
    model_differs = [str(p) for p in models if (a / p).read_bytes() != (b / p).read_bytes()]
    images_differ = {}
    for p in sorted((a / "images").iterdir()):
        x, y = read_image(p).astype(int), read_image(b / "images" / p.name).astype(int)
        if not np.array_equal(x, y):
            images_differ[p.name] = (int((x != y).any(-1).sum()), int(np.abs(x - y).max()))
    # which stage differs, and by how much (pixels, largest difference), says where to look
    assert not images_differ, (
        f"images differ (pixels, max): {images_differ}; COLMAP model files differ: {model_differs}"
    )
    assert models and not model_differs
    assert not (small_capture / "sparse").exists()
