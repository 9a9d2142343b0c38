"""Closed iso-lines of a 2-D field by marching squares (Lorensen and Cline 1987), in numpy.

``closed_isolines(field, level)`` returns exactly what
``skimage.measure.find_contours(field, level, positive_orientation="high")`` returns for a
field whose iso-lines all close (the vectorizer pads its crops so that they do): the same
rings, each starting at the same vertex, in the same order, with the same coordinates to
the last bit. scikit-image joins the segments in a Python loop, one dictionary operation per
segment, which costs more than everything else in tracing a region; here the joins are array
operations, so the cost follows the length of the outlines.

The stages:

1. ``square_segments`` - the segments of every square the level crosses, in scan order,
   each from one crossed cell edge to another (scikit-image's case table, with saddles
   joined as ``fully_connected="low"``: values above the level are 4-connected).
2. ``link`` - each segment's successor is the one that starts on the edge where it ends.
3. ``order_rings`` - rings by pointer jumping over the successors (Wyllie's list ranking):
   a ring's label is its first segment in scan order, and, as scikit-image assembles them,
   it starts where its last segment in scan order ends; rings come in the order of their
   first segments.

Where the result could differ from scikit-image's (a value exactly at the level, where
iso-lines meet at a grid point; a non-finite value; an iso-line that leaves the array) the
function calls scikit-image itself.
"""

from __future__ import annotations

import numpy as np

# Marching-squares cases: bit 1 upper-left, 2 upper-right, 4 lower-left, 8 lower-right above
# the level. Cell edges of a square: 0 top, 1 bottom, 2 left, 3 right. Each case lists its
# segments (from edge, to edge) with the lower values on the left of the direction of travel;
# saddles 6 and 9 keep the values above the level apart.
_T, _B, _L, _R = range(4)
_CASES = {1: [(_T, _L)], 2: [(_R, _T)], 3: [(_R, _L)], 4: [(_L, _B)], 5: [(_T, _B)], 6: [(_R, _T), (_L, _B)],
          7: [(_R, _B)], 8: [(_B, _R)], 9: [(_T, _L), (_B, _R)], 10: [(_B, _T)], 11: [(_B, _L)],
          12: [(_L, _R)], 13: [(_T, _R)], 14: [(_L, _T)]}
_COUNT = np.zeros(16, np.int64)
_FROM = np.zeros((16, 2), np.int64)
_TO = np.zeros((16, 2), np.int64)
for _case, _segments in _CASES.items():
    _COUNT[_case] = len(_segments)
    for _j, (_a, _b) in enumerate(_segments):
        _FROM[_case, _j], _TO[_case, _j] = _a, _b


def square_segments(above: np.ndarray, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(from_edge, to_edge)`` ids of every segment, in scikit-image's scan order.

    ``above`` is the (R, C) bool array ``field > level``. Cell edges are numbered
    horizontal first, ``r * (C - 1) + c`` for the edge from (r, c) to (r, c + 1), then
    vertical, ``R * (C - 1) + r * C + c`` for the edge from (r, c) to (r + 1, c); ``offset``
    is added to every id (to tell the edges of several arrays apart).
    """
    rows, cols = above.shape
    u = above.view(np.uint8)
    case = u[:-1, :-1] | (u[:-1, 1:] << 1) | (u[1:, :-1] << 2) | (u[1:, 1:] << 3)
    square = np.flatnonzero((case - np.uint8(1)) < 14)  # neither 0 nor 15 (uint8 wraps 0 to 255)
    kind = case.reshape(-1)[square].astype(np.intp)
    saddle = np.flatnonzero(_COUNT[kind] == 2)
    if len(saddle):  # a saddle's second segment follows its first
        square = np.insert(square, saddle + 1, square[saddle])
        which = np.zeros(len(square), np.intp)
        which[saddle + np.arange(1, len(saddle) + 1)] = 1
        kind = np.insert(kind, saddle + 1, kind[saddle])
    else:
        which = 0
    r, c = np.divmod(square, cols - 1)
    vertical = rows * (cols - 1)
    # side s of square (r, c) is edge base[s] + r * stride[s] + c (top, bottom, left, right)
    base = np.array([0, cols - 1, vertical, vertical + 1]) + offset
    stride = np.array([cols - 1, cols - 1, cols, cols])
    a, b = _FROM[kind, which], _TO[kind, which]
    return base[a] + r * stride[a] + c, base[b] + r * stride[b] + c


def edge_points(field: np.ndarray, edges: np.ndarray, level: float) -> np.ndarray:
    """(row, col) where the level crosses each cell edge (ids as in ``square_segments``),
    interpolated as scikit-image does; a bool ``field`` is crossed half-way along every edge."""
    rows, cols = field.shape
    vertical = rows * (cols - 1)
    horizontal = edges < vertical
    r_h, c_h = np.divmod(edges, cols - 1)
    r_v, c_v = np.divmod(edges - vertical, cols)
    if field.dtype == bool:
        frac = 0.5  # (0.5 - 0) / (1 - 0) and (0.5 - 1) / (0 - 1)
    else:
        flat = field.reshape(-1)
        a = np.where(horizontal, r_h * cols + c_h, r_v * cols + c_v)  # the edge's first vertex
        fa, fb = flat[a], flat[a + np.where(horizontal, 1, cols)]
        frac = (level - fa) / (fb - fa)
    return np.column_stack([np.where(horizontal, r_h, r_v + frac), np.where(horizontal, c_h + frac, c_v)])


def link(from_edge: np.ndarray, to_edge: np.ndarray) -> np.ndarray | None:
    """Successor of every segment (the one starting where it ends), or None where a line is
    open or two lines meet."""
    order = np.argsort(from_edge)
    ordered = from_edge[order]
    if np.any(ordered[1:] == ordered[:-1]):  # two lines meet at a grid point
        return None
    succ = order[np.minimum(np.searchsorted(ordered, to_edge), len(order) - 1)]
    return None if np.any(from_edge[succ] != to_edge) else succ


def order_rings(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments ring by ring as scikit-image assembles them, and where each ring begins.

    Returns ``(order, bounds)``: ``order[bounds[i]:bounds[i + 1]]`` are ring i's segments
    from its first point on; rings in the order of their first segments.
    """
    n = len(succ)
    index = np.arange(n)
    rounds = max(n - 1, 1).bit_length()  # 2**rounds >= n >= the longest ring
    low, high, jump = index, index, succ
    for _ in range(rounds):  # after round j each label has seen 2**j segments of its ring
        low, high, jump = np.minimum(low, low[jump]), np.maximum(high, high[jump]), jump[jump]
    # A ring starts after its last segment in scan order: rank every segment by its distance
    # to that one (list ranking, ended by a self-loop there).
    last = high == index
    step = (~last).astype(np.intp)
    nxt = np.where(last, index, succ)
    for _ in range(rounds):
        step, nxt = step + step[nxt], nxt[nxt]
    order = np.lexsort((-step, low))
    first = low[order]
    bounds = np.flatnonzero(np.concatenate([[True], first[1:] != first[:-1], [True]]))
    return order, bounds


def closed_isolines(field: np.ndarray, level: float = 0.5) -> list[np.ndarray]:
    """The iso-lines of ``field`` at ``level`` as scikit-image's ``find_contours`` gives them
    with ``positive_orientation="high"``: closed (N + 1, 2) (row, col) arrays, the first point
    repeated at the end, the higher values on the left of the direction of travel.

    A bool ``field`` is a mask (True = 1, False = 0, ``level`` 0.5: every crossing is half-way
    along a cell edge).

    >>> ring, = closed_isolines(np.pad(np.ones((1, 1), bool), 1))
    >>> ring.tolist()
    [[1.5, 1.0], [1.0, 1.5], [0.5, 1.0], [1.0, 0.5], [1.5, 1.0]]
    """
    return closed_isolines_many([field], level)[0]


def closed_isolines_many(fields, level: float = 0.5) -> list[list[np.ndarray]]:
    """``closed_isolines`` of several fields, their rings joined and ordered in one batch."""
    out: list = [None] * len(fields)
    batch, edges, offset = [], [], 0
    for i, field in enumerate(fields):
        if field.dtype != bool:
            field = np.asarray(field, np.float64)
            if (field.ndim != 2 or min(field.shape) < 2 or not np.isfinite(field).all()
                    or np.any(field == level)):  # not a case where the rings are certain to match
                out[i] = _skimage(field, level)
                continue
        elif level != 0.5:
            raise ValueError("a bool field has its iso-line at 0.5")
        above = field if field.dtype == bool else field > level
        from_edge, to_edge = square_segments(np.ascontiguousarray(above), offset)
        batch.append((i, field, offset, len(from_edge)))
        edges.append((from_edge, to_edge))
        offset += above.shape[0] * (above.shape[1] - 1) + (above.shape[0] - 1) * above.shape[1]
    if not batch:
        return out
    from_edge = np.concatenate([e[0] for e in edges])
    to_edge = np.concatenate([e[1] for e in edges])
    if not len(from_edge):
        for i, *_ in batch:
            out[i] = []
        return out
    succ = link(from_edge, to_edge)
    if succ is None:  # an open line somewhere: scikit-image decides, field by field
        for i, field, _, _ in batch:
            out[i] = _skimage(field.astype(np.float64), level) if field.dtype == bool else _skimage(field, level)
        return out
    order, bounds = order_rings(succ)
    ring_first = order[bounds[:-1]]  # fields' segments are consecutive: a ring's first tells its field
    seg_start = np.cumsum([0] + [n for *_, n in batch])
    which = np.searchsorted(seg_start, ring_first, side="right") - 1
    for j, (i, field, off, _) in enumerate(batch):
        rings = np.flatnonzero(which == j)
        if not len(rings):
            out[i] = []
            continue
        a, b = bounds[rings[0]], bounds[rings[-1] + 1]
        points = edge_points(field, from_edge[order[a:b]] - off, level)
        cuts = bounds[rings[0]:rings[-1] + 2] - a
        out[i] = [np.concatenate([points[s:e], points[s:s + 1]])[::-1] for s, e in zip(cuts[:-1], cuts[1:])]
    return out


def _skimage(values, level):
    from skimage.measure import find_contours

    return find_contours(values, level, positive_orientation="high")


__all__ = ["closed_isolines", "closed_isolines_many", "edge_points", "link", "order_rings", "square_segments"]
