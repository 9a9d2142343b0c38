"""Key reduction, identity and lifetimes on small synthetic inputs (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from m2fp_roto.bezier import sample
from m2fp_roto.parsing import Parsing
from m2fp_roto.qa.track_metrics import constant_counts, naive_outline
from m2fp_roto.tracking.frame_repair import overlap
from m2fp_roto.tracking.keys import curve_positions, interpolation_error, keep_faithful, reduce_keys
from m2fp_roto.tracking.track import TrackOptions, track_contours
from m2fp_roto.vectorize import vectorize_parsing


def test_keys_linear_motion_needs_two_keys_and_a_jump_needs_more():
    base = np.zeros((3, 6))
    base[:, :2] = [[0, 0], [10, 0], [5, 8]]
    base[:, 4:6] = [1.0, 2.0]
    moving = np.stack([base + [t, 0.5 * t, 0, 0, 0, 0] for t in range(20)])
    assert reduce_keys(moving, 1.0).tolist() == [0, 19]
    bumped = moving.copy()
    bumped[7:, :, 0] += 5.0  # a step: the frames around it must be keys
    kept = reduce_keys(bumped, 1.0)
    assert {6, 7} <= set(kept.tolist())
    pos = curve_positions(bumped)
    for a, b in zip(kept[:-1], kept[1:]):  # the bound holds between every pair of keys
        assert interpolation_error(pos, a, b).max() <= 1.0


def test_keys_measure_the_outline_a_handle_moves():
    still = np.zeros((10, 4, 6))
    still[:, :, :2] = np.arange(8).reshape(4, 2)
    flick = still.copy()
    flick[5, 2, 4] = 3.0  # one handle tip moves 3 px on one frame: the curve moves 4/9 of that
    assert 5 in reduce_keys(flick, 1.0).tolist()
    assert reduce_keys(flick, 1.0, "rms").tolist() == [0]  # rms over the outline: well below 1 px
    nudge = still.copy()
    nudge[5, 2, 4] = 2.0  # the curve moves 0.89 px: within the tolerance
    assert reduce_keys(nudge, 1.0).tolist() == [0]


def test_keys_bound_holds_on_the_whole_curve():
    """Between kept keys, the interpolated outline stays within the tolerance everywhere on the
    curve, not only at the measured points (checked at 64 points a segment)."""
    rng = np.random.default_rng(3)
    base = np.zeros((6, 6))
    angle = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    base[:, :2] = np.column_stack([np.cos(angle), np.sin(angle)]) * 40 + 100
    base[:, 2:4] = np.column_stack([np.sin(angle), -np.cos(angle)]) * 14
    base[:, 4:6] = -base[:, 2:4]
    walk = np.cumsum(rng.normal(0, 0.6, (40, 6, 6)), axis=0)
    points = base + walk
    tolerance = 1.0
    kept = reduce_keys(points, tolerance)
    assert 2 < len(kept) < len(points)
    fine = sample(points, 64)
    for a, b in zip(kept[:-1], kept[1:]):
        t = np.linspace(0, 1, b - a + 1)[:, None, None]
        off = np.hypot(*((1 - t) * fine[a] + t * fine[b] - fine[a:b + 1]).T)
        assert off.max() <= tolerance * 1.02


def _bezier_disc(centre, radius):
    """(4, 6) points of a circle: anchors, then in and out handles relative to them."""
    angle = np.arange(4) * np.pi / 2
    out = np.column_stack([-np.sin(angle), np.cos(angle)]) * radius * 0.5523
    return np.column_stack([centre + radius * np.column_stack([np.cos(angle), np.sin(angle)]), -out, out])


def test_keys_between_which_a_small_part_leaves_its_outline_get_one_in_between():
    """A disc 8 px across moving along an arc 0.9 px off the straight line: within the 1 px
    tolerance, so reduce_keys keeps the ends only, but the blend at the middle overlaps the
    disc's outline 0.73. keep_faithful adds keys until every frame's blend overlaps its outline
    at least the default key floor (0.9); the same motion of a disc 80 px across (0.97 at
    worst) needs none."""
    t = np.arange(20)
    centres = np.column_stack([50 + t, 50 + 0.9 * np.sin(np.pi * t / 19)])
    circle = np.column_stack([np.cos(np.linspace(0, 2 * np.pi, 200, endpoint=False)),
                              np.sin(np.linspace(0, 2 * np.pi, 200, endpoint=False))])
    floor = TrackOptions().key_floor
    for radius, extra in ((4.0, True), (40.0, False)):
        points = np.stack([_bezier_disc(c, radius) for c in centres])
        rings = {1001 + i: c + radius * circle for i, c in enumerate(centres)}
        kept = reduce_keys(points, 1.0)
        assert kept.tolist() == [0, 19]
        faithful = keep_faithful(points, kept, rings, 1001, floor)
        assert (len(faithful) > 2) == extra, faithful
        for i in t:  # each frame blended between the keys around it
            a, b = faithful[faithful <= i].max(), faithful[faithful >= i].min()
            w = 0.0 if a == b else (i - a) / (b - a)
            iou = overlap((1 - w) * points[a] + w * points[b], rings[1001 + i])[1]
            assert iou >= floor, (radius, i, iou)


def _disc_parsing(frame, centres, people_ids, shape=(120, 200), radius=18):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    parts = np.zeros(shape, np.uint8)
    people = np.zeros(shape, np.int32)
    for (cx, cy), pid in zip(centres, people_ids):
        inside = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= radius**2
        parts[inside] = 13  # face
        people[inside] = pid
    return Parsing(frame=frame, parts=parts, people=people, label_set="cihp")


def test_identity_and_lifetimes():
    """Two people swap their detector ids every frame; one leaves for good after frame 8."""
    per_frame = {}
    for i in range(16):
        a, b = (40 + 2 * i, 60), (150 - i, 60)
        ids = (1, 2) if i % 2 == 0 else (2, 1)
        centres, who = ([a, b], ids) if i <= 8 else ([a], ids[:1])
        per_frame[100 + i] = vectorize_parsing(_disc_parsing(100 + i, centres, who))
    shapes = track_contours(per_frame, TrackOptions(max_gap=3))
    assert constant_counts(shapes) == 1.0
    by_person = {s.person: s for s in shapes}
    assert sorted(by_person) == [1, 2]
    assert by_person[1].frames == (100, 115)
    assert by_person[2].frames == (100, 108)
    for f in range(100, 109):  # person 2 stays on the disc that moves left
        assert by_person[2].points_at(f)[:, 0].mean() == pytest.approx(150 - (f - 100), abs=1.0)


def test_gap_longer_than_max_gap_starts_a_new_component():
    """The person stays; their face is hidden for 6 frames."""
    per_frame = {}
    for i in range(14):
        body = _disc_parsing(i, [(120, 60)], [1], radius=30)
        body.parts[body.parts > 0] = 5  # upper clothes
        if not 4 <= i < 10:
            face = _disc_parsing(i, [(40 + i, 60)], [1])
            body.parts[face.parts > 0], body.people[face.parts > 0] = 13, 1
        per_frame[i] = vectorize_parsing(body)
    shapes = track_contours(per_frame, TrackOptions(max_gap=3))
    faces = sorted((s.name, s.frames) for s in shapes if s.part == "face")
    assert faces == [("p1_face", (0, 3)), ("p1_face_1", (10, 13))]
    short = [s for s in track_contours(per_frame, TrackOptions(max_gap=8)) if s.part == "face"]
    assert [(s.name, s.frames) for s in short] == [("p1_face", (0, 13))]
    # Across the gap the shape carries on smoothly between its sightings.
    assert short[0].points_at(7)[:, 0].mean() == pytest.approx(47.0, abs=1.5)


def test_naive_outline_starts_at_angle_zero():
    yy, xx = np.mgrid[0:80, 0:80]
    mask = (xx + 0.5 - 40) ** 2 + (yy + 0.5 - 40) ** 2 <= 20**2
    pts = naive_outline(mask, 32)
    assert pts.shape == (32, 2)
    assert pts[0] == pytest.approx([60.0, 40.0], abs=0.6)


def test_tracks_solved_in_worker_processes_match_one_process(tmp_path):
    from m2fp_roto.cli.demo import write_label_maps
    from m2fp_roto.pipeline import vectorize_source
    from m2fp_roto.sources.labelmaps import LabelMapSource
    from m2fp_roto.tracking import track

    labels, people = write_label_maps(tmp_path, 12)
    per_frame = vectorize_source(LabelMapSource(labels, people))
    # Enough work that the processes really start (each contour is one frame of one track).
    assert sum(len(c) for c in per_frame.values()) >= track._PARALLEL_FROM
    one, two = track_contours(per_frame, workers=1), track_contours(per_frame, workers=2)
    assert [s.name for s in one] == [s.name for s in two]
    for a, b in zip(one, two):
        assert a.frames == b.frames and np.array_equal(a.key_frames, b.key_frames)
        assert all(np.array_equal(x.points, y.points) for x, y in zip(a.keys, b.keys))


def _round(cx, cy, r, n=8):
    """(n, 6) points of a circle-like closed Bezier, counter-clockwise on screen."""
    th = np.arange(n) * 2 * np.pi / n
    xy = np.c_[cx + r * np.cos(th), cy - r * np.sin(th)]
    tangent = (np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)) / 6
    return np.c_[xy, -tangent, tangent]


def test_a_hidden_hole_is_not_shrunk_where_its_shape_opens_round_it():
    from m2fp_roto.document import Key, Shape
    from m2fp_roto.tracking.holes import keep_inside

    frames = range(1, 6)
    # The parent is cut open at frame 3 (here: moved off the hole), where the hole is hidden;
    # shrunk and keyed there, the hole would be drawn half shut on frames 2 and 4.
    parent = Shape("p1_coat", 1, "coat", (1, 5), [Key(f, _round(50 + 60 * (f == 3), 50, 30)) for f in frames])
    hole_points = np.stack([_round(50, 50, 8)[::-1] for _ in frames])
    hole = Shape("p1_coat_hole1", 1, "coat", (1, 5), [Key(1, hole_points[0]), Key(5, hole_points[4])],
                 hole=True, parent="p1_coat", hidden=((3, 3),))
    keep_inside([parent, hole], {hole.name: (1, hole_points, np.array([1, 1, 0, 1, 1], bool))}, TrackOptions())
    assert [k.frame for k in hole.keys] == [1, 5]
    for f in (2, 4):
        np.testing.assert_allclose(hole.points_at(f), hole_points[f - 1])


def test_a_hole_poking_out_of_its_parent_is_drawn_in_where_it_pokes_out_only():
    """A hole that leaves its parent at one place has the spans there drawn in; the rest of it
    stays where it was (shrunk towards its centroid, a hole between kite lines that touched a
    line at one point lost three quarters of its area)."""
    from m2fp_roto.bezier import flatten
    from m2fp_roto.geometry import polygon_area
    from m2fp_roto.tracking.holes import inside, shrink_into

    parent = _round(50, 50, 30, 16)
    hole = _round(50, 50, 24, 12)
    hole[0, :2] = [81.0, 50.0]  # one anchor 1 px past the parent's curve
    assert not inside(hole, parent)
    drawn = shrink_into(hole, parent)
    assert inside(drawn, parent)
    moved = np.flatnonzero(np.abs(drawn - hole).max(1) > 0)
    assert set(moved) <= {11, 0, 1}, moved  # the anchor and its neighbours' handles towards it
    assert abs(polygon_area(flatten(drawn))) >= 0.97 * abs(polygon_area(flatten(hole)))


def test_anchors_come_round_past_the_first_are_drawn_back_within_one_turn():
    from m2fp_roto.tracking.outline import increasing

    m, n = 1000, 200
    u = 300 + np.arange(n) * 5.04  # the last anchor has come 3 samples past the first, one turn on
    out = increasing(u, m)
    assert (np.diff(out) > 0).all() and out[-1] - out[0] <= m - 1
    assert np.abs(out - u).max() < 5  # drawn in, not thrown out
    np.testing.assert_allclose(increasing(u[:100], m), u[:100])  # within a turn: left as it is


def test_narrow_parts_get_closer_tolerances():
    """Width is twice the area over the outline's length: a strip's width, a disc's radius.
    Parts narrower than FULL_WIDTH get their anchor and edge tolerances in proportion (anchors
    no looser than half, edges down to a tenth); wide ones keep the user's."""
    from m2fp_roto.geometry import resample_ring
    from m2fp_roto.tracking.track import FULL_WIDTH, for_width, width

    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    disc = np.column_stack([60 * np.cos(t), 60 * np.sin(t)])
    strip = resample_ring(np.array([[0.0, 0.0], [400.0, 0.0], [400.0, 4.0], [0.0, 4.0]]))
    assert width([disc]) == pytest.approx(60, rel=0.01) and width([strip]) == pytest.approx(4, rel=0.03)
    options = TrackOptions()
    assert for_width(options, [disc]) == options
    thin = for_width(options, [strip, strip])
    assert thin.anchor_tolerance == 0.5 * options.anchor_tolerance
    assert thin.edge_tolerance == pytest.approx(options.edge_tolerance * max(4 / FULL_WIDTH, 0.1), rel=0.03)
    assert (thin.key_tolerance, thin.smoothing) == (options.key_tolerance, options.smoothing)


def test_a_frame_whose_anchors_miss_a_lobe_gets_them_placed_again():
    """An arm bent at the elbow whose anchors, followed from other frames, all sit on one half of
    this frame's outline: the curve cuts the other half off. One anchor moved to the span that
    misses most brings it over the floor, the rest keep their places; a whole new placement as
    the frame's own fit would choose covers it too; a frame over the floor is left as it is."""
    from m2fp_roto.geometry import resample_ring
    from m2fp_roto.tracking import frame_repair

    ring = resample_ring(np.array([[0.0, 0.0], [60.0, 0.0], [60.0, 12.0], [12.0, 12.0], [12.0, 60.0], [0.0, 60.0]]))
    m, n = len(ring), 10
    idx = np.round(np.linspace(0, 0.45 * m, n)).astype(np.int64)
    corner = np.zeros(n, bool)
    bunched = frame_repair.fit_alone(ring, idx, ring[idx], corner)
    assert frame_repair.overlap(bunched, ring)[1] < 0.6

    placed = frame_repair.place_again(bunched, ring, idx, ring[idx], corner, 0.5, TrackOptions().corner_angle)
    assert placed.shape == (n, 6) and frame_repair.overlap(placed, ring)[1] >= frame_repair.FLOOR_IOU
    kept = np.linalg.norm(placed[:, None, :2] - ring[idx][None], axis=-1).min(1) < 1e-9
    assert kept.sum() == n - 1  # one anchor moved
    assert np.linalg.norm(placed[0, :2] - bunched[0, :2]) < 1e-9  # numbered as before

    again = frame_repair.fit_again(ring, bunched, 0.5, TrackOptions().corner_angle)
    assert again.shape == (n, 6) and frame_repair.overlap(again, ring)[1] >= 0.97

    spread = np.round(np.linspace(0, m, n, endpoint=False)).astype(np.int64)
    good = frame_repair.fit_alone(ring, spread, ring[spread], corner)
    assert frame_repair.place_again(good, ring, spread, ring[spread], corner, 0.5, TrackOptions().corner_angle) is good


def test_a_corridor_drawn_as_a_wedge_gets_anchors_on_its_corners():
    """A part cut in two by an arm in front: on this frame its outline is the two pieces joined by
    a corridor 1 px wide (``bridge_rings``). The anchors, followed from frames where it was one
    piece, leave the corridor's corners without any, and the curve draws a wedge across what lies
    between, though it overlaps the outline more than the floor. On a frame known to join pieces,
    the anchors nearest the four corners go onto them; the point count and the other anchors
    stay."""
    from scipy.spatial import cKDTree

    from m2fp_roto.crossings import is_simple
    from m2fp_roto.geometry import resample_ring
    from m2fp_roto.tracking import frame_repair
    from m2fp_roto.tracking.corridors import Corridors, mouths

    def circle(x, y, r, angles):
        return np.c_[x + r * np.cos(angles), y - r * np.sin(angles)]

    big, small = (resample_ring(circle(x, 25, r, np.linspace(0, 2 * np.pi, 200, endpoint=False)))
                  for x, r in ((25, 22), (75, 10)))
    ring, corridors = Corridors({(1, "sleeve"): {7: {0: big, 1: small}}}).bridge(big, small, 7, 1)
    anchors = np.r_[circle(25, 25, 22, np.linspace(0.6, 2 * np.pi - 0.6, 8)), circle(75, 25, 10, [-1.2, 0, 1.2])]
    idx = np.sort(cKDTree(ring).query(anchors)[1])
    corner = np.zeros(len(idx), bool)
    wedge = frame_repair.fit_alone(ring, idx, ring[idx], corner)
    before = frame_repair.overlap(wedge, ring)[1]
    assert before >= frame_repair.FLOOR_IOU
    assert frame_repair.place_again(wedge, ring, idx, ring[idx], corner, 0.5, TrackOptions().corner_angle) is wedge

    sides = mouths(ring, corridors[0])
    assert len(sides) == 2  # both sides of the corridor, each from one piece to the other
    cornered = frame_repair.anchor_mouths(ring, idx, corner, corridors)
    for lo, hi in sides:
        for k in (lo, hi):
            assert np.linalg.norm(cornered[:, :2] - ring[k], axis=1).min() < 1e-9
    kept = np.linalg.norm(cornered[:, None, :2] - ring[idx][None], axis=-1).min(1) < 1e-9
    assert kept.sum() == len(idx) - 4
    fixed = frame_repair.close_corridor(wedge, ring, idx, ring[idx], corner, corridors)
    assert fixed.shape == wedge.shape and is_simple(fixed)
    assert frame_repair.overlap(fixed, ring)[1] >= before + frame_repair.CORRIDOR_GAIN  # measured 0.946 -> 0.994
    unknown = frame_repair.repair_frame(wedge, ring, idx, ring[idx], corner, 0.5, TrackOptions().corner_angle)
    assert np.array_equal(unknown, wedge)  # no corridor known: left as it is


def _strip(top: float, width: float, length: float = 60.0, step: float = 0.5) -> np.ndarray:
    """The outline of a horizontal strip, counter-clockwise in image space, sampled every ``step`` px."""
    corners = np.array([[0, top], [0, top + width], [length, top + width], [length, top], [0, top]])
    edges = [np.linspace(a, b, int(np.hypot(*(b - a)) / step), endpoint=False) for a, b in zip(corners, corners[1:])]
    return np.vstack(edges)


def test_a_limb_that_moves_across_more_than_its_width_keeps_its_anchors_on_their_side():
    from m2fp_roto.tracking.spacetime import local_motion

    src, dst = _strip(0.0, 4.0), _strip(5.0, 4.0)  # 4 px wide, 5 px down: the far edge is the nearer
    lower = np.flatnonzero((np.abs(src[:, 1] - 4.0) < 1e-9) & (src[:, 0] > 20) & (src[:, 0] < 40))[::8]
    upper = np.flatnonzero((np.abs(src[:, 1]) < 1e-9) & (src[:, 0] > 20) & (src[:, 0] < 40))[::8]
    for idx, edge in ((lower, 9.0), (upper, 5.0)):
        moved = local_motion(src, idx, dst, np.eye(2), np.zeros(2))
        assert np.abs(moved[:, 1] - edge).max() < 0.05, moved[:, 1]
        assert np.abs(moved[:, 0] - src[idx, 0]).max() < 0.05


def test_a_corridor_across_another_person_is_half_as_wide():
    from m2fp_roto.geometry import polygon_area, resample_ring
    from m2fp_roto.tracking.corridors import ACROSS_PERSON, WIDTH, Corridors

    def disc(x, r=5.0):
        angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
        return resample_ring(np.c_[x + r * np.cos(angles), 10 - r * np.sin(angles)])

    left, right = disc(5.0), disc(35.0)  # two pieces of person 1's arm, 20 px apart
    alone = Corridors({(1, "arm"): {7: {0: left, 1: right}}})
    crowded = Corridors({(1, "arm"): {7: {0: left, 1: right}}, (2, "torso"): {7: {0: disc(20.0, 4.0)}}})
    assert crowded.bridge(left, right, 8, 1)[1][0].width == WIDTH  # the other person is not on that frame
    pieces = abs(polygon_area(left)) + abs(polygon_area(right))
    for corridors, width in ((alone, WIDTH), (crowded, ACROSS_PERSON)):
        ring, (corridor,) = corridors.bridge(left, right, 7, 1)
        added = abs(polygon_area(ring)) - pieces
        assert abs(added - 20 * width) < 0.5, (width, added)  # the union is resampled every 0.5 px
        assert corridor.width == width and np.allclose([corridor.start, corridor.end], [[10, 10], [30, 10]], atol=0.3)


def test_a_corridor_is_drawn_a_tenth_of_a_pixel_wide():
    """The tracker follows a corridor 1 px wide; the frame is drawn with it squeezed across to
    0.1 px: 90 % of its area goes, the curve stays simple, and the points away from it keep
    every bit."""
    from m2fp_roto.bezier import flatten
    from m2fp_roto.crossings import is_simple
    from m2fp_roto.fitting import CORNER_ANGLE, find_corners, fit_ring
    from m2fp_roto.geometry import polygon_area, resample_ring
    from m2fp_roto.tracking.corridors import Corridors, narrowed

    def disc(x, r=5.0):
        angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
        return resample_ring(np.c_[x + r * np.cos(angles), 10 - r * np.sin(angles)])

    left, right = disc(5.0), disc(35.0)  # 20 px apart
    ring, drawn_corridors = Corridors({(1, "arm"): {7: {0: left, 1: right}}}).bridge(left, right, 7, 1)
    points = fit_ring(ring, 0.5, find_corners(ring, CORNER_ANGLE))
    drawn = narrowed(points, drawn_corridors)
    lost = abs(polygon_area(flatten(points))) - abs(polygon_area(flatten(drawn)))
    assert is_simple(drawn) and abs(lost - 0.9 * 20) < 2.5, lost  # measured 16.1: the mouths bend
    away = np.linalg.norm(points[:, :2] - [20, 10], axis=1) > 12
    assert away.any() and (drawn[away] == points[away]).all()
    assert (drawn[~away] != points[~away]).any()
