"""One tracked frame put right on its own outline: made simple where the curve crosses itself,
fitted on its own where the smoothing in time pulled it off (see :func:`.track.track_shape`)."""

from __future__ import annotations

import numpy as np

from ..bezier import flatten, row_crossings
from ..crossings import crossing_segments, untangle
from ..geometry import ring_length
from .outline import curves, increasing, ring_at

#: A tracked frame whose curve strays farther than this (px) from its own outline on average
#: along it, or overlaps it less than this (IoU; small parts), is fitted on its own instead:
#: the smoothing in time cost it its shape there.
FAITHFUL_PX, FAITHFUL_IOU = 0.5, 0.8


def unfaithful(points: np.ndarray, ring: np.ndarray) -> float:
    """How far the closed curve of ``points`` is from the polygon ``ring``, as a multiple of
    what is allowed (> 1: too far): its mean distance (the pixel centres inside one and not
    the other, per px of the ring's length) over ``FAITHFUL_PX``, or its IoU's shortfall."""
    curve = flatten(points)
    lo = np.floor(np.minimum(curve.min(0), ring.min(0))) - 1
    size = tuple(np.ceil(np.maximum(curve.max(0), ring.max(0)) - lo + 1).astype(int)[::-1])
    # The pixel counts of fill_polygons' masks a and b, from where each row's parity toggles
    # (no raster): a ^ b toggles where either does, and |a | b| = (|a| + |b| + |a ^ b|) / 2.
    (ra, ca), (rb, cb) = row_crossings(curve - lo, size), row_crossings(ring - lo, size)
    apart = _inside(np.concatenate([ra, rb]), np.concatenate([ca, cb]), size[1])
    union = (_inside(ra, ca, size[1]) + _inside(rb, cb, size[1]) + apart) // 2
    length = max(ring_length(ring), 1.0)
    iou = 1.0 - apart / union if union else 1.0
    return max(apart / length / FAITHFUL_PX, (1.0 - iou) / (1.0 - FAITHFUL_IOU))


def _inside(rows: np.ndarray, cols: np.ndarray, width: int) -> int:
    """Pixels inside by the even-odd rule, from the parity toggles at ``rows``, ``cols``
    (``bezier.row_crossings``): per row, the columns between the 1st and 2nd toggle, the 3rd and
    4th, ... (a row left odd runs to ``width``, as a raster's would)."""
    odd = np.flatnonzero(np.bincount(rows) & 1)
    keys = np.sort(np.concatenate([rows * (width + 1) + cols, odd * (width + 1) + width]))
    return int((keys[1::2] - keys[0::2]).sum())


def fit_alone(ring: np.ndarray, idx: np.ndarray, anchors: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """(N, 6) points through ``anchors`` with handles fitted to this one frame's ``ring``
    (``idx``: the anchors' sample indices), nothing smoothed in time."""
    return curves({0: ring}, {0: idx}, anchors[None], corner[None], 0, np.ones(1, bool), 0.0)[0][0]


def make_simple(points: np.ndarray, ring: np.ndarray, idx: np.ndarray, on: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """One frame's points made simple: handles shrunk where the curve crosses itself
    (``crossings.untangle``); where the anchors themselves cross (a notch narrower than their
    spacing), the anchors exactly on the outline with this frame's own handles, then the few
    anchors around each crossing spread evenly along the outline between their neighbours."""
    points, simple = untangle(points)
    if simple:
        return points
    m, n = len(ring), len(idx)
    u = idx.astype(np.float64)
    anchors = on
    for _ in range(4):
        curve, simple = untangle(fit_alone(ring, nearest_samples(u, m), anchors, corner))
        if simple:
            return curve
        for i, j in crossing_segments(curve):
            if (j - i) % n > n // 2:
                i, j = j, i
            lo, hi = i - 1, i + (j - i) % n + 2  # anchors lo+1 .. hi-1 move; lo and hi stay
            if hi - lo >= n:
                continue
            start = u[lo % n] - m * (lo < 0)
            span = (u[hi % n] + m * (hi >= n) - start) % m
            for k in range(lo + 1, hi):
                u[k % n] = start + span * (k - lo) / (hi - lo) + m * ((k < 0) - (k >= n))
        u = increasing(u, m)
        anchors = ring_at(ring, u)
        corner = np.zeros(n, bool)
    # Last resort: the anchors evenly spread along this frame's outline from the first one.
    u = u[0] + np.arange(n) * m / n
    curve, simple = untangle(fit_alone(ring, nearest_samples(u, m), ring_at(ring, u), np.zeros(n, bool)))
    return curve if simple else points


def nearest_samples(u: np.ndarray, m: int) -> np.ndarray:
    """Increasing unwrapped sample indices nearest to the continuous positions ``u``."""
    idx = np.round(u).astype(np.int64)
    idx = np.where(idx < idx[0], idx + m, idx)
    return np.maximum.accumulate(idx)
