"""Identity over a shot on its own: blobs, match costs and the Hungarian linking
(m2fp_roto.tracking.association)."""

import numpy as np

from m2fp_roto.tracking.association import associate, blob, iou, match_cost

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


def test_preferred_labels_and_gaps():
    """Input ids are kept when free; a blob missing for up to max_gap frames keeps its track,
    one missing longer starts a new one."""
    seen = [0, 1, 3, 8]  # a gap of one frame (2), then of four (4-7)
    frames = {f: [blob(5, [square(50 + f, 50)], WIDTH)] for f in seen}
    tracks = associate(frames, max_gap=2, preferred=lambda b: int(b.key))
    by_label = {t.label: sorted(t.members) for t in tracks}
    assert by_label == {5: [0, 1, 3], 1: [8]}  # the second track cannot take 5 again
