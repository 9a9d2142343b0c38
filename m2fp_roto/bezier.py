"""Closed cubic Bezier shapes in the document's point form ``[x, y, in_dx, in_dy, out_dx, out_dy]``.

Segment i runs from anchor i to anchor i+1 (wrapping) with control points
``P_i + out_i`` and ``P_{i+1} + in_{i+1}``.
"""

from __future__ import annotations

import numpy as np


def control_points(points: np.ndarray) -> np.ndarray:
    """(..., N, 4, 2) control polygons of the N closed segments of (..., N, 6) points."""
    p = np.asarray(points, dtype=np.float64)
    a = p[..., :2]
    b = np.roll(a, -1, axis=-2)
    return np.stack([a, a + p[..., 4:6], b + np.roll(p[..., 2:4], -1, axis=-2), b], axis=-2)


def bernstein(t: np.ndarray) -> np.ndarray:
    """(len(t), 4) cubic Bernstein weights."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    s = 1.0 - t
    return np.hstack([s**3, 3 * s * s * t, 3 * s * t * t, t**3])


def sample(points: np.ndarray, per_segment: int = 16) -> np.ndarray:
    """A closed polyline through the curve: (..., N * per_segment, 2), without the closing repeat.

    Sample ``per_segment * i`` is anchor i.
    """
    cps = control_points(points)
    w = bernstein(np.arange(per_segment) / per_segment)
    return np.einsum("tk,...nkd->...ntd", w, cps).reshape(*cps.shape[:-3], -1, 2)


def sample_spaced(points: np.ndarray, spacing: float = 0.5, segments: bool = False):
    """A closed polyline through the curve with samples at most ``spacing`` px apart (M, 2).

    Each segment gets its own count: a cubic's speed is at most 3x its longest control-polygon
    leg, so that many steps per ``spacing`` bound the gap between samples. Anchors are samples.
    ``segments``: also return the segment (M,) each sample lies on.
    """
    cps = control_points(points)  # (N, 4, 2)
    legs = np.linalg.norm(np.diff(cps, axis=1), axis=-1).max(1)
    counts = np.maximum(np.ceil(3.0 * legs / spacing).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(cps)), counts)
    t = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / counts[seg]
    xy = np.einsum("sk,skd->sd", bernstein(t), cps[seg])
    return (xy, seg) if segments else xy


def flatten(points: np.ndarray, tolerance: float = 0.05) -> np.ndarray:
    """A closed polyline within about ``tolerance`` px of the curve (adaptive per segment count)."""
    cps = control_points(points)
    # Second-difference bound on a cubic: the chord error of n steps is <= 3/4 * max|d2| / n^2.
    d2 = np.abs(cps[:, 0] - 2 * cps[:, 1] + cps[:, 2]).max() if len(cps) else 0.0
    d2 = max(d2, np.abs(cps[:, 1] - 2 * cps[:, 2] + cps[:, 3]).max() if len(cps) else 0.0)
    n = int(np.clip(np.ceil(np.sqrt(6 * d2 / (8 * max(tolerance, 1e-3)))), 4, 256))
    return sample(points, n)


def fill_polygons(polygons, shape) -> np.ndarray:
    """Even-odd fill of closed polylines, sampled exactly at pixel centres: (H, W) bool.

    Pixel (i, j) is inside when its centre (j + 0.5, i + 0.5) is enclosed an odd number of
    times. Vectorised over edges: each edge toggles parity from the first pixel centre right
    of where it crosses a row's centre line.
    """
    h, w = shape
    toggles = np.zeros((h, w + 1), np.int32)
    for xy in polygons:
        row, col = row_crossings(xy, shape)
        np.add.at(toggles, (row, col), 1)
    return (np.cumsum(toggles, axis=1)[:, :w] & 1).astype(bool)


def row_crossings(xy, shape) -> tuple[np.ndarray, np.ndarray]:
    """Where the closed polyline ``xy`` toggles ``fill_polygons``' parity: (rows, columns) of
    the first pixel centre right of each crossing of a row's centre line (columns up to W)."""
    h, w = shape
    xy = np.asarray(xy, np.float64)
    a, b = xy, np.concatenate([xy[1:], xy[:1]])  # each edge's end (np.roll(xy, -1), cheaper)
    lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    r0 = np.clip(np.ceil(lo - 0.5), 0, h).astype(np.int64)  # first row centre >= lo
    r1 = np.clip(np.ceil(hi - 0.5), 0, h).astype(np.int64)  # rows < r1 have centre < hi
    n = np.maximum(r1 - r0, 0)
    edge = np.repeat(np.arange(len(xy)), n)
    row = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + r0[edge]
    yc = row + 0.5
    t = (yc - a[edge, 1]) / (b[edge, 1] - a[edge, 1])
    x = a[edge, 0] + t * (b[edge, 0] - a[edge, 0])
    return row, np.clip(np.floor(x - 0.5).astype(np.int64) + 1, 0, w)


def rasterize(outers, holes=(), shape=None) -> np.ndarray:
    """Binary mask (pixel-centre sampling) of the union of ``outers`` minus the union of ``holes``.

    Each item is an (N, 6) point array; ``shape`` is (height, width).
    """
    mask = np.zeros(shape, bool)
    for p in outers:  # one fill each: overlapping outer shapes must not cancel out
        mask |= fill_polygons([flatten(p)], shape)
    for p in holes:
        mask &= ~fill_polygons([flatten(p)], shape)
    return mask
