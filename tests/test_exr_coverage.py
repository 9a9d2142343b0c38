"""Anti-aliased coverage: exact areas, agreement with an independent supersampled fill, holes,
unions, frame edges and lifetimes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_exr_export import ellipse, supersampled, synthetic_document

from m2fp_roto.bezier import fill_polygons, flatten
from m2fp_roto.document import Shape
from m2fp_roto.geometry import polygon_area
from m2fp_roto_exporters.exr.coverage import (
    EPSILON,
    bezier_coverage,
    part_coverages,
    polygon_coverage,
    region_coverage,
    shapes_coverage,
)


def poly_supersampled(xy, size, k=16):
    h, w = size
    return fill_polygons([np.asarray(xy) * k], (h * k, w * k)).reshape(h, k, w, k).mean(axis=(1, 3))


def star(cx, cy, r0, r1, n, seed):
    rng = np.random.default_rng(seed)
    th = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(r0, r1, n)
    return np.c_[cx + r * np.cos(th), cy + r * np.sin(th)]


def test_pixel_exact_values_of_a_square():
    sq = [[1.5, 1.5], [4.5, 1.5], [4.5, 3.5], [1.5, 3.5]]
    got = polygon_coverage(sq, (6, 6)).to_array((6, 6))
    want = np.zeros((6, 6))
    want[1:4, 1:5] = [[0.25, 0.5, 0.5, 0.25], [0.5, 1, 1, 0.5], [0.25, 0.5, 0.5, 0.25]]
    np.testing.assert_allclose(got, want, atol=1e-7)


@pytest.mark.parametrize("seed", range(6))
def test_sum_equals_polygon_area_and_matches_supersampling(seed):
    xy = star(60.37, 41.8, 8, 35, 40, seed)
    got = polygon_coverage(xy, (90, 120)).to_array((90, 120))
    assert got.sum() == pytest.approx(abs(polygon_area(xy)), rel=1e-6)  # exact, far inside 0.5 %
    ref = poly_supersampled(xy, (90, 120))
    assert np.abs(got - ref).max() < 0.07  # 16 x 16 samples resolve 1/256; thin spikes cost more
    assert np.abs(got - ref).mean() < 1e-3


def test_bezier_shape_area_within_half_a_percent():
    pts = ellipse(70.2, 45.9, 31.4, 22.7, n=8)
    tile = bezier_coverage(pts, (100, 140))
    area = abs(polygon_area(flatten(pts)))
    assert abs(tile.data.sum() - area) <= 0.005 * area
    assert abs(tile.data.sum() - np.pi * 31.4 * 22.7) <= 0.005 * area  # and the curve is the ellipse


def test_orientation_does_not_matter():
    a = bezier_coverage(ellipse(30, 20, 9, 6), (40, 60)).to_array((40, 60))
    b = bezier_coverage(ellipse(30, 20, 9, 6, reverse=True), (40, 60)).to_array((40, 60))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("offset", [(-25.3, 7.1), (50.6, -12.2), (20.0, 30.4), (-60, 0)])
def test_shapes_crossing_the_frame_edge_are_clipped_exactly(offset):
    xy = star(30, 20, 10, 28, 30, 3) + offset
    size = (40, 70)
    tile = polygon_coverage(xy, size)
    got = tile.to_array(size) if tile is not None else np.zeros(size)
    ref = poly_supersampled(xy, size)
    assert np.abs(got - ref).max() < 0.07
    assert got.sum() == pytest.approx(ref.sum(), abs=0.5)
    if tile is not None:
        y0, x0, y1, x1 = tile.bbox
        assert 0 <= y0 and 0 <= x0 and y1 <= size[0] and x1 <= size[1]


def test_nothing_inside_the_frame_is_none():
    assert polygon_coverage(star(-50, -50, 5, 10, 12, 0), (20, 20)) is None
    assert polygon_coverage([[1, 1], [5, 1]], (20, 20)) is None  # degenerate
    assert polygon_coverage([[1, 1], [5, 1], [9, 1]], (20, 20)) is None  # zero area


def test_tile_is_tight_and_clean():
    tile = bezier_coverage(ellipse(30.5, 20.5, 9, 6), (40, 60))
    d = tile.data
    assert d.dtype == np.float32 and d.min() >= 0 and d.max() <= 1
    assert d[0].any() and d[-1].any() and d[:, 0].any() and d[:, -1].any()
    assert not ((d > 0) & (d < EPSILON)).any()


def test_hole_is_subtracted_and_union_of_overlaps_is_not_double_counted():
    size = (60, 80)
    outer, hole = ellipse(40, 30, 20, 15), ellipse(42.3, 31.1, 6, 4)
    cut = region_coverage([outer], [hole], size).to_array(size)
    want = abs(polygon_area(flatten(outer))) - abs(polygon_area(flatten(hole)))
    assert cut.sum() == pytest.approx(want, rel=1e-5)
    both = region_coverage([outer, ellipse(50, 30, 20, 15)], (), size).to_array(size)
    assert both.max() <= 1.0
    ref = poly_supersampled(flatten(outer), size).astype(bool) | poly_supersampled(
        flatten(ellipse(50, 30, 20, 15)), size).astype(bool)
    assert both.sum() < abs(polygon_area(flatten(outer))) * 2 * 0.8  # overlap counted once
    assert both.sum() >= ref.sum() * 0.95


def test_hole_cuts_only_its_parent():
    size = (60, 80)
    a = Shape.static("p1_coat", 1, "coat", 1, 1, ellipse(25, 30, 20, 15))
    hole = Shape.static("p1_coat_hole1", 1, "coat", 1, 1, ellipse(35, 30, 6, 5), hole=True, parent="p1_coat")
    b = Shape.static("p1_coat_1", 1, "coat", 1, 1, ellipse(45, 30, 14, 12), component=1)
    got = shapes_coverage([a, hole, b], 1, size).to_array(size)
    assert got[30, 35] == 1.0  # the other component covers the parent's hole
    np.testing.assert_allclose(got, supersampled([a, hole, b], 1, size), atol=0.07)
    alone = shapes_coverage([a, hole], 1, size).to_array(size)
    assert alone[30, 35] == 0.0


def test_hole_without_its_parent_cuts_nothing():
    size = (40, 60)
    a = Shape.static("p1_coat", 1, "coat", 1, 1, ellipse(30, 20, 15, 10))
    loose = Shape.static("p1_coat_hole1", 1, "coat", 1, 1, ellipse(30, 20, 4, 4), hole=True)
    gone = Shape.static("p1_coat_hole2", 1, "coat", 1, 1, ellipse(30, 20, 4, 4), hole=True, parent="p1_x")
    np.testing.assert_array_equal(shapes_coverage([a, loose, gone], 1, size).to_array(size),
                                  bezier_coverage(a.points_at(1), size).to_array(size))


def test_document_parts_follow_lifetimes_hidden_frames_and_interpolation():
    doc = synthetic_document()
    size = (doc.height, doc.width)
    tiles = part_coverages(doc, 1001)
    assert set(tiles) == {(s.person, s.part) for s in doc.shapes}
    assert tiles[(2, "left_arm")] is None  # not alive before 1002
    mid = part_coverages(doc, 1002)[(1, "hair")].to_array(size)
    hair = next(s for s in doc.shapes if s.name == "p1_hair")
    inbetween = bezier_coverage(0.5 * (hair.keys[0].points + hair.keys[1].points), size).to_array(size)
    np.testing.assert_array_equal(mid, inbetween)
    for key, tile in part_coverages(doc, 1003).items():
        shapes = [s for s in doc.shapes if (s.person, s.part) == key]
        np.testing.assert_allclose(tile.to_array(size), supersampled(shapes, 1003, size), atol=0.07)
    hair.hidden = ((1002, 1002),)  # out of sight on 1002: no matte there, back on 1003
    assert part_coverages(doc, 1002)[(1, "hair")] is None and part_coverages(doc, 1003)[(1, "hair")] is not None


def clip_to_frame(xy, size):
    """Sutherland-Hodgman clip of a closed polygon to the frame rectangle (exact for its area)."""
    h, w = size
    for axis, bound, keep_below in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        if not len(xy):
            break
        nxt = np.roll(xy, -1, axis=0)
        inside = (xy[:, axis] <= bound) if keep_below else (xy[:, axis] >= bound)
        inside_next = np.roll(inside, -1)
        out = []
        for p, q, pin, qin in zip(xy, nxt, inside, inside_next):
            if pin:
                out.append(p)
            if pin != qin:
                t = (bound - p[axis]) / (q[axis] - p[axis])
                out.append(p + t * (q - p))
        xy = np.array(out).reshape(-1, 2)
    return xy


@settings(max_examples=40, deadline=None)
@given(cx=st.floats(-10, 70), cy=st.floats(-10, 50), rx=st.floats(0.3, 40), ry=st.floats(0.3, 40),
       n=st.integers(3, 9))
def test_property_area_conserved_inside_the_frame(cx, cy, rx, ry, n):
    size = (40, 60)
    pts = ellipse(cx, cy, rx, ry, n=n)
    xy = flatten(pts)
    tile = polygon_coverage(xy, size)
    got = float(tile.data.sum()) if tile is not None else 0.0
    inside = cx - rx >= 0 and cy - ry >= 0 and cx + rx <= size[1] and cy + ry <= size[0]
    if inside:
        assert got == pytest.approx(abs(polygon_area(xy)), rel=1e-5, abs=1e-4)
    else:  # clipped: the exact area of the polygon clipped to the frame
        assert got == pytest.approx(abs(polygon_area(clip_to_frame(xy, size))), rel=1e-5, abs=1e-4)
    if tile is not None:
        assert tile.data.min() >= 0 and tile.data.max() <= 1


def test_large_shape_on_a_1080p_frame():
    th = np.linspace(0, 2 * np.pi, 6000, endpoint=False)
    xy = np.c_[960.3 + 700 * np.cos(th), 540.6 + 500 * np.sin(th)]
    tile = polygon_coverage(xy, (1080, 1920))
    assert float(tile.data.sum()) == pytest.approx(abs(polygon_area(xy)), rel=1e-6)
    assert tile.bbox == (40, 260, 1041, 1661)
