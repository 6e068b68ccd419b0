"""Warps on plain arrays: the projection of lifted pixels into a reference, and the fold and smear tests."""

import warnings

import cv2
import numpy as np

from inconddiff.cameras import Camera, crop_pixel_grid
from inconddiff.prior.warp import distorted, folded, invalid_at, looked_up_box, sample_image

K = np.array([[80.0, 0, 48], [0, 80.0, 40], [0, 0, 1]])


def camera_at(x: float) -> Camera:
    """A camera looking down +z from (x, 0, 0)."""
    return Camera(K, np.eye(3), -np.array([x, 0.0, 0.0]), 96, 80)


def render_wall(cam: Camera, wall_z: float, texture: np.ndarray) -> np.ndarray:
    """The camera's view of a textured wall at world z = wall_z (texture in world units, 20 px per unit)."""
    grid = crop_pixel_grid((0, cam.height, 0, cam.width), (cam.height, cam.width)).reshape(-1, 2)
    X = cam.unproject(grid, np.full(len(grid), wall_z - cam.centre[2]))
    mapx = (X[:, 0] * 20 + texture.shape[1] / 2).reshape(cam.height, cam.width).astype(np.float32)
    mapy = (X[:, 1] * 20 + texture.shape[0] / 2).reshape(cam.height, cam.width).astype(np.float32)
    return cv2.remap(texture, mapx, mapy, cv2.INTER_LINEAR)


def test_a_mapping_that_turns_the_image_over_is_folded():
    ys, xs = np.mgrid[0:20, 0:40].astype(np.float32)
    mapy = ys.copy()
    assert not folded(xs * 1.5 + 3, mapy).any()  # a stretch is not a fold
    mirrored = np.where(xs < 20, xs, 40 - xs)
    fold = folded(mirrored, mapy)
    assert fold[:, 22:].all() and not fold[:, :18].any()


def test_a_mapping_that_smears_a_band_is_distorted_but_a_smooth_one_is_not(monkeypatch):
    import inconddiff.prior.warp as dw

    monkeypatch.setattr(dw, "MAX_ANISOTROPY", 3.0)
    ys, xs = np.mgrid[0:20, 0:60].astype(np.float32)
    valid = np.ones(xs.shape, bool)
    # a uniform stretch and a gentle change of scale across the crop are what real surfaces do
    assert not distorted(xs * 2.5 + 3, ys, valid).any()
    assert not distorted(xs + 0.01 * xs**2, ys, valid).any()
    # columns 20-29 each take a tenth of a reference pixel (a few pixels smeared over many), then a jump
    smear = np.where(xs < 20, xs, np.where(xs < 30, 20 + 0.1 * (xs - 20), xs - 9))
    bad = distorted(smear, ys, valid)
    assert bad[:, 21:29].all() and not bad[:, :19].any() and not bad[:, 31:].any()
    monkeypatch.setattr(dw, "MAX_ANISOTROPY", 0.0)  # the fold test alone
    assert not distorted(smear, ys, valid)[:, 21:29].any()
    assert distorted(np.where(xs < 30, xs, 60 - xs), ys, valid)[:, 32:].all()


def test_lookup_agrees_with_lifting_each_pixel_and_projecting_it():
    from scipy.spatial.transform import Rotation

    from inconddiff.prior.warp import lookup

    target = Camera(
        K, Rotation.from_euler("xyz", [0.1, -0.2, 0.05]).as_matrix(), np.array([0.3, -0.1, 0.2]), 96, 80
    )
    k_ref = K.copy()
    k_ref[:2] *= 1.1
    ref = Camera(
        k_ref, Rotation.from_euler("xyz", [-0.05, 0.15, 0.1]).as_matrix(), np.array([-0.2, 0.1, 0.4]), 96, 80
    )
    grid = crop_pixel_grid((10, 60, 5, 90), (25, 40))
    depth = np.random.default_rng(0).uniform(0.5, 40.0, (25, 40))
    depth[0, :5] = np.nan
    uv, z = ref.project(target.unproject(grid.reshape(-1, 2), np.nan_to_num(depth, nan=1.0).reshape(-1)))
    mapx, mapy, zr, valid = lookup(target, depth, grid, ref)
    np.testing.assert_allclose(mapx, (uv[:, 0] - 0.5).reshape(25, 40), atol=1e-3)
    np.testing.assert_allclose(mapy, (uv[:, 1] - 0.5).reshape(25, 40), atol=1e-3)
    np.testing.assert_allclose(zr, z.reshape(25, 40), rtol=1e-9)
    inside = (uv[:, 0] >= 0.5) & (uv[:, 0] <= 96 - 0.5) & (uv[:, 1] >= 0.5) & (uv[:, 1] <= 80 - 0.5)
    expected = (inside & (z > 1e-6)).reshape(25, 40) & np.isfinite(depth)
    assert valid[expected].all() and not valid[~np.isfinite(depth)].any()
    assert expected.any() and (~expected).any()


def test_a_mapping_that_runs_off_to_infinity_is_distorted_and_does_not_hide_the_smear():
    """Where a warp's lookup runs off to huge coordinates, its stretch overflows float32: those pixels are
    distorted, and the smear elsewhere in the same warp is still found."""
    ys, xs = np.mgrid[0:20, 0:60].astype(np.float32)
    valid = np.ones(xs.shape, bool)
    smear = np.where(xs < 20, xs, np.where(xs < 30, 20 + 0.1 * (xs - 20), xs - 9)).astype(np.float32)
    smear[:, 50:] = np.float32(1e30) * (xs[:, 50:] - 49)  # a ray that grazes the reference's image plane
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning reaches the user
        bad = distorted(smear, ys, valid)
    assert bad[:, 50:].all()
    assert bad[:, 21:29].all() and not bad[:, :19].any()


def test_only_a_measured_surface_in_front_hides_a_point():
    from inconddiff.prior.warp import SurfaceMap, warp_reference

    target, reference = camera_at(0.0), camera_at(0.5)
    rng = np.random.default_rng(0)
    texture = rng.random((400, 400, 3)).astype(np.float32)
    image = render_wall(reference, 4.0, texture)
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    depth = np.full((80, 96), 4.0)
    # the reference measured a nearer surface (at 2) over its left half and nothing over the rest
    measured = np.full((40, 48), np.nan, np.float32)
    measured[:, :24] = 2.0
    surface = SurfaceMap(measured, 0.5)
    _, valid = warp_reference(target, depth, grid, reference, image, None, surface)
    mapx = grid[..., 0] - 80 * 0.5 / 4.0 - 0.5  # where the wall's points land in the reference
    inside = (mapx >= 0) & (mapx <= 95)
    assert not valid[inside & (mapx < 46)].any()  # behind the measured surface: hidden
    assert valid[inside & (mapx > 50)].all()  # where nothing was measured, the test does not hide it


def test_a_views_surface_is_what_its_stereo_measured_not_its_sparse_points_interpolated(monkeypatch):
    from inconddiff.cameras import SceneGeometry
    from inconddiff.prior.stereo import DepthMap
    from inconddiff.removal.views import CaptureViews

    cam = camera_at(0.0)
    # sparse points at depth 2 in the view's left half, none on the right: interpolation would carry them across
    pts = cam.unproject(np.array([[10.0, 20.0], [20.0, 60.0], [30.0, 40.0]]), np.full(3, 2.0))
    tracks = [[("a", 10.0, 20.0)], [("a", 20.0, 60.0)], [("a", 30.0, 40.0)]]
    views = CaptureViews(SceneGeometry({"a": cam}, pts, tracks), np.ones(3, bool), lambda s: None, {})
    stereo = np.full((40, 48), np.nan, np.float32)
    stereo[:, :24] = 2.0  # measured only where the points are
    monkeypatch.setattr(views, "depth_map", lambda stem: DepthMap(stereo, 0.5))
    surface = views.surface("a")
    ys, xs = np.mgrid[0:80, 0:96].astype(np.float32)
    hidden = surface.occludes(xs, ys, np.full((80, 96), 4.0))
    assert hidden[:, :46].all() and not hidden[:, 50:].any()


def _scattered_maps(rng, shape, box):
    """Remap coordinates scattered over `box` (x0, x1, y0, y1), some past the image's edges."""
    x0, x1, y0, y1 = box
    mapx = rng.uniform(x0, x1, shape).astype(np.float32)
    mapy = rng.uniform(y0, y1, shape).astype(np.float32)
    return mapx, mapy


def test_looking_up_a_region_of_a_mask_or_image_gives_what_the_whole_gives():
    """`invalid_at` and `sample_image` convert only the looked-up region of a large image; every answer must be
    the one the whole image gives, at the image's edges too (outside counts as invalid; colours repeat)."""
    rng = np.random.default_rng(3)
    invalid = rng.random((300, 400)) < 0.2
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for box in ((50.2, 120.7, 30.1, 90.9), (-6.0, 40.0, 250.0, 310.0), (380.0, 405.0, -3.0, 20.0)):
        mapx, mapy = _scattered_maps(rng, (40, 50), box)
        region = looked_up_box(mapx, mapy, invalid.shape)
        assert region is not None and (region[1] - region[0]) * (region[3] - region[2]) < invalid.size
        expected_invalid = (
            cv2.remap(
                invalid.astype(np.float32),
                mapx,
                mapy,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=1,
            )
            >= 0.01
        )
        np.testing.assert_array_equal(invalid_at(invalid, mapx, mapy), expected_invalid)
        expected_colour = cv2.remap(
            image.astype(np.float32) / 255.0, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        np.testing.assert_array_equal(sample_image(image, mapx, mapy), expected_colour)
        if box[0] < 0:
            assert invalid_at(invalid, mapx, mapy)[mapx < -1].all()  # off the image is invalid
