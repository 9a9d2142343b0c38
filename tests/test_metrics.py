"""Quality figures: each one checked on shapes whose right value is known."""

import numpy as np
import pytest

from m2fp_roto.parsing import Parsing
from m2fp_roto.qa.metrics import (
    boundary_error,
    densify,
    drop_specks,
    frame_quality,
    iou,
    pixel_polygon_points,
    region_quality,
    shapes_quality,
    summarize,
)
from m2fp_roto.vectorize import Contour, polygon_points, vectorize_parsing


def square(x0, y0, x1, y1):
    """The pixel-edge square [x0, x1] x [y0, y1] as straight document points (clockwise on screen)."""
    return polygon_points(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float))


def box_mask(shape, x0, y0, x1, y1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_iou_exact_shifted_and_with_holes():
    mask = box_mask((40, 40), 10, 10, 30, 30)
    assert iou(mask, [square(10, 10, 30, 30)]) == 1.0
    # One column off: 20x19 shared of 20x21 covered.
    assert iou(mask, [square(11, 10, 31, 30)]) == pytest.approx(380 / 420)
    holed = mask & ~box_mask((40, 40), 15, 15, 20, 20)
    assert iou(holed, [square(10, 10, 30, 30)], [square(15, 15, 20, 20)]) == 1.0
    assert iou(np.zeros((5, 5), bool), []) == 1.0  # nothing to draw, nothing drawn


def test_boundary_error_of_an_offset_is_the_offset():
    mask = box_mask((60, 60), 10, 10, 50, 50)
    mean, p95 = boundary_error(mask, [square(10, 10, 50, 50)])
    assert mean < 0.1  # the iso-line cuts the four corners by a fraction of a pixel only
    mean, p95 = boundary_error(mask, [square(9.7, 9.7, 50.3, 50.3)])
    assert mean == pytest.approx(0.3, abs=0.03) and p95 == pytest.approx(0.3, abs=0.15)
    assert np.isnan(boundary_error(mask, [])[0])


def test_densify_spacing():
    ring = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    dense = densify(ring, 0.25)
    assert len(dense) == 160
    assert np.allclose(np.hypot(*np.diff(dense, axis=0).T), 0.25)


def test_pixel_polygon_points_of_a_rectangle_and_a_hole():
    mask = box_mask((30, 30), 5, 5, 25, 20)
    assert pixel_polygon_points(mask) == 4
    mask[10:13, 10:13] = False
    # The ring of pixels around the hole, traced 8-connected, cuts its four corners: 8 vertices.
    assert pixel_polygon_points(mask) == 4 + 8


def test_drop_specks_removes_small_islands_and_holes_only():
    mask = box_mask((50, 50), 5, 5, 40, 40)
    mask[20:23, 20:23] = False  # 9 px hole
    mask[45:47, 45:47] = True  # 4 px island
    clean = drop_specks(mask, 10)
    assert clean[21, 21] and not clean[45, 45]
    assert np.array_equal(drop_specks(mask, 4), mask)  # nothing is below 4 px
    border_gap = box_mask((20, 20), 0, 0, 20, 20)
    border_gap[0, 5:8] = False  # background touching the border is outside, not a hole
    assert np.array_equal(drop_specks(border_gap, 64), border_gap)


def test_region_and_shapes_quality_agree():
    mask = box_mask((40, 40), 10, 10, 30, 30)
    c = Contour(1, "face", 0, 0, square(10, 10, 30, 30), np.zeros((0, 2)), 400.0)
    row = region_quality(mask, [c])
    assert row == shapes_quality(mask, [c.points])
    assert row["iou"] == 1.0 and row["points"] == 4 and row["shapes"] == 1 and row["pixel_points"] == 4
    assert row["area"] == 400


def test_frame_quality_and_summary_over_regions():
    parts = np.zeros((60, 80), np.uint8)
    parts[5:30, 5:30] = 13
    parts[35:55, 40:75] = 5
    parts[2:4, 70:72] = 2  # 4 px: below min_area, not scored
    people = (parts > 0).astype(np.int32)
    parsing = Parsing(1, parts, people, "cihp")
    contours = vectorize_parsing(parsing)
    rows = frame_quality(parsing, contours, 64)
    assert sorted(r["part"] for r in rows) == ["face", "upper_clothes"]
    assert all(r["iou"] > 0.97 and r["boundary_mean"] < 0.3 for r in rows)
    s = summarize(rows)
    assert s["regions"] == 2 and s["iou"] == pytest.approx(np.mean([r["iou"] for r in rows]))
    assert s["points_ratio"] == pytest.approx(np.mean([r["points"] / r["pixel_points"] for r in rows]))
    assert s["points_per_shape"] == pytest.approx(sum(r["points"] for r in rows) / 2)
    assert summarize([]) == {"regions": 0}
    # A region the contours miss scores zero overlap.
    missing = frame_quality(parsing, [c for c in contours if c.part != "face"], 64)
    assert min(r["iou"] for r in missing) == 0.0


def test_frame_regions_counts_components_holes_and_specks_as_on_the_whole_frame():
    """A region in a frame corner with a hole kept and a hole filled (under min_area), a second
    component, and a speck at the frame's edge; one shape reaching past the region's box."""
    from m2fp_roto.document import Shape
    from m2fp_roto.qa.track_metrics import frame_regions

    parts = np.zeros((30, 50), np.uint8)
    parts[0:10, 0:12] = 2  # hair: component A, 120 px less its holes
    parts[4:6, 4:6] = 0  # 4 px: filled back (min_area 5)
    parts[4:7, 8:11] = 0  # 9 px: a hole
    parts[20:25, 30:40] = 2  # component B, 50 px
    parts[28:30, 0:2] = 2  # a 4 px speck on the frame's corner: dropped
    parsing = Parsing(1, parts, (parts > 0).astype(np.int32))
    shapes = [Shape.static("p1_hair", 1, "hair", 1, 1, square(0, 0, 12, 10)),
              Shape.static("p1_hair_1", 1, "hair", 1, 1, square(30, 20, 45, 25))]
    (region,), fits = frame_regions(shapes, parsing, min_area=5)
    assert (region.area, region.inter, region.union) == (161, 161, 120 + 75)
    a, b = sorted(fits, key=lambda f: f.name)
    assert (a.area, a.iou, a.own_person) == (120, 111 / 120, 107 / 120)  # both holes are nobody's pixels
    assert (b.area, b.iou, b.own_person) == (75, 50 / 75, 50 / 75)
