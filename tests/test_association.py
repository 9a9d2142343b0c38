"""Identity over a shot on its own: blobs, match costs and the Hungarian linking
(m2fp_roto.tracking.association)."""

import numpy as np

from m2fp_roto.tracking.association import associate, blob, identify_people, iou, match_cost
from m2fp_roto.vectorize import Contour

WIDTH = 200  # coarse grid cells per row, enough for these rings


def square(x, y, size=40.0):
    return np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], float)


def test_blob_area_centroid_and_overlap():
    a = blob("a", [square(10, 10)], WIDTH)
    b = blob("b", [square(30, 10)], WIDTH)
    assert a.area == 1600.0 and np.allclose(a.centroid, [30, 30], atol=1e-9)
    assert 0.2 < iou(a, b) < 0.45  # half overlapping squares: IoU 1/3 on the fine grid
    assert iou(a, a) == 1.0


def test_match_cost_refuses_far_jumps_and_specks():
    a = blob("a", [square(10, 10)], WIDTH)
    near = blob("n", [square(18, 10)], WIDTH)
    far = blob("f", [square(400, 10)], WIDTH)
    speck = blob("s", [square(20, 20, size=5.0)], WIDTH)
    assert np.isfinite(match_cost(a, near, 1))
    assert match_cost(a, far, 1) == np.inf
    assert match_cost(a, speck, 1) == np.inf  # a speck is not the part it sits beside
    assert match_cost(a, near, 1) < match_cost(a, blob("m", [square(40, 10)], WIDTH), 1)


def test_a_part_that_merged_does_not_leap_to_a_smaller_piece_beside_it():
    """A shin merged into the body: the piece of a quarter its size beside it, not overlapping
    where the shin was, is another region, and starts a track of its own; a piece of a like size
    there may be the shin moved fast. A shoe gone behind the other leg, only a sliver of it left
    in sight, has nothing else to land on: the sliver continues it."""
    shin = blob("a", [square(10, 10)], WIDTH)
    beside = blob("b", [square(58, 10, size=15.0)], WIDTH)
    moved = blob("c", [square(58, 10, size=30.0)], WIDTH)
    assert iou(shin, beside) == 0.0 and iou(shin, moved) == 0.0
    assert match_cost(shin, beside, 1) == np.inf
    assert np.isfinite(match_cost(shin, moved, 1))
    assert np.isfinite(match_cost(shin, beside, 1, leap=0.0))  # holes may leap (``track.component_tracks``)

    body = square(10, 100, size=80.0)
    merged = {0: [blob("shin", [square(10, 10)], WIDTH), blob("body", [body], WIDTH)],
              1: [blob("body", [np.array([[10, 5], [90, 5], [90, 180], [10, 180]], float)], WIDTH),
                  blob("speck", [square(58, 10, size=15.0)], WIDTH)]}
    tracks = {t.members[min(t.members)]: t.members for t in associate(merged, max_gap=2, width=WIDTH)}
    assert tracks["shin"] == {0: "shin"} and tracks["speck"] == {1: "speck"}
    hidden = {0: [blob("shoe", [square(10, 10)], WIDTH)], 1: [blob("sliver", [square(58, 10, size=15.0)], WIDTH)]}
    assert [t.members for t in associate(hidden, max_gap=2, width=WIDTH)] == [{0: "shoe", 1: "sliver"}]


def test_associate_follows_overlap_whatever_the_keys():
    """Two people walking apart, numbered differently on every frame by the detector."""
    frames = {}
    for f in range(6):
        left, right = square(100 - 5 * f, 50), square(200 + 5 * f, 50)
        keys = (1, 2) if f % 2 == 0 else (7, 3)
        frames[f] = [blob(keys[0], [left], WIDTH), blob(keys[1], [right], WIDTH)]
    tracks = associate(frames, max_gap=2)
    assert len(tracks) == 2
    members = sorted(tuple(t.members[f] for f in range(6)) for t in tracks)
    assert members == [(1, 7, 1, 7, 1, 7), (2, 3, 2, 3, 2, 3)]


def test_gaps_and_order_of_first_appearance():
    """A blob missing for up to max_gap frames keeps its track, one missing longer starts a new
    one; tracks are numbered 1, 2, ... in order of first appearance."""
    seen = [0, 1, 3, 8]  # a gap of one frame (2), then of four (4-7)
    frames = {f: [blob(5, [square(50 + f, 50)], WIDTH)] for f in seen}
    tracks = associate(frames, max_gap=2)
    assert {t.label: sorted(t.members) for t in tracks} == {1: [0, 1, 3], 2: [8]}


def _person(key, x, y=50.0):
    ring = square(x, y, 60.0)[::-1]  # outer rings wind clockwise on screen
    return Contour(key, "torso", 0, 0, np.zeros((4, 6)), ring, 3600.0)


def test_people_numbered_in_order_of_first_appearance_whatever_the_detector_ids():
    """A detector numbering the same two people 4/7, then 5/8, 5/6, 6/7 (left/right): two people,
    kept apart, numbered 1 (left) and 2 (right), not 4 and 7."""
    ids = [(4, 7), (5, 8), (5, 6), (6, 7)]
    per_frame = {10 + f: [_person(a, 100 + 3 * f), _person(b, 300 - 3 * f)] for f, (a, b) in enumerate(ids)}
    mapping = identify_people(per_frame, max_gap=2)
    for f, (a, b) in enumerate(ids):
        assert mapping[10 + f] == {a: 1, b: 2}


def test_consistent_ids_are_kept_and_renumbered_from_one():
    """Ids 3 and 9 on every frame (consistent): each id is one person, numbered by first appearance."""
    per_frame = {f: [_person(9, 100 + 2 * f)] + ([_person(3, 300)] if f >= 2 else []) for f in range(5)}
    mapping = identify_people(per_frame, max_gap=2)
    assert all(m[9] == 1 for m in mapping.values())
    assert all(mapping[f][3] == 2 for f in range(2, 5))
