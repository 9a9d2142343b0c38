"""Outlines that cross themselves: finding the crossing segments, and untangling them.

A closed outline that crosses itself renders as a fold or a hole in the matte (Nuke and After
Effects fill it by winding), and an artist has to find and pull it straight by hand. Curves
are tested as an outsider would: sampled at most ``spacing`` px apart (``bezier.sample_spaced``),
every non-adjacent pair of sample edges tested for contact (shapely's STRtree, in C).

``untangle`` repairs a crossing outline without moving its anchors: the handles of the
segments involved shrink step by step towards the straight chord, which a cubic with short
handles follows without looping. Only an outline whose anchor polygon itself crosses stays
crossed (the caller moves anchors then, see ``tracking.outline``).
"""

from __future__ import annotations

import numpy as np

from .bezier import sample_spaced

SPACING = 0.5  # px between curve samples when testing for crossings


def _edges(points: np.ndarray, spacing: float):
    """Sample edges of the closed curve as (E, 2, 2), the segment each lies on (E,), repeats dropped."""
    xy, seg = sample_spaced(points, spacing, segments=True)
    keep = np.any(np.abs(np.diff(xy, axis=0, append=xy[:1])) > 1e-9, axis=1)
    xy, seg = xy[keep], seg[keep]
    return np.stack([xy, np.roll(xy, -1, axis=0)], axis=1), seg


def is_simple(points: np.ndarray, spacing: float = SPACING) -> bool:
    """Whether the closed curve of ``points`` (N, 6) neither crosses nor touches itself."""
    from shapely.geometry import LinearRing

    xy = sample_spaced(points, spacing)
    return len(xy) < 3 or LinearRing(xy).is_simple


def crossing_segments(points: np.ndarray, spacing: float = SPACING) -> np.ndarray:
    """(K, 2) pairs of curve segments (i <= j) that cross or touch each other; (i, i) is a loop
    within one segment. Adjacent sample edges, which share their end, do not count.

    The tree finds the edges whose boxes meet (a few per edge on a curve, most of them its
    neighbours); shapely's exact predicate then tests only the non-adjacent ones, not every
    pair the boxes give."""
    import shapely

    edges, seg = _edges(points, spacing)
    e = len(edges)
    if e < 4:
        return np.zeros((0, 2), np.int64)
    lines = shapely.linestrings(edges)
    a, b = shapely.STRtree(lines).query(lines)
    gap = (b - a) % e
    near = (a < b) & (gap > 1) & (gap < e - 1)
    a, b = a[near], b[near]
    hit = shapely.intersects(lines[a], lines[b])
    pairs = np.sort(np.column_stack([seg[a[hit]], seg[b[hit]]]), axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.int64)


def untangle(points: np.ndarray, rounds: int = 5, spacing: float = SPACING) -> tuple[np.ndarray, bool]:
    """``points`` with the handles of crossing segments shrunk until the outline is simple.

    Each round halves the handles of every segment in a crossing pair and of its neighbours
    (a loop is often made by the handles next to it); the last round drops them. Returns the
    points and whether the outline is simple now (False: the anchors themselves cross).
    """
    p = np.array(points, np.float64)
    n = len(p)
    for r in range(rounds + 1):
        if is_simple(p, spacing):
            return p, True
        if r == rounds:
            break
        pairs = crossing_segments(p, spacing)
        if not len(pairs):  # touching only where the sampling of is_simple sees it
            pairs = np.arange(n)[:, None].repeat(2, 1)
        bad = np.unique(pairs)
        bad = np.unique(np.concatenate([bad, (bad - 1) % n, (bad + 1) % n]))
        factor = 0.0 if r == rounds - 1 else 0.5
        p[bad, 4:6] *= factor  # out of anchor i: segment i's first handle
        p[(bad + 1) % n, 2:4] *= factor  # into anchor i+1: segment i's second handle
    return p, False
