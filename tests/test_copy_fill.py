"""The copy fill on a scene with exact geometry: a textured wall seen by cameras in a row, a hole in the middle
view. What other views observed is copied exactly; invented content is marked and never taken for observed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inconddiff.cameras import Camera, crop_pixel_grid
from inconddiff.prior.copy_fill import CARRIED, COPIED, INVENTED, KEPT, CopySource, copy_fill
from inconddiff.prior.stereo import DepthMap, surface_along_rays, view_depth

K = np.array([[80.0, 0, 48], [0, 80.0, 40], [0, 0, 1]])
WALL = 5.0


def camera_at(x: float) -> Camera:
    """A camera looking down +z from (x, 0, 0)."""
    return Camera(K, np.eye(3), -np.array([x, 0.0, 0.0]), 96, 80)


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = cv2.resize(rng.random((40, 60, 3)).astype(np.float32), (600, 400), interpolation=cv2.INTER_CUBIC)
    return np.clip(t, 0, 1)


def render(cam: Camera, texture: np.ndarray) -> np.ndarray:
    """The camera's view of the textured wall at world z = WALL (20 texture pixels per world unit)."""
    grid = crop_pixel_grid((0, cam.height, 0, cam.width), (cam.height, cam.width)).reshape(-1, 2)
    X = cam.unproject(grid, np.full(len(grid), WALL))
    mapx = (X[:, 0] * 20 + texture.shape[1] / 2).reshape(cam.height, cam.width).astype(np.float32)
    mapy = (X[:, 1] * 20 + texture.shape[0] / 2).reshape(cam.height, cam.width).astype(np.float32)
    return cv2.remap(texture, mapx, mapy, cv2.INTER_LINEAR).astype(np.float64)


def hole() -> np.ndarray:
    m = np.zeros((80, 96), bool)
    m[25:55, 35:65] = True
    return m


def test_a_hole_seen_whole_by_two_other_views_is_copied_from_them(texture):
    target = camera_at(0.0)
    truth = render(target, texture)
    damaged = np.where(hole()[..., None], 0.0, truth)
    sources = [CopySource(f"s{x}", camera_at(x), render(camera_at(x), texture)) for x in (-0.3, 0.3)]
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    result = copy_fill(damaged, hole(), target, grid, np.full((80, 96), WALL), sources)
    assert (result.provenance[hole()] == COPIED).all() and (result.provenance[~hole()] == KEPT).all()
    assert result.seen_fraction == 1.0
    assert np.abs(result.fill[hole()] - truth[hole()]).mean() < 0.01
    assert np.array_equal(result.fill[~hole()], damaged[~hole()])
    assert set(np.unique(result.label[hole()])) <= {0, 1}


def test_far_views_that_share_a_mistake_do_not_outvote_the_near_views_that_are_right(texture):
    """Four far views agree on a wrong colour (as warps through a wrong depth of a plain surface would); the two
    nearest views see the wall. The consistency check listens to the nearest rays, so the wall is copied."""
    target = camera_at(0.0)
    truth = render(target, texture)
    damaged = np.where(hole()[..., None], 0.0, truth)
    near = [CopySource(f"n{x}", camera_at(x), render(camera_at(x), texture)) for x in (-0.1, 0.1)]
    grey = np.full((80, 96, 3), 0.5)
    grey[~hole()] = truth[~hole()]  # the same around the hole, so that colour matching leaves them alone
    far = [CopySource(f"f{x}", camera_at(x), grey) for x in (-1.0, -0.8, 0.8, 1.0)]
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    result = copy_fill(damaged, hole(), target, grid, np.full((80, 96), WALL), far + near)
    assert (result.provenance[hole()] == COPIED).all()
    assert set(np.unique(result.label[hole()])) <= {4, 5}
    assert np.abs(result.fill[hole()] - truth[hole()]).mean() < 0.01


def test_invented_content_only_fills_what_no_view_observed_and_is_marked(texture):
    target = camera_at(0.0)
    truth = render(target, texture)
    damaged = np.where(hole()[..., None], 0.0, truth)
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    depth = np.full((80, 96), WALL)
    # the observed view's own hole hides what the target's right half of the hole shows
    observed_cam = camera_at(0.3)
    own_hole = np.zeros((80, 96), bool)
    own_hole[:, 50:] = True
    observed = CopySource("seen", observed_cam, render(observed_cam, texture), own_hole)
    # an earlier fill offers what it invented (magenta) in its own hole, which sees the target's (a wall at 5:
    # 0.3 to the left shifts it by 80 * 0.3 / 5 = 4.8 px)
    invented = np.zeros((80, 96, 3))
    invented[...] = (1.0, 0.0, 1.0)
    its_hole = np.zeros((80, 96), bool)
    its_hole[26:54, 41:69] = True
    carried = CopySource("filled", camera_at(-0.3), invented, ~its_hole, carried=True)
    result = copy_fill(damaged, hole(), target, grid, depth, [carried, observed])
    copied = result.provenance == COPIED
    carried_px = result.provenance == CARRIED
    assert copied.any() and carried_px.any() and not (result.provenance[hole()] == KEPT).any()
    assert (
        np.abs(result.fill[copied] - truth[copied]).mean() < 0.02
    )  # observed pixels, from the view that saw them
    assert np.allclose(
        result.fill[carried_px], (1.0, 0.0, 1.0), atol=0.05
    )  # invented ones, only where none saw
    assert (result.label[copied] == 1).all() and (result.label[carried_px] == 0).all()
    # without the earlier fill, the unseen part is invented here and marked so; the copies do not change
    alone = copy_fill(damaged, hole(), target, grid, depth, [observed])
    assert (alone.provenance[carried_px] == INVENTED).all()
    assert np.array_equal(alone.provenance == COPIED, copied)


def test_stereo_finds_the_wall_and_the_rays_find_it_behind_a_hole(texture):
    cams = {x: camera_at(x) for x in (-0.4, -0.2, 0.0, 0.2, 0.4)}
    images = {x: render(c, texture) for x, c in cams.items()}
    depth = view_depth(
        cams[0.0], images[0.0], None, [(cams[x], images[x], None) for x in (-0.2, 0.2)], (2.0, 12.0)
    )
    trusted = np.isfinite(depth.depth)
    assert trusted.mean() > 0.5
    assert np.abs(np.median(depth.depth[trusted]) - WALL) < 0.05
    # most trusted pixels lie within 2% of the wall (the rest: smooth texture at the border, where one of the two
    # neighbours sees nothing at the true depth)
    assert np.mean(np.abs(depth.depth[trusted] - WALL) < 0.1) > 0.75
    # the target's hole: the other views' maps (exact here) confirm the wall along its rays
    exact = {x: DepthMap(np.full((80, 96), WALL, np.float32), 1.0) for x in cams}
    sources = [(cams[x], exact[x], None) for x in (-0.4, -0.2, 0.2, 0.4)]
    found, seen_by = surface_along_rays(cams[0.0], (25, 55, 35, 65), (30, 30), sources, (2.0, 12.0))
    assert np.allclose(found, WALL, rtol=0.01)
    assert (seen_by == 1).all()
    # a map that shows a nearer surface there is not taken to see the wall, and cannot outvote the rest
    sources[0] = (cams[-0.4], DepthMap(np.full((80, 96), 3.0, np.float32), 1.0), None)
    found, seen_by = surface_along_rays(cams[0.0], (25, 55, 35, 65), (30, 30), sources, (2.0, 12.0))
    assert np.allclose(found, WALL, rtol=0.01) and (seen_by[0] == 0).all() and (seen_by[1:] == 1).all()


def test_a_far_surface_with_coarse_stereo_depth_is_confirmed_where_the_target_cannot_tell_the_difference():
    cams = {x: camera_at(x) for x in (-0.4, -0.2, 0.0, 0.2, 0.4)}
    far = 100.0  # 80 px focal, 0.2 baseline: under a fifth of a pixel of parallax
    rng = np.random.default_rng(0)
    noisy = {x: DepthMap((far * rng.uniform(0.85, 1.15, (80, 96))).astype(np.float32), 1.0) for x in cams}
    sources = [(cams[x], noisy[x], None) for x in (-0.4, -0.2, 0.2, 0.4)]
    found, seen_by = surface_along_rays(cams[0.0], (25, 55, 35, 65), (30, 30), sources, (20.0, 400.0))
    assert np.isfinite(found).all() and np.nanmean(seen_by == 1) > 0.9
    assert np.abs(np.median(found) / far - 1) < 0.15
    # a source showing a near surface there (a few pixels of parallax away) does not see the far one
    sources[0] = (cams[-0.4], DepthMap(np.full((80, 96), 3.0, np.float32), 1.0), None)
    found, seen_by = surface_along_rays(cams[0.0], (25, 55, 35, 65), (30, 30), sources, (2.0, 400.0))
    assert (seen_by[0] == 0).mean() > 0.9 and np.abs(np.median(found) / far - 1) < 0.15


def test_a_surface_beyond_the_sparse_points_far_bound_still_gets_a_depth(texture):
    """Sparse points rarely reach the sky or a distant facade: the sweeps go on past the far bound they give,
    so a wall at 5 is measured (as far) with a range that ends at 2.5, and the rays behind a hole find it."""
    from inconddiff.prior.stereo import sweep_inverse_depths

    inv = sweep_inverse_depths(1.0, 2.5, 32)
    assert np.isclose(inv[0], 1.0) and inv[-1] > 0 and (np.diff(inv) < 0).all() and 1 / inv[-1] > 50
    cams = {x: camera_at(x) for x in (-0.4, -0.2, 0.0, 0.2, 0.4)}
    images = {x: render(c, texture) for x, c in cams.items()}
    depth = view_depth(
        cams[0.0], images[0.0], None, [(cams[x], images[x], None) for x in (-0.2, 0.2)], (1.0, 2.5)
    )
    trusted = np.isfinite(depth.depth)
    assert trusted.mean() > 0.5 and np.median(depth.depth[trusted]) > 3.0
    maps = {
        x: view_depth(
            cams[x], images[x], None, [(cams[y], images[y], None) for y in cams if y != x][:2], (1.0, 2.5)
        )
        for x in (-0.4, -0.2, 0.2, 0.4)
    }
    sources = [(cams[x], maps[x], None) for x in maps]
    found, _ = surface_along_rays(cams[0.0], (25, 55, 35, 65), (30, 30), sources, (1.0, 2.5))
    assert np.isfinite(found).mean() > 0.8 and np.nanmedian(found) > 3.0


def test_stereo_leaves_no_depth_of_the_object_on_the_background_beside_its_hole(texture):
    """A textured card at depth 2.5 stands in front of the wall in every view, each view's hole covering it
    exactly. A matching window that reaches into the hole would carry the card's depth onto the wall beside
    it, and the rays behind another view's hole would then stop at the card."""
    card = 2.5

    def with_card(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
        grid = crop_pixel_grid((0, cam.height, 0, cam.width), (cam.height, cam.width)).reshape(-1, 2)
        X = cam.unproject(grid, np.full(len(grid), card))
        on = ((np.abs(X[:, 0]) < 0.3) & (np.abs(X[:, 1]) < 0.25)).reshape(cam.height, cam.width)
        mapx = (X[:, 0] * 40 + 100).reshape(cam.height, cam.width).astype(np.float32)
        mapy = (X[:, 1] * 40 + 100).reshape(cam.height, cam.width).astype(np.float32)
        front = cv2.remap(texture[::-1], mapx, mapy, cv2.INTER_LINEAR).astype(np.float64)
        return np.where(on[..., None], front, render(cam, texture)), on

    cams = {x: camera_at(x) for x in (-0.2, 0.0, 0.2)}
    views = {x: with_card(c) for x, c in cams.items()}
    image, own = views[0.0]
    depth = view_depth(cams[0.0], image, own, [(cams[x], *views[x]) for x in (-0.2, 0.2)], (2.0, 12.0)).depth
    assert np.isnan(depth[own]).all()
    beside = np.isfinite(depth) & ~own
    assert beside.mean() > 0.5
    near = beside & (cv2.dilate(own.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0)
    assert near.sum() > 100
    assert (depth[near] > 3.2).all()  # near the wall's depth (5), never the card's (2.5)


def test_the_rays_stop_at_the_first_surface_behind_the_hole_even_when_more_views_see_past_it():
    """A small box at depth 3 stands before the wall at 5, behind the target's hole. The two near views see the
    box; in three wide views the object hides the box (their own holes), and they see past it, onto the wall
    behind the box along the target's rays. The target sees the box: the nearest surface two views confirm,
    not the one most views confirm."""
    box, half = 3.0, 0.2

    def on_box(cam: Camera) -> np.ndarray:
        grid = crop_pixel_grid((0, cam.height, 0, cam.width), (cam.height, cam.width)).reshape(-1, 2)
        X = cam.unproject(grid, np.full(len(grid), box))
        return ((np.abs(X[:, 0]) < half) & (np.abs(X[:, 1]) < half)).reshape(cam.height, cam.width)

    cams = {x: camera_at(x) for x in (-1.2, -0.1, 0.0, 0.1, 1.2, 1.4)}
    sources = []
    for x in (-1.2, -0.1, 0.1, 1.2, 1.4):
        hit = on_box(cams[x])
        depth = DepthMap(np.where(hit, box, WALL).astype(np.float32), 1.0)
        sources.append((cams[x], depth, hit if abs(x) > 1 else None))
    found, seen_by = surface_along_rays(cams[0.0], (30, 50, 38, 58), (20, 20), sources, (2.0, 12.0))
    centre = found[7:13, 7:13]  # target pixels 45-51 by 37-43: the box's middle
    assert np.allclose(centre, box, rtol=0.02)
    assert (seen_by[[1, 2]][:, 7:13, 7:13] == 1).all()
    # around the box the wall stands, seen by all
    assert np.allclose(found[0, :], WALL, rtol=0.02) and np.allclose(found[:, 0], WALL, rtol=0.02)


def fine_detail(image: np.ndarray) -> np.ndarray:
    """The grey image less its Gaussian blur of 1.5 px: the texture's grain."""
    grey = image.mean(-1).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)


def test_what_no_view_saw_is_invented_smoothly_or_from_the_surrounding_texture(texture):
    """No source: the whole hole is invented, by the membrane ('smooth') or by patches of the texture around it
    ('texture'), which keeps the texture's detail; an unknown choice is refused."""
    target = camera_at(0.0)
    truth = render(target, texture)
    damaged = np.where(hole()[..., None], 0.0, truth)
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    depth = np.full((80, 96), WALL)
    fills = {
        how: copy_fill(damaged, hole(), target, grid, depth, [], invent=how) for how in ("smooth", "texture")
    }

    def detail(image: np.ndarray) -> float:
        return float((fine_detail(image)[hole()] ** 2).mean())

    for result in fills.values():
        assert (result.provenance[hole()] == INVENTED).all()
        assert np.array_equal(result.fill[~hole()], damaged[~hole()])
    assert detail(fills["texture"].fill) > 3 * detail(fills["smooth"].fill)
    assert detail(fills["texture"].fill) > 0.3 * detail(truth)
    with pytest.raises(ValueError, match="invent"):
        copy_fill(damaged, hole(), target, grid, depth, [], invent="telea")


def test_detail_puts_grain_on_the_membrane_of_small_unseen_parts_and_texture_in_large_ones(
    texture,
):
    """'detail': a strip (a quarter of the hole) keeps the membrane's large structure with some of the texture's
    grain on it; a square (the other three quarters) is continued from the surrounding texture, as 'texture'
    does."""
    target = camera_at(0.0)
    truth = render(target, texture)
    strip = np.zeros((80, 96), bool)
    strip[8:16, 10:50] = True
    square = np.zeros((80, 96), bool)
    square[35:65, 55:85] = True
    unseen = strip | square
    damaged = np.where(unseen[..., None], 0.0, truth)
    grid = crop_pixel_grid((0, 80, 0, 96), (80, 96))
    depth = np.full((80, 96), WALL)
    fills = {
        how: copy_fill(damaged, unseen, target, grid, depth, [], invent=how).fill
        for how in ("smooth", "texture", "detail")
    }

    def low(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 4.0)

    assert np.allclose(fills["detail"][square], fills["texture"][square])
    assert (fine_detail(fills["detail"])[strip] ** 2).mean() > 2 * (
        fine_detail(fills["smooth"])[strip] ** 2
    ).mean()
    drift = {
        how: np.abs(low(fills[how]) - low(fills["smooth"]))[strip].mean() for how in ("detail", "texture")
    }
    assert drift["detail"] < 0.5 * drift["texture"]
