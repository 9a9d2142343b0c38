"""Property tests: the vectorizer on random masks (rectangles, ellipses, noise blobs, holes).

Whatever the mask, it never crashes, every shape is closed and finite, outer boundaries wind
clockwise on screen (positive ``polygon_area``), holes anticlockwise, and each hole lies inside
the outer shape it is cut from (at tolerances up to half a pixel and the default smoothing).
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

from m2fp_roto.bezier import control_points, flatten
from m2fp_roto.geometry import polygon_area
from m2fp_roto.parsing import Parsing
from m2fp_roto.vectorize import VectorizeOptions, vectorize_parsing

# A modest default keeps the file at a few seconds; raise it for a deeper search.
SETTINGS = settings(max_examples=int(os.environ.get("M2FP_ROTO_PROPERTY_EXAMPLES", 60)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def masks(draw):
    h = draw(st.integers(8, 72))
    w = draw(st.integers(8, 72))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    yy, xx = np.mgrid[:h, :w] + 0.5
    mask = np.zeros((h, w), bool)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["rect", "ellipse", "blob", "hole"]))
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        a, b = rng.uniform(1, w), rng.uniform(1, h)
        if kind == "rect":
            t = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
            v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            mask |= (np.abs(u) < a / 2) & (np.abs(v) < b / 2)
        elif kind == "ellipse":
            mask |= ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 < 1
        elif kind == "blob":
            noise = gaussian_filter(rng.normal(size=(h, w)), rng.uniform(0.5, 4))
            mask |= noise > rng.uniform(0, 1) * noise.std()
        else:
            mask &= ((xx - cx) / (a / 3)) ** 2 + ((yy - cy) / (b / 3)) ** 2 >= 1
    return mask


def inside(points_xy, polygon):
    """Even-odd test of many points against one closed polygon, vectorised over edges."""
    a, b = polygon, np.roll(polygon, -1, axis=0)
    px, py = points_xy[:, :1], points_xy[:, 1:2]
    crosses = (a[:, 1] > py) != (b[:, 1] > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return (np.count_nonzero(crosses & (px < x), axis=1) % 2).astype(bool)


@SETTINGS
@given(mask=masks(), min_area=st.sampled_from([0.0, 4.0, 64.0]), smooth=st.sampled_from([0.0, 0.4, 1.5]),
       tolerance=st.sampled_from([0.25, 0.5, 2.0]))
def test_random_masks_give_closed_oriented_nested_shapes(mask, min_area, smooth, tolerance):
    options = VectorizeOptions(tolerance=tolerance, min_area=min_area, smooth=smooth)
    parsing = Parsing(1, np.where(mask, 2, 0).astype(np.uint8), mask.astype(np.int32), "cihp")
    contours = vectorize_parsing(parsing, options)
    if not mask.any():
        assert contours == []
    outers = {}
    for c in contours:
        assert c.points.ndim == 2 and c.points.shape[1] == 6 and len(c.points) >= 1
        assert np.isfinite(c.points).all() and np.isfinite(c.ring).all()
        cps = control_points(c.points)
        assert np.allclose(cps[:, 3], np.roll(cps[:, 0], -1, axis=0))  # closed chain of segments
        curve = flatten(c.points)
        if c.hole:
            assert polygon_area(curve) < 0, "holes wind anticlockwise on screen"
            # A hole is at least a pixel away from its outer boundary and each curve stays within
            # about ``tolerance`` of its own, so nesting holds up to tolerance 0.5 and light
            # smoothing; heavy smoothing (1.5 px) may carry a curve across a one-pixel wall.
            if tolerance <= 0.5 and smooth <= 0.4:
                assert inside(c.points[:, :2], outers[c.component]).all(), "hole anchors outside their outer shape"
        else:
            assert polygon_area(curve) > 0, "outer shapes wind clockwise on screen"
            outers[c.component] = curve
        # Nothing strays far from the mask it came from.
        h, w = mask.shape
        margin = 2 + tolerance + 3 * smooth
        assert (curve > -margin).all() and (curve[:, 0] < w + margin).all() and (curve[:, 1] < h + margin).all()
    assert sorted(outers) == list(range(len(outers)))  # components numbered 0..n-1
