"""Closed polylines in image space: signed area, arc-length resampling, unit vectors.

Image space is y down, so a positive shoelace area means clockwise on screen (the winding of
outer shapes; holes wind the other way).
"""

from __future__ import annotations

import numpy as np


def polygon_area(xy: np.ndarray) -> float:
    """Signed shoelace area; positive for clockwise on screen (image space, y down)."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def resample_ring(xy: np.ndarray, spacing: float = 0.5, count: int | None = None) -> np.ndarray:
    """Uniform arc-length samples of a closed polyline, from its first point on.

    ``count`` samples if given, else one every ``spacing`` px (at least 8).
    """
    closed = np.vstack([xy, xy[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = count if count is not None else max(int(np.ceil(s[-1] / spacing)), 8)
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` (..., D) scaled to unit length along its last axis; zero vectors stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-12)
