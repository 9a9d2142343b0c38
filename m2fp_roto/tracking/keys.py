"""Key reduction: keys only where linear interpolation between them would leave the shape.

Greedy error-bounded insertion (Ramer-Douglas-Peucker in time): start from the first and last
frame, and while some in-between frame strays more than ``tolerance`` px from the line between
its two neighbouring keys, make the worst one a key. The error of a frame is the largest
distance between the interpolated and the true outline, point for point along the curve (the
anchors and 7 points between each pair) - what the matte shows. A Bezier point is linear in the
control points, so the interpolated keys' curve is the blend of the keys' curves; handle tips are
not measured themselves: a tip off by d moves the curve by at most 4/9 d. A shot where nothing
moves by more than the tolerance gets one key.
"""

from __future__ import annotations

import numpy as np

from ..bezier import sample

PER_SEGMENT = 8


def curve_positions(points: np.ndarray) -> np.ndarray:
    """(..., N, 6) document points -> (..., 8N, 2) points along the outline, anchors included."""
    return sample(points, PER_SEGMENT)


def interpolation_error(pos: np.ndarray, a: int, b: int, measure: str = "max") -> np.ndarray:
    """Distance (px) of frames a..b from the linear blend of frames a and b.

    ``pos`` (F, P, 2) from :func:`curve_positions`. ``measure`` "max": the farthest point;
    "rms": the root mean square over the points.
    """
    t = np.linspace(0.0, 1.0, b - a + 1)[:, None, None]
    return deviation((1.0 - t) * pos[a] + t * pos[b] - pos[a:b + 1], measure)


def deviation(diff: np.ndarray, measure: str) -> np.ndarray:
    """Per frame, the size (px) of point offsets ``diff`` (..., P, 2): "max" or "rms" over P."""
    sq = (diff**2).sum(-1)
    return np.sqrt(sq.max(-1) if measure == "max" else sq.mean(-1))


def reduce_keys(points: np.ndarray, tolerance: float, measure: str = "max") -> np.ndarray:
    """Indices (sorted) of the frames of ``points`` (F, N, 6) to keep as keys.

    >>> still = np.zeros((10, 3, 6)); still[:, :, 0] = [0, 5, 9]
    >>> reduce_keys(still, 1.0).tolist()
    [0]
    """
    f = len(points)
    pos = curve_positions(points)
    if f == 1 or deviation(pos - pos[0], measure).max() <= tolerance:
        return np.array([0])
    keep = {0, f - 1}
    spans = [(0, f - 1)]
    while spans:
        a, b = spans.pop()
        if b - a < 2:
            continue
        err = interpolation_error(pos, a, b, measure)
        k = int(np.argmax(err))
        if err[k] > tolerance:
            keep.add(a + k)
            spans += [(a, a + k), (a + k, b)]
    return np.array(sorted(keep))
