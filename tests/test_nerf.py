"""The `inconddiff-fit` nerfstudio method and the 3D-consistency evaluation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inconddiff.capture import read_image, read_mask
from nerf_integration.evaluate import region_scores, summarise


def test_entry_point_registered():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="nerfstudio.method_configs")}
    assert names.get("inconddiff-fit") == "nerf_integration.config:inconddiff_fit"
    from nerfstudio.plugins.registry import discover_methods

    methods, descriptions = discover_methods()
    assert "inconddiff-fit" in methods
    assert methods["inconddiff-fit"].method_name == "inconddiff-fit"


def test_region_scores_known_answers():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (48, 64, 3)).astype(np.uint8)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:40] = True
    same = region_scores(a, a.copy(), hole, None)
    assert same["in_psnr"] == 100.0 and same["out_psnr"] == 100.0  # identical -> inf, reported as 100 dB
    assert same["gap_psnr"] == 0.0
    assert same["in_ssim"] == pytest.approx(1.0) and same["out_ssim"] == pytest.approx(1.0)
    # a constant offset of 51/255 = 0.2 inside the hole only: MSE 0.04 -> PSNR 10 log10(1/0.04) = 13.98 dB
    b = a.copy()
    b[hole] += 51
    s = region_scores(b, a, hole, None)
    assert s["in_psnr"] == pytest.approx(10 * np.log10(1 / 0.04), abs=1e-6)
    assert s["out_psnr"] == 100.0
    assert s["gap_psnr"] == pytest.approx(10 * np.log10(1 / 0.04) - 100.0, abs=1e-6)
    # no hole: only the whole-image scores
    s = region_scores(b, a, None, None)
    assert "in_psnr" not in s and s["out_psnr"] == pytest.approx(
        10 * np.log10(1 / (0.04 * hole.mean())), abs=1e-6
    )
    views = [
        {"split": "train", "render_vs_edit": {"in_psnr": 20.0}},
        {"split": "train", "render_vs_edit": {"in_psnr": 30.0}},
        {"split": "heldout", "render_vs_edit": {"in_psnr": None}},
    ]
    summary = summarise(views)
    assert summary["train"]["render_vs_edit"]["in_psnr"] == 25.0
    assert summary["heldout"]["render_vs_edit"]["in_psnr"] is None


def test_lpips_region_scores_identical_is_zero():
    from inconddiff.evaluation.metrics import LPIPS

    a = np.random.default_rng(1).integers(0, 255, (48, 64, 3)).astype(np.uint8)
    hole = np.zeros((48, 64), bool)
    hole[5:20, 5:20] = True
    s = region_scores(a, a.copy(), hole, LPIPS(device="cpu"))
    assert s["in_lpips"] == pytest.approx(0.0, abs=1e-6) and s["out_lpips"] == pytest.approx(0.0, abs=1e-6)


def _small_schedule(config, steps: int = 4):
    """Shrink the method so a few steps go through warm-up, occupancy skipping and one grid upsample."""
    m = config.pipeline.model
    m.resolutions, m.color_resolutions, m.upsample_steps = (12, 16), (12, 20), (2,)
    m.occupancy_start, m.occupancy_every, m.occupancy_resolution = 1, 1, 16
    m.num_samples, m.num_far_samples = 32, 8
    config.pipeline.datamanager.train_num_rays_per_batch = 256
    config.machine.device_type = "cpu"
    return config


def test_occupancy_keeps_thin_far_content_in_the_contracted_rim():
    """A density too low to matter in a small inner cell is opaque over a rim cell that spans a great distance:
    occupancy judges optical thickness, so the rim keeps it and the inner box drops it."""
    import torch

    from nerf_integration.field import TensorVMField

    r = 16
    f = TensorVMField(resolution=8, occupancy_resolution=r, scene_radius=1.0, inner_fraction=0.5)
    # the cell size ratio is the contraction's own stretch: world distance per grid unit, against the inner box's
    p = torch.tensor([[3.0, 0.2, -0.1]])
    step = torch.tensor([[1e-3, 0.0, 0.0]])
    stretch = 1e-3 / float(f.normalise(p + step)[0, 0] - f.normalise(p)[0, 0])
    inner = 1.0 / f.inner_fraction  # world units per grid unit inside the box
    assert float(f.cell_size_ratio(f.normalise(p))[0]) == pytest.approx(stretch / inner, rel=1e-2)
    assert float(f.cell_size_ratio(torch.tensor([[0.3, -0.2, 0.1]]))[0]) == 1.0

    thin = torch.full((r, r, r), 0.05)
    thin[7:9, 7:9, 7:9] = 5.0  # an object at the centre
    threshold = float(thin.mean())  # below 0.5, so the mean is the threshold
    f.density_volume = lambda res: thin.clone()
    f.update_occupancy(0.5)
    ratio = f.cell_size_ratio(f.cell_centres())
    far = ratio > threshold / 0.05 * 1.01
    near_object = torch.zeros_like(f.occupancy)
    near_object[6:10, 6:10, 6:10] = True
    assert f.occupancy[near_object].all()
    assert not f.occupancy[(ratio == 1) & ~near_object].any()  # thin and small: empty
    assert far.any() and f.occupancy[far].all()  # thin but metres deep: kept


def test_field_occupancy_volume_matches_pointwise_density():
    import torch

    from nerf_integration.field import TensorVMField

    f = TensorVMField(resolution=20, color_resolution=24, occupancy_resolution=8)
    r = 8
    lin = torch.linspace(-1 + 1 / r, 1 - 1 / r, r)
    idx = torch.randint(0, r, (64, 3), generator=torch.Generator().manual_seed(0))  # z, y, x
    xyz = torch.stack([lin[idx[:, 2]], lin[idx[:, 1]], lin[idx[:, 0]]], -1)
    with torch.no_grad():
        vol = f.density_volume(r)
        assert torch.allclose(vol[idx[:, 0], idx[:, 1], idx[:, 2]], f.density(xyz), rtol=1e-5, atol=1e-6)
        before = f.density(xyz)
        f.upsample(39, 47)  # exact 2x refinement of an align_corners grid keeps the field at old nodes
        assert f.resolution == 39 and f.color_planes.shape[-1] == 47
        assert torch.allclose(f.density(xyz), before, rtol=1e-4, atol=1e-5)
    # contraction: the inner box is linear, far points stay inside the grid cube
    p = torch.tensor([[0.75, 0.0, 0.0], [1e6, -1e6, 3.0]])
    g = f.normalise(p)
    assert torch.allclose(g[0], torch.tensor([0.4, 0.0, 0.0])) and g.abs().max() <= 1.0


def test_fit_through_entry_point_and_render(tiny_capture, tmp_path):
    """A few iterations of the registered method (nerfstudio's Trainer, in-process, on CPU) on a tiny capture."""
    import copy

    from nerfstudio.plugins.registry import discover_methods

    from nerf_integration.fit import fit, prepare_fit_data
    from nerf_integration.render import render_views

    data, train, held = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=2)
    assert len(held) == 2 and len(train) == 6 and not set(held) & set(train)
    config = _small_schedule(copy.deepcopy(discover_methods()[0]["inconddiff-fit"]))
    result = fit(data, tmp_path / "run", max_steps=4, method_config=config)
    assert result.steps == 4
    assert result.pipeline.model.field.resolution == 16  # upsampled at step 2
    assert result.config_path.is_file()
    assert list((result.config_path.parent / "nerfstudio_models").glob("step-*.ckpt"))
    renders = render_views(result.pipeline)
    assert sorted(renders) == sorted(train + held)
    rgb, depth = renders[held[0]]
    assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64)
    assert np.isfinite(rgb).all() and 0 <= rgb.min() and rgb.max() <= 1 and (depth > 0).all()
    # the checkpoint loads back through nerfstudio (grown grids included) and renders the same image
    from nerfstudio.utils.eval_utils import eval_setup

    _, loaded, _, _ = eval_setup(result.config_path, test_mode="inference")
    ds = result.pipeline.datamanager.eval_dataset
    from nerf_integration.render import render_camera

    rgb2, _ = render_camera(loaded, ds.cameras, 0)
    assert np.allclose(rgb2, renders[held[0]][0], atol=1e-5)


def test_evaluate_capture_known_answer(tiny_capture, tmp_path, monkeypatch):
    """With a field that reproduces the ground truth exactly, the report's numbers are known: renders equal the
    truth (100 dB everywhere) and render-vs-edit equals edit-vs-truth, which is computed here independently."""
    import nerf_integration.fit as fit_mod
    import nerf_integration.render as render_mod
    from inconddiff.capture import load_capture
    from inconddiff.evaluation.metrics import psnr
    from nerf_integration.evaluate import evaluate_capture

    edited = tmp_path / "edited"
    shutil.copytree(tiny_capture, edited)
    cap = load_capture(edited)
    stems = cap.stems
    truth = {s: read_image(edited / "gt" / "images" / f"{s}.png") for s in stems}

    class _Result:
        pipeline, config_path, steps, seconds, carved_cells = None, None, 0, 0.0, None

    monkeypatch.setattr(fit_mod, "fit", lambda *a, **k: _Result())
    monkeypatch.setattr(fit_mod, "relocate_run", lambda *a: None)  # no run was written
    monkeypatch.setattr(
        render_mod,
        "render_views",
        lambda pipeline, wanted=None: {
            s: (truth[s] / 255.0, np.ones(truth[s].shape[:2])) for s in (wanted or stems)
        },
    )
    report = evaluate_capture(
        edited, tmp_path / "out", gt_images=edited / "gt" / "images", holdout=2, use_lpips=False
    )
    for v in report["views"]:
        hole = cap.mask(v["name"])
        assert v["render_vs_gt"]["out_psnr"] == 100.0
        if hole is not None and hole.any():
            expected = psnr(cap.image(v["name"]), truth[v["name"]], hole)
            assert v["render_vs_edit"]["in_psnr"] == pytest.approx(expected, abs=1e-6)
            assert v["edit_vs_gt"]["in_psnr"] == pytest.approx(expected, abs=1e-6)
            assert v["render_vs_gt"]["in_psnr"] == 100.0
    # every other masked training view has its hole left out of the fit: mask 0 exactly in the hole
    hole_held = [v["name"] for v in report["views"] if v["split"] == "hole_heldout"]
    assert hole_held and report["summary"]["hole_heldout"]["views"] == len(hole_held)
    for v in report["views"]:
        written = read_mask(tmp_path / "out" / "nerf" / "data" / "loss_masks" / f"{v['name']}.png")
        hole = cap.mask(v["name"])
        expected = ~hole if v["name"] in hole_held else np.ones_like(written)
        assert (written == expected).all()
    held = report["summary"]["heldout"]
    assert held["views"] == 2 and report["heldout"] == [
        v["name"] for v in report["views"] if v["split"] == "heldout"
    ]
    # a larger capture than the bound: every view is fitted, a few spread over it are rendered and scored (the
    # held-out views among them), and only those have their holes left out
    small = evaluate_capture(
        edited, tmp_path / "out5", gt_images=edited / "gt" / "images", holdout=2, use_lpips=False, max_views=5
    )
    scored = [v["name"] for v in small["views"]]
    assert len(scored) == small["scored_views"] == 5 and small["capture_views"] == len(stems) == 8
    assert set(small["heldout"]) == set(report["heldout"]) <= set(scored)
    assert scored[0] == stems[0] and scored[-1] != stems[-1]  # spread, not the first five
    for stem in stems:
        written = read_mask(tmp_path / "out5" / "nerf" / "data" / "loss_masks" / f"{stem}.png")
        left_out = any(v["name"] == stem and v["split"] == "hole_heldout" for v in small["views"])
        assert (written == (~cap.mask(stem) if left_out else np.ones_like(written))).all()
    assert any(v["split"] == "hole_heldout" for v in small["views"])


def test_evaluate_capture_writes_report(tiny_capture, tmp_path):
    from nerf_integration.evaluate import evaluate_capture

    edited = tmp_path / "edited"
    shutil.copytree(tiny_capture, edited)
    report = evaluate_capture(
        edited,
        tmp_path / "out",
        gt_images=edited / "gt" / "images",
        holdout=2,
        max_steps=3,
        use_lpips=False,
        working_size=32,
        device="cpu",  # what `evaluate --device` passes; "cuda" the same on a GPU
    )
    assert report["fit_steps"] == 3 and report["working_size"] == 32
    assert report["carved_cells"] is None  # a 3-step fit ends before the field's depth can judge the volume
    out = tmp_path / "out"
    saved = json.loads((out / "consistency.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(report["summary"]))
    assert len(saved["views"]) == 8 and sum(v["split"] == "heldout" for v in saved["views"]) == 2
    v = saved["views"][0]
    assert {"render_vs_edit", "render_vs_gt", "edit_vs_gt"} <= set(v)
    # the capture's images are the originals (object present) so edit vs truth differs only in the holes
    assert v["edit_vs_gt"]["out_psnr"] > 40
    assert (out / "consistency.html").read_text().count("<tr>") >= 8
    assert read_image(out / "renders" / f"{v['name']}.png").shape == (24, 32, 3)  # at the working size
    # the run was written to a temporary folder and moved: nerfstudio's loader (ns-viewer, ns-render) finds it
    from nerfstudio.utils.eval_utils import eval_setup

    config_path = out / "nerf" / "fit" / "inconddiff-fit" / "run" / "config.yml"
    config, pipeline, _, _ = eval_setup(config_path, test_mode="inference")
    assert Path(config.pipeline.datamanager.data).is_relative_to(out.resolve())
    assert int(pipeline.datamanager.eval_dataset.cameras.width[0]) == 32
    assert config.machine.device_type == "cpu"


def test_each_view_is_fitted_and_rendered_in_its_own_colours(tiny_capture, tmp_path):
    """Every training view has a colour transform: the loss reaches only the transforms of the views its rays
    come from, renders of a training view go through its own, and other renders through the mean of them all."""
    import copy

    import torch
    from nerfstudio.plugins.registry import discover_methods

    from nerf_integration.fit import _fast_batches, fit, prepare_fit_data
    from nerf_integration.render import dataset_stems, render_camera, render_views

    data, train, held = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=2)
    config = _small_schedule(copy.deepcopy(discover_methods()[0]["inconddiff-fit"]))
    pipeline = fit(data, tmp_path / "run", max_steps=4, method_config=config).pipeline
    model = pipeline.model
    assert model.appearance.shape == (len(train), 3, 4)
    # the loss of rays from view 2 alone moves view 2's transform and no other
    table = _fast_batches(pipeline, 64, seed=0)
    origins, directions, colours, views = table.draw()
    assert set(views.tolist()) <= set(range(len(train)))
    model.train()
    model.appearance.grad = None
    near = origins.new_full((64, 1), model.config.near_plane)
    far = origins.new_full((64, 1), model.config.far_plane)
    out = model.render_rays(origins, directions, near, far, torch.full((64,), 2))
    model.get_loss_dict(out, {"image": colours * 0.5})["rgb_loss"].backward()
    moved = model.appearance.grad.abs().sum((1, 2))
    assert moved[2] > 0 and (moved[[j for j in range(len(train)) if j != 2]] == 0).all()
    model.eval()
    # renders: a training view in its own colours, a held-out view in the mean colours
    stem = dataset_stems(pipeline.datamanager.train_dataset)[2]
    with torch.no_grad():
        model.appearance.zero_()
    plain = render_views(pipeline, [stem, held[0]])  # every transform the identity
    gain = np.array([0.5, 0.7, 1.0])  # view 2 darker and bluer
    with torch.no_grad():
        model.appearance[2, :, :3] = torch.diag(torch.as_tensor(gain - 1, dtype=torch.float32))
    own = render_views(pipeline, [stem, held[0]])
    assert model.render_view is None  # render_views leaves no view's colours behind
    assert np.allclose(own[stem][0], plain[stem][0] * gain, atol=1e-5)
    mean = 1 + (gain - 1) / len(train)
    assert np.allclose(own[held[0]][0], np.clip(plain[held[0]][0] * mean, 0, 1), atol=1e-5)
    # outside render_views (nerfstudio's own evaluation) a training camera, too, gets the mean colours
    cameras = pipeline.datamanager.train_dataset.cameras
    assert np.allclose(render_camera(pipeline, cameras, 2)[0], plain[stem][0] * mean, atol=1e-5)


def test_the_same_seed_and_steps_fit_the_same_field(tiny_capture, tmp_path):
    """The refit is a function of its inputs: a step count and a seed, not the machine's load, fix the field
    (and so every score rendered from it)."""
    import torch

    from nerf_integration.config import fit_trainer_config
    from nerf_integration.fit import fit, prepare_fit_data

    data, _, _ = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=2)

    def weights(seed: int, run: str) -> dict:
        result = fit(data, tmp_path / run, max_steps=30, method_config=fit_trainer_config(30, 256), seed=seed)
        return {k: v.detach().clone() for k, v in result.pipeline.model.state_dict().items()}

    first, second, other = weights(3, "a"), weights(3, "b"), weights(4, "c")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)  # the seed reaches the fit


def test_ns_train_cli(tiny_capture, tmp_path):
    from nerf_integration.fit import prepare_fit_data

    data, _, _ = prepare_fit_data(tiny_capture, tmp_path / "data", holdout=1)
    ns_train = Path(sys.executable).parent / "ns-train"
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    help_out = subprocess.run([ns_train, "inconddiff-fit", "--help"], capture_output=True, text=True, env=env)
    assert help_out.returncode == 0 and "tv-weight" in help_out.stdout
    run = subprocess.run(
        [
            ns_train,
            "inconddiff-fit",
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "runs"),
            "--max-num-iterations",
            "4",
            "--pipeline.model.resolutions",
            "12",
            "16",
            "--pipeline.model.color-resolutions",
            "12",
            "16",
            "--pipeline.model.upsample-steps",
            "2",
            "--pipeline.model.occupancy-start",
            "1",
            "--pipeline.model.occupancy-every",
            "1",
            "--machine.device-type",
            "cpu",
            "--vis",
            "tensorboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert list((tmp_path / "runs").rglob("step-*.ckpt"))


def edited_capture(tmp_path: Path, size=(80, 60), views: int = 12) -> tuple[Path, Path]:
    """A synthetic capture with its object removed perfectly (its truth as the edit), masks kept, cameras in
    transforms.json: what `inconddiff remove` writes. Returns (capture, the generator's folder)."""
    import json

    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    synth = generate_capture(
        tmp_path / "synth", SynthConfig(views=views, width=size[0], height=size[1], seed=4)
    )
    capture = tmp_path / "capture"
    shutil.copytree(synth / "gt" / "images", capture / "images")
    shutil.copytree(synth / "masks", capture / "masks")
    meta = json.loads((synth / "gt" / "transforms.json").read_text())
    for f in meta["frames"]:
        f["file_path"] = "images/" + Path(f["file_path"]).name
    (capture / "transforms.json").write_text(json.dumps(meta))
    return capture, synth


def test_ns_train_runs_the_carving_callback_on_the_data_folders_masks(tmp_path):
    """`ns-train inconddiff-fit --data CAPTURE`: nerfstudio's own training loop runs the model's callbacks, which
    find CAPTURE/masks and carve (here a few steps only: that the pass runs, not what it finds)."""
    import copy

    from nerfstudio.plugins.registry import discover_methods

    capture, _ = edited_capture(tmp_path, size=(48, 36), views=6)
    config = _small_schedule(copy.deepcopy(discover_methods()[0]["inconddiff-fit"]))
    config.pipeline.datamanager.data = capture
    config.pipeline.datamanager.dataparser.data = capture
    config.pipeline.model.carve_after, config.pipeline.model.carve_every = 2, 0.25
    config.max_num_iterations = 4
    config.output_dir, config.experiment_name, config.timestamp = tmp_path / "runs", "carve", "run"
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    assert trainer.pipeline.model.carved_cells is None
    trainer.train()  # what `ns-train` runs
    assert isinstance(trainer.pipeline.model.carved_cells, int)


@pytest.mark.slow
def test_the_fit_carves_the_removed_object_and_keeps_the_floor(tmp_path):
    """The same callback in a fit long enough for the field's depth to judge the volume."""
    import json

    from nerf_integration.config import fit_trainer_config
    from nerf_integration.fit import fit, prepare_fit_data

    capture, synth = edited_capture(tmp_path)
    data, _, _ = prepare_fit_data(capture, tmp_path / "data")
    result = fit(
        data,
        tmp_path / "run",
        max_steps=300,
        method_config=fit_trainer_config(300, 1024),
        carve_masks=capture / "masks",
    )
    model = result.pipeline.model
    assert result.carved_cells is not None and result.carved_cells > 50
    # back in the generator's world: the carved cells stand where the object stood (at the room's centre, on
    # the floor at z = 0), above the floor, not in it
    field = model.field
    cells = field.denormalise(field.cell_centres()[field.carved]).numpy()
    outputs = result.pipeline.datamanager.train_dataparser_outputs
    transform = outputs.dataparser_transform.numpy()
    world = (cells / outputs.dataparser_scale - transform[:, 3]) @ transform[:, :3]  # inverse of R x + t
    obj = json.loads((synth / "gt" / "scene.json").read_text())["objects"][-1]
    centre = np.array(obj["position"][:2])
    assert np.median(np.linalg.norm(world[:, :2] - centre, axis=1)) < 2 * obj["size"]
    assert np.mean(world[:, 2] > 0.02) > 0.9


def test_scene_box_follows_the_sparse_points_and_the_ply_reaches_nerfstudio(tmp_path):
    import cv2
    import torch
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from inconddiff.transforms_json import POINTS_FILE, write_points_ply
    from nerf_integration.model import (
        INNER_FRACTION_RANGE,
        SCENE_RADIUS_RANGE,
        auto_inner_fraction,
        auto_scene_radius,
    )

    rng = np.random.default_rng(0)
    near = rng.uniform(-2.0, 2.0, (900, 3))  # 85% of the points within 2 units...
    far = rng.uniform(3.0, 40.0, (100, 3))  # ...a few far away
    radius = auto_scene_radius(torch.as_tensor(np.concatenate([near, far])))
    assert 1.8 < radius < 4.0
    assert auto_scene_radius(torch.zeros(3, 3)) == 1.5  # too few points: the orbit default
    assert auto_scene_radius(torch.full((50, 3), 100.0)) == SCENE_RADIUS_RANGE[1]
    # the grid's share for the box follows the points inside it: a room keeps most of the grid, a capture whose
    # surroundings lie far beyond the capped box gives them more
    room = torch.as_tensor(np.concatenate([near, far]))
    assert auto_inner_fraction(room, radius) == INNER_FRACTION_RANGE[1]
    outdoor = torch.as_tensor(np.concatenate([near[:100], far, far + 10.0, far * 2]))
    radius = auto_scene_radius(outdoor)
    assert radius == SCENE_RADIUS_RANGE[1]
    assert auto_inner_fraction(outdoor, radius) == INNER_FRACTION_RANGE[0]
    assert auto_inner_fraction(None, 1.5) == INNER_FRACTION_RANGE[1]
    # the PLY written beside transforms.json is what nerfstudio's dataparser hands the model
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    frames = []
    for i, x in enumerate((-1.0, 0.0, 1.0)):
        cv2.imwrite(str(folder / "images" / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
        pose = np.eye(4)
        pose[0, 3] = x
        frames.append({"file_path": f"images/{i}.png", "transform_matrix": pose.tolist()})
    points = rng.uniform(-1, 1, (40, 3))
    write_points_ply(folder / POINTS_FILE, points)
    meta = {
        "fl_x": 8,
        "fl_y": 8,
        "cx": 4,
        "cy": 4,
        "w": 8,
        "h": 8,
        "frames": frames,
        "ply_file_path": POINTS_FILE,
    }
    (folder / "transforms.json").write_text(json.dumps(meta))
    outputs = (
        NerfstudioDataParserConfig(data=folder, load_3D_points=True).setup().get_dataparser_outputs("train")
    )
    assert outputs.metadata["points3D_xyz"].shape == (40, 3)


def test_a_working_size_shrinks_the_views_and_keeps_their_rays(tiny_capture, tmp_path):
    """Views fitted at a working size are area-shrunk copies whose cameras (as nerfstudio reads them) cast the
    same rays through the same spots of the scene as the full-size ones."""
    import torch
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from inconddiff.capture import load_capture
    from inconddiff.prior.crops import resize_mask
    from nerf_integration.fit import prepare_fit_data

    stem = load_capture(tiny_capture).stems[0]
    hole = np.zeros((48, 64), bool)
    hole[10:13, 20:23] = True
    full, _, _ = prepare_fit_data(tiny_capture, tmp_path / "full", holdout=0)
    small, _, _ = prepare_fit_data(
        tiny_capture, tmp_path / "small", holdout=0, exclude={stem: hole}, working_size=32
    )
    assert read_image(small / "images" / f"{stem}.png").shape == (24, 32, 3)
    assert read_image(tiny_capture / "images" / f"{stem}.png").shape == (48, 64, 3)  # input untouched
    kept = read_mask(small / "loss_masks" / f"{stem}.png")
    assert (kept == ~resize_mask(hole, (24, 32))).all() and not kept[
        5, 10
    ]  # any part of a hole leaves the loss

    def cameras(data):
        out = NerfstudioDataParserConfig(data=data, auto_scale_poses=False, center_method="none").setup()
        return out.get_dataparser_outputs("train").cameras

    big, little = cameras(full), cameras(small)
    assert int(little.width[0]) == 32 and int(little.height[0]) == 24
    ys, xs = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing="ij")
    coords = torch.stack([ys, xs], -1).view(-1, 2) + 0.5
    a = little.generate_rays(camera_indices=torch.zeros(len(coords), 1, dtype=torch.long), coords=coords)
    b = big.generate_rays(camera_indices=torch.zeros(len(coords), 1, dtype=torch.long), coords=coords * 2)
    assert torch.allclose(a.directions, b.directions, atol=1e-5) and torch.allclose(a.origins, b.origins)


def test_rendering_marches_rays_and_matches_evaluating_every_sample():
    """Rendering (no gradients) stops evaluating a ray once it is opaque; what it skips changes no pixel."""
    import torch
    from nerfstudio.data.scene_box import SceneBox

    from nerf_integration.model import InconddiffFitModel, InconddiffFitModelConfig

    config = InconddiffFitModelConfig(resolutions=(24,), color_resolutions=(24,), upsample_steps=())
    model = InconddiffFitModel(
        config, scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=1
    )
    model.eval()
    with torch.no_grad():  # a dense slab the rays cross: most of their samples lie behind it
        model.field.density_planes.zero_()
        model.field.density_planes[0, 0] += 2.0
        model.field.density_lines.zero_()
        model.field.density_lines[0, 0, 6:18] += 5.0
    model.field.update_occupancy(config.occupancy_threshold)
    model.occupancy_active = True
    g = torch.Generator().manual_seed(0)
    origins = torch.zeros(512, 3) + torch.tensor([0.0, 0.0, -1.4])
    directions = torch.nn.functional.normalize(
        torch.randn(512, 3, generator=g) * 0.2 + torch.tensor([0, 0, 1.0]), dim=-1
    )
    near, far = torch.full((512, 1), 0.05), torch.full((512, 1), 100.0)
    evaluated = []
    march = InconddiffFitModel._march

    def counting(self, xyz, deltas):
        sigma, keep = march(self, xyz, deltas)
        evaluated.append((keep.numel(), int(self.field.occupied(xyz).sum())))
        return sigma, keep

    model._march = counting.__get__(model)
    with torch.no_grad():
        marched = model.render_rays(origins, directions, near, far)
    with torch.enable_grad():  # the training path evaluates every occupied sample in front of the surface
        full = model.render_rays(origins, directions, near, far)
    done, occupied = evaluated[0]
    assert done < occupied / 2
    assert (marched["accumulation"] > 0.99).float().mean() > 0.9
    assert torch.allclose(marched["rgb"], full["rgb"].detach(), atol=2e-3)
    assert torch.allclose(marched["depth"], full["depth"].detach(), rtol=1e-3)
    model.depth_only = True  # carving's renders: the same depth without colour
    with torch.no_grad():
        assert torch.equal(model.render_rays(origins, directions, near, far)["depth"], marched["depth"])


def test_relocating_a_run_moves_its_paths_given_absolute_or_relative(tmp_path, monkeypatch):
    import yaml

    from nerf_integration.config import fit_trainer_config
    from nerf_integration.fit import relocate_run

    monkeypatch.chdir(tmp_path)
    config = fit_trainer_config()
    config.output_dir = Path(".run.partial/nerf")  # relative to the working directory
    config.pipeline.datamanager.data = (tmp_path / ".run.partial" / "nerf" / "data").resolve()
    config.pipeline.model.carve_masks = Path("elsewhere/masks")
    path = tmp_path / "config.yml"
    path.write_text(yaml.dump(config))
    relocate_run(path, ".run.partial", tmp_path / "run")
    moved = yaml.load(path.read_text(), Loader=yaml.Loader)
    assert moved.output_dir == (tmp_path / "run" / "nerf").resolve()
    assert moved.pipeline.datamanager.data == (tmp_path / "run" / "nerf" / "data").resolve()
    assert moved.pipeline.model.carve_masks == Path("elsewhere/masks")  # outside the moved folder: kept
    assert moved.max_num_iterations == config.max_num_iterations


def test_scored_and_rendered_views_keep_every_left_out_view():
    """Held-out views are always scored; of the scored views, every one left out of the fit (whole or its hole) is
    rendered, and only a few of those whose holes were fitted."""
    from nerf_integration.evaluate import rendered_stems, scored_stems

    stems = [f"v{i:02d}" for i in range(40)]
    scored = scored_stems(stems, ["v03", "v31"], limit=20)
    assert len(scored) == 20 and {"v03", "v31"} <= set(scored)
    left_out = {"v03", "v31"} | set(scored[1::2])
    rendered = rendered_stems(scored, left_out, limit=4)
    assert left_out & set(scored) <= set(rendered)
    assert len(set(rendered) - left_out) == 4 and set(rendered) <= set(scored)
    assert rendered_stems(scored[:3], set(), limit=4) == scored[:3]


def test_fit_steps_give_large_captures_as_many_rays_per_view():
    from nerf_integration.config import MAX_FIT_STEPS, MAX_STEPS, STEPS_PER_VIEW, fit_steps

    assert fit_steps(8) == fit_steps(28) == MAX_STEPS
    assert fit_steps(45) == 45 * STEPS_PER_VIEW > MAX_STEPS
    assert fit_steps(500) == MAX_FIT_STEPS
