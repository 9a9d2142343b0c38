"""Error-bounded cubic Bezier fitting of point runs (Schneider 1990).

P. J. Schneider, "An Algorithm for Automatically Fitting Digitized Curves", Graphics Gems (1990).
The stages are named as in the paper: chord-length parameterization, the least-squares
handle-length solve with fixed end tangents, Newton-Raphson reparameterization, and splitting
at the point of maximum error with a centre tangent there (so the join stays G1).
Every stage is vectorised over the samples of a run.
"""

from __future__ import annotations

import numpy as np

from .bezier import bernstein


def chord_length_parameterize(d: np.ndarray) -> np.ndarray:
    seg = np.hypot(*np.diff(d, axis=0).T)
    u = np.concatenate([[0.0], np.cumsum(seg)])
    return u / u[-1] if u[-1] > 0 else np.linspace(0.0, 1.0, len(d))


def generate_bezier(d: np.ndarray, u: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Least-squares handle lengths along the unit tangents t1 (start) and t2 (end)."""
    p0, p3 = d[0], d[-1]
    b = bernstein(u)
    a1 = b[:, 1:2] * t1  # (n, 2)
    a2 = b[:, 2:3] * t2
    c00, c01, c11 = (a1 * a1).sum(), (a1 * a2).sum(), (a2 * a2).sum()
    tmp = d - (b[:, 0:1] + b[:, 1:2]) * p0 - (b[:, 2:3] + b[:, 3:4]) * p3
    x0, x1 = (a1 * tmp).sum(), (a2 * tmp).sum()
    det = c00 * c11 - c01 * c01
    chord = float(np.hypot(*(p3 - p0)))
    alpha1 = alpha2 = 0.0
    if abs(det) > 1e-12:
        alpha1 = (x0 * c11 - x1 * c01) / det
        alpha2 = (c00 * x1 - c01 * x0) / det
    eps = 1e-6 * max(chord, 1.0)
    if alpha1 < eps or alpha2 < eps or alpha1 > 3 * chord + 1 or alpha2 > 3 * chord + 1:
        alpha1 = alpha2 = chord / 3.0  # Wu-Barsky heuristic
    return np.array([p0, p0 + alpha1 * t1, p3 + alpha2 * t2, p3])


def evaluate(bez: np.ndarray, u: np.ndarray) -> np.ndarray:
    return bernstein(u) @ bez


def newton_reparameterize(bez: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step per sample towards the closest point on the curve."""
    q = evaluate(bez, u)
    q1c = 3 * np.diff(bez, axis=0)
    q2c = 2 * np.diff(q1c, axis=0)
    s = 1 - u
    q1 = (s * s)[:, None] * q1c[0] + (2 * s * u)[:, None] * q1c[1] + (u * u)[:, None] * q1c[2]
    q2 = s[:, None] * q2c[0] + u[:, None] * q2c[1]
    diff = q - d
    num = (diff * q1).sum(1)
    den = (q1 * q1).sum(1) + (diff * q2).sum(1)
    step = np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-12)
    return np.clip(u - step, 0.0, 1.0)


def max_error(bez: np.ndarray, d: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    dist = ((evaluate(bez, u) - d) ** 2).sum(1)
    i = int(np.argmax(dist))
    return float(np.sqrt(dist[i])), i


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else v


def fit_cubic(d: np.ndarray, t1: np.ndarray, t2: np.ndarray, tolerance: float,
              iterations: int = 4) -> list[np.ndarray]:
    """Fit the run ``d`` (n, 2) with cubic segments, each within ``tolerance`` px.

    ``t1`` leaves the first point, ``t2`` points back into the run from the last one.
    Returns a list of (4, 2) control polygons.
    """
    n = len(d)
    if n == 2:
        dist = float(np.hypot(*(d[1] - d[0]))) / 3.0
        return [np.array([d[0], d[0] + dist * t1, d[1] + dist * t2, d[1]])]
    u = chord_length_parameterize(d)
    bez = generate_bezier(d, u, t1, t2)
    err, split = max_error(bez, d, u)
    if err < tolerance:
        return [bez]
    if err < 4 * tolerance:
        for _ in range(iterations):
            u = newton_reparameterize(bez, d, u)
            bez = generate_bezier(d, u, t1, t2)
            err, split = max_error(bez, d, u)
            if err < tolerance:
                return [bez]
    split = int(np.clip(split, 1, n - 2))
    centre = _unit(d[split - 1] - d[split + 1])
    return (fit_cubic(d[: split + 1], t1, centre, tolerance, iterations)
            + fit_cubic(d[split:], -centre, t2, tolerance, iterations))


def beziers_to_points(beziers: list[np.ndarray]) -> np.ndarray:
    """Chain of segments (end of one = start of the next, closing) -> (N, 6) document points."""
    bz = np.stack(beziers)  # (N, 4, 2)
    anchors = bz[:, 0]
    out = bz[:, 1] - bz[:, 0]
    incoming = np.roll(bz[:, 2] - bz[:, 3], 1, axis=0)  # segment i-1 ends at anchor i
    return np.hstack([anchors, incoming, out])
