"""The vectorizer on masks whose right answer is known: sharp corners, smooth curves, holes,
components, specks, soft logits, and the degenerate masks a parser can produce."""

import logging

import numpy as np
import pytest
from scipy.spatial import cKDTree

from m2fp_roto.bezier import bernstein, fill_polygons, flatten, rasterize
from m2fp_roto.fitting import beziers_to_points, find_corners, fit_cubic, fit_ring, fit_runs
from m2fp_roto.geometry import polygon_area
from m2fp_roto.parsing import Parsing
from m2fp_roto.qa.metrics import boundary_error, densify
from m2fp_roto.vectorize import (
    VectorizeOptions,
    fit_smoothed,
    remove_specks,
    smooth_ring,
    trace_rings,
    vectorize_parsing,
    vectorize_region,
)

OPTIONS = VectorizeOptions()
FACE = 13


def one_region(mask, part=FACE, logits=None):
    parts = np.where(mask, part, 0).astype(np.uint8)
    return Parsing(1001, parts, mask.astype(np.int32), "cihp", part_logits=logits)


def polygon_mask(corners, shape):
    """Pixel-centre sampling of a polygon, the convention of the whole package."""
    return fill_polygons([np.asarray(corners, float)], shape)


def ellipse_mask(shape, cx, cy, a, b):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((xx + 0.5 - cx) / a) ** 2 + ((yy + 0.5 - cy) / b) ** 2 < 1


def rotated_rectangle(angle_deg, centre=(100.3, 100.7), size=(120, 70)):
    t = np.radians(angle_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    w, h = size[0] / 2, size[1] / 2
    return np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ rot + centre


def handle_angle(point):
    """Angle (degrees) between the reversed in-handle and the out-handle: 0 = collinear (smooth)."""
    a, b = -point[2:4], point[4:6]
    cos = a @ b / (np.hypot(*a) * np.hypot(*b))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


@pytest.mark.parametrize("angle", [0, 10, 25, 40, 63])
def test_rotated_rectangle_keeps_four_sharp_corners(angle):
    corners = rotated_rectangle(angle)
    contours = vectorize_parsing(one_region(polygon_mask(corners, (200, 200))), OPTIONS)
    assert len(contours) == 1
    pts = contours[0].points
    assert len(pts) == 4, f"a rectangle needs 4 anchors, got {len(pts)}"
    dist = np.hypot(*(pts[:, None, :2] - corners[None]).T)  # (corner, anchor)
    assert dist.min(1).max() < 1.0, f"corner anchors off by {dist.min(1).round(2)} px"
    for p in pts:
        assert 60 < handle_angle(p) < 120, f"handles at corner {p[:2]} are nearly collinear"
    assert polygon_area(pts[:, :2]) > 0  # outer shapes wind clockwise on screen


def test_triangle_corners_stay_sharp():
    tri = np.array([[30.2, 170.4], [100.6, 25.3], [175.1, 160.8]])
    pts = vectorize_parsing(one_region(polygon_mask(tri, (200, 200))), OPTIONS)[0].points
    assert 3 <= len(pts) <= 5
    near = np.hypot(*(pts[:, None, :2] - tri[None]).T).min(1)
    assert near.max() < 1.5, near
    sharp = [handle_angle(pts[np.argmin(np.hypot(*(pts[:, :2] - c).T))]) for c in tri]
    assert min(sharp) > 60, sharp


def test_large_circle_staircase_is_smoothed_into_few_anchors():
    r, c = 150.0, (200.4, 199.7)
    mask = ellipse_mask((400, 400), c[0], c[1], r, r)
    (contour,) = vectorize_parsing(one_region(mask), OPTIONS)
    pts = contour.points
    # The pixel polygon of this circle has hundreds of vertices; a circle needs a handful.
    assert len(pts) <= 30, len(pts)
    assert all(handle_angle(p) < 5 for p in pts), "a circle has no corners"
    curve = flatten(pts, 0.02)
    radial = np.abs(np.hypot(*(curve - c).T) - r)
    # Within tolerance of the true circle, not of the +-0.5 px staircase its pixels make.
    assert radial.mean() < 0.2 and radial.max() < OPTIONS.tolerance + 0.25, (radial.mean(), radial.max())
    mean, p95 = boundary_error(mask, [pts])
    assert mean < 0.3 and p95 < 0.6, (mean, p95)


def test_hole_is_inside_its_outer_shape_and_winds_the_other_way():
    mask = ellipse_mask((200, 220), 110, 100, 90, 70) & ~ellipse_mask((200, 220), 95, 105, 30, 25)
    contours = vectorize_parsing(one_region(mask), OPTIONS)
    assert [(c.component, c.hole) for c in contours] == [(0, 0), (0, 1)]
    outer, hole = contours
    assert polygon_area(outer.points[:, :2]) > 0 > polygon_area(hole.points[:, :2])
    ring = flatten(outer.points)
    assert fill_polygons([ring], mask.shape)[tuple(np.floor(hole.points[:, 1::-1]).astype(int).T)].all()
    hole_curve = flatten(hole.points, 0.02)
    assert np.abs(np.hypot(*((hole_curve - (95, 105)) / (30, 25)).T) - 1).max() < 0.05


def test_components_largest_first_each_followed_by_its_holes():
    shape = (160, 300)
    big = ellipse_mask(shape, 70, 80, 60, 50) & ~ellipse_mask(shape, 70, 80, 15, 12)
    mid = ellipse_mask(shape, 180, 80, 35, 30)
    small = ellipse_mask(shape, 260, 80, 20, 15)
    contours = vectorize_parsing(one_region(big | mid | small), OPTIONS)
    assert [(c.component, c.hole) for c in contours] == [(0, 0), (0, 1), (1, 0), (2, 0)]
    areas = [c.area for c in contours if not c.hole]
    assert areas == sorted(areas, reverse=True)
    centres = [c.points[:, 0].mean() for c in contours if not c.hole]
    assert centres[0] < 120 < centres[1] < 220 < centres[2]


def test_specks_below_min_area_are_dropped_and_counted(caplog):
    mask = ellipse_mask((120, 200), 80, 60, 50, 40)
    mask[58:62, 78:82] = False  # a 16 px pin-hole
    mask[5:10, 150:155] = True  # a 25 px island
    mask[100:103, 170:173] = True  # a 9 px island
    mask[110, 10] = True  # a 1 px island
    groups, dropped = vectorize_region(mask, OPTIONS)
    assert dropped == 4
    assert len(groups) == 1 and groups[0][1] == []
    cleaned, n = remove_specks(mask, OPTIONS.min_area)
    assert n == 4 and cleaned[60, 80] and not cleaned[7, 152]
    with caplog.at_level(logging.INFO, logger="m2fp_roto"):
        contours = vectorize_parsing(one_region(mask), OPTIONS)
    assert len(contours) == 1
    assert "dropped 4 speck(s)" in caplog.text
    # With min_area 0 everything stays.
    assert len(vectorize_parsing(one_region(mask), VectorizeOptions(min_area=0))) == 5


def test_non_boolean_masks_mean_non_zero():
    mask = ellipse_mask((80, 90), 45, 40, 30, 20)
    (ref,), _ = vectorize_region(mask, OPTIONS)
    for other in (mask.astype(np.uint8) * 255, mask.astype(np.float32)):
        (got,), _ = vectorize_region(other, OPTIONS)
        assert np.allclose(got[0].xy, ref[0].xy)


def test_empty_mask_gives_no_shapes():
    empty = np.zeros((64, 80), bool)
    assert vectorize_region(empty, OPTIONS) == ([], 0)
    assert vectorize_parsing(one_region(empty), OPTIONS) == []
    assert trace_rings(np.zeros((8, 8), np.float32)) == []


def test_one_pixel_mask_is_a_speck_or_a_tiny_diamond():
    mask = np.zeros((11, 11), bool)
    mask[5, 5] = True
    assert vectorize_region(mask, OPTIONS) == ([], 1)
    (c,) = vectorize_parsing(one_region(mask), VectorizeOptions(min_area=0))
    assert np.isfinite(c.points).all() and len(c.points) >= 2
    curve = flatten(c.points, 0.01)
    assert np.abs(curve - 5.5).max() <= 0.5 + 1e-9  # hugs the pixel's centre, inside the pixel
    assert polygon_area(curve) > 0


def test_full_frame_mask_is_the_frame_rectangle():
    (c,) = vectorize_parsing(one_region(np.ones((40, 60), bool)), OPTIONS)
    frame = np.array([[0, 0], [60, 0], [60, 40], [0, 40]], float)
    assert len(c.points) == 4
    assert np.hypot(*(c.points[:, None, :2] - frame[None]).T).min(1).max() < 1e-3
    curve = flatten(c.points, 0.01)
    assert (curve > -1e-3).all() and (curve[:, 0] < 60 + 1e-3).all() and (curve[:, 1] < 40 + 1e-3).all()


def test_mask_touching_every_border_ends_on_the_frame_edges():
    shape = (90, 120)
    mask = ellipse_mask(shape, 60, 45, 75, 52)  # wider and taller than the frame
    assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
    (c,) = vectorize_parsing(one_region(mask), OPTIONS)
    curve = flatten(c.points, 0.02)
    tol = OPTIONS.tolerance
    assert curve[:, 0].min() > -tol and curve[:, 0].max() < 120 + tol
    assert curve[:, 1].min() > -tol and curve[:, 1].max() < 90 + tol
    assert (np.abs(curve[:, 0]) < 0.3).any() and (np.abs(curve[:, 1] - 90) < 0.3).any()
    mean, p95 = boundary_error(mask, [c.points])
    assert mean < 0.3 and p95 < 0.6, (mean, p95)


def analytic_ellipse_parsing(scale=4, size=240, soft=True):
    """A face ellipse whose part logits live at 1/scale resolution; hard labels are their argmax,
    nearest-upsampled (the staircase of a low-resolution model)."""
    cx, cy, a, b = 120.3, 118.7, 80.0, 55.0
    yy, xx = np.mgrid[: size // scale, : size // scale]
    x, y = (xx + 0.5) * scale, (yy + 0.5) * scale
    signed = (1 - np.hypot((x - cx) / a, (y - cy) / b)) * min(a, b)  # ~ distance, + inside
    logits = np.full((20, size // scale, size // scale), -8.0, np.float32)
    logits[0], logits[FACE] = 0.0, signed / scale
    parts = np.kron(np.where(signed > 0, FACE, 0), np.ones((scale, scale), int)).astype(np.uint8)
    t = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    truth = np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t)])
    return Parsing(7, parts, (parts > 0).astype(np.int32), "cihp", part_logits=logits if soft else None), truth


def test_soft_logits_give_a_subpixel_boundary():
    errors = {}
    for soft in (False, True):
        parsing, truth = analytic_ellipse_parsing(soft=soft)
        (c,) = vectorize_parsing(parsing, OPTIONS)
        d = cKDTree(truth).query(flatten(c.points, 0.02))[0]
        errors[soft] = (d.mean(), d.max(), len(c.points))
    hard, soft = errors[False], errors[True]
    # The soft boundary is the true one, so only the fit's tolerance is left as error.
    assert soft[0] < 0.25 and soft[1] < OPTIONS.tolerance, f"soft path error {soft}"
    assert soft[0] < hard[0] / 3, f"soft {soft} is not clearly better than hard {hard}"
    assert soft[2] < hard[2], "the smooth soft boundary needs fewer anchors than the staircase"


def test_soft_logits_stay_off_other_people():
    parsing, _ = analytic_ellipse_parsing()
    people = parsing.people.copy()
    people[:, 150:] = np.where(parsing.parts[:, 150:] > 0, 2, 0)  # the right part is someone else's
    contours = vectorize_parsing(Parsing(7, parsing.parts, people, "cihp", part_logits=parsing.part_logits), OPTIONS)
    (mine,) = [c for c in contours if c.person == 1]
    drawn = rasterize([mine.points], (), people.shape)
    assert np.count_nonzero(drawn & (people == 2)) == 0
    assert np.count_nonzero(drawn & (people == 1)) > 0.98 * np.count_nonzero(people == 1)


def test_fit_cubic_recovers_a_single_cubic():
    bez = np.array([[0.0, 0.0], [30.0, 40.0], [90.0, 45.0], [120.0, 0.0]])
    d = bernstein(np.linspace(0, 1, 200)) @ bez
    t1 = (bez[1] - bez[0]) / np.hypot(*(bez[1] - bez[0]))
    t2 = (bez[2] - bez[3]) / np.hypot(*(bez[2] - bez[3]))
    (fit,) = fit_cubic(d, t1, t2, 0.5)
    assert np.abs(fit - bez).max() < 2.0
    assert cKDTree(densify(bernstein(np.linspace(0, 1, 500)) @ fit, 0.05)).query(d)[0].max() < 0.5
    # Free end handles find the tangents themselves.
    (free,) = fit_cubic(d, np.array([1.0, 0.0]), np.array([-1.0, 0.0]), 0.5, free1=True, free2=True)
    assert cKDTree(densify(bernstein(np.linspace(0, 1, 500)) @ free, 0.05)).query(d)[0].max() < 0.5
    assert np.hypot(*(free[1] - free[0])) > 10 and np.hypot(*(free[2] - free[3])) > 10


def test_fit_runs_matches_single_runs_and_keeps_the_tolerance():
    rng = np.random.default_rng(3)
    runs, t1s, t2s = [], [], []
    for _ in range(6):
        n = int(rng.integers(2, 300))
        s = np.linspace(0, rng.uniform(1, 6), n)
        runs.append(np.column_stack([s * 30, 20 * np.sin(s * rng.uniform(0.5, 3))]) + rng.normal(0, 0.2, (n, 2)))
        t1s.append(np.array([1.0, 0.0]))
        t2s.append(np.array([-1.0, 0.0]))
    batch = fit_runs(runs, t1s, t2s, 0.5)
    for run, t1, t2, fitted in zip(runs, t1s, t2s, batch):
        single = fit_cubic(run, t1, t2, 0.5)
        assert len(single) == len(fitted) and np.allclose(np.stack(single), np.stack(fitted))
        assert np.allclose(fitted[0][0], run[0]) and np.allclose(fitted[-1][-1], run[-1])
        for a, b in zip(fitted, fitted[1:]):
            assert np.allclose(a[3], b[0])  # chained
    with pytest.raises(ValueError):
        fit_runs([np.zeros((1, 2))], [[1, 0]], [[-1, 0]], 0.5)


def test_fit_ring_is_closed_and_within_tolerance_of_its_samples():
    mask = ellipse_mask((120, 160), 80, 60, 60, 35) | ellipse_mask((120, 160), 80, 90, 15, 25)
    (ring,) = trace_rings(mask.astype(np.float32))
    xy = smooth_ring(ring.xy, 0.8)
    pts = fit_ring(xy, 0.5, find_corners(xy, 70))
    assert pts.shape[1] == 6 and len(pts) >= 4
    curve = densify(flatten(pts, 0.02), 0.05)
    assert cKDTree(curve).query(xy)[0].max() < 0.5
    pts2, xy2 = fit_smoothed(ring, OPTIONS)
    assert np.isfinite(pts2).all() and len(xy2) > len(pts2)
    assert beziers_to_points([np.array([[0, 0], [1, 0], [2, 1], [3, 3]], float)] * 1).shape == (1, 6)
