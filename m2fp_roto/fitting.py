"""Error-bounded cubic Bezier fitting of point runs (Schneider 1990).

P. J. Schneider, "An Algorithm for Automatically Fitting Digitized Curves", Graphics Gems (1990).
The stages are named as in the paper: chord-length parameterization, the least-squares
handle-length solve with fixed end tangents, Newton-Raphson reparameterization, and splitting
at the point of maximum error with a centre tangent there (so the join stays G1).

``fit_runs`` runs the paper's recursion breadth-first over many runs at once: every round fits
all pending spans of all runs with a handful of array operations (per-span sums are
``np.bincount`` reductions over the flattened samples), so the cost is a few dozen numpy calls
per recursion level instead of per span. ``fit_cubic`` is the single-run form. An end may be
*free* (at a corner, where no neighbour shares its tangent): its handle is then solved in both
directions, a 4x4 least-squares system per span instead of the paper's 2x2.
"""

from __future__ import annotations

import numpy as np

from .bezier import bernstein


def chord_length_parameterize(d: np.ndarray) -> np.ndarray:
    seg = np.hypot(*np.diff(d, axis=0).T)
    u = np.concatenate([[0.0], np.cumsum(seg)])
    return u / u[-1] if u[-1] > 0 else np.linspace(0.0, 1.0, len(d))


def _solve_handles(c00, c01, c11, x0, x1, chord):
    """Schneider's 2x2 solve for the handle lengths, elementwise over spans (closed form).

    Falls back to the Wu-Barsky heuristic (a third of the chord) where the system is singular
    or a handle comes out non-positive or absurdly long.
    """
    det = c00 * c11 - c01 * c01
    ok = np.abs(det) > 1e-12
    safe = np.where(ok, det, 1.0)
    alpha1 = np.where(ok, (x0 * c11 - x1 * c01) / safe, 0.0)
    alpha2 = np.where(ok, (c00 * x1 - c01 * x0) / safe, 0.0)
    eps = 1e-6 * np.maximum(chord, 1.0)
    bad = (alpha1 < eps) | (alpha2 < eps) | (alpha1 > 3 * chord + 1) | (alpha2 > 3 * chord + 1)
    alpha1 = np.where(bad, chord / 3.0, alpha1)
    alpha2 = np.where(bad, chord / 3.0, alpha2)
    return alpha1, alpha2


def generate_bezier(d: np.ndarray, u: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Least-squares handle lengths along the unit tangents t1 (start) and t2 (end)."""
    p0, p3 = d[0], d[-1]
    b = bernstein(u)
    a1 = b[:, 1:2] * t1  # (n, 2)
    a2 = b[:, 2:3] * t2
    tmp = d - (b[:, 0:1] + b[:, 1:2]) * p0 - (b[:, 2:3] + b[:, 3:4]) * p3
    chord = float(np.hypot(*(p3 - p0)))
    alpha1, alpha2 = _solve_handles((a1 * a1).sum(), (a1 * a2).sum(), (a2 * a2).sum(),
                                    (a1 * tmp).sum(), (a2 * tmp).sum(), chord)
    return np.array([p0, p0 + alpha1 * t1, p3 + alpha2 * t2, p3])


def evaluate(bez: np.ndarray, u: np.ndarray) -> np.ndarray:
    return bernstein(u) @ bez


def _newton_step(bz: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step of each u towards the closest point; ``bz`` is (n, 4, 2) per sample."""
    q1c = 3 * np.diff(bz, axis=1)  # (n, 3, 2) first-derivative control points
    q2c = 2 * np.diff(q1c, axis=1)  # (n, 2, 2)
    s = (1 - u)[:, None]
    t = u[:, None]
    q = (s**3) * bz[:, 0] + (3 * s * s * t) * bz[:, 1] + (3 * s * t * t) * bz[:, 2] + (t**3) * bz[:, 3]
    q1 = (s * s) * q1c[:, 0] + (2 * s * t) * q1c[:, 1] + (t * t) * q1c[:, 2]
    q2 = s * q2c[:, 0] + t * q2c[:, 1]
    diff = q - d
    num = (diff * q1).sum(1)
    den = (q1 * q1).sum(1) + (diff * q2).sum(1)
    step = np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-12)
    return np.clip(u - step, 0.0, 1.0)


def newton_reparameterize(bez: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step per sample towards the closest point on the curve."""
    return _newton_step(np.broadcast_to(bez, (len(u), 4, 2)), d, u)


def max_error(bez: np.ndarray, d: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    dist = ((evaluate(bez, u) - d) ** 2).sum(1)
    i = int(np.argmax(dist))
    return float(np.sqrt(dist[i])), i


def _unit_rows(v: np.ndarray) -> np.ndarray:
    n = np.hypot(v[:, 0], v[:, 1])[:, None]
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-12)


def _handle_basis(t: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two basis vectors per span for one handle: (t, 0) along a fixed tangent, (x, y) if free."""
    e_a = np.where(free[:, None], [1.0, 0.0], t)
    e_b = np.where(free[:, None], [0.0, 1.0], 0.0)
    return e_a, e_b


def fit_runs(runs, t1, t2, tolerance, iterations: int = 4, *, free1=None, free2=None) -> list[list[np.ndarray]]:
    """Fit many point runs at once; run ``k`` gets ``t1[k]`` (leaving its first point) and
    ``t2[k]`` (pointing back into it from its last point).

    ``free1[k]`` / ``free2[k]`` leave that end's handle free (both directions solved by least
    squares, the tangent only serving as fallback): the right thing at a corner, where no
    neighbour shares the tangent and a one-sided estimate of it is biased by the rounding there.

    Returns, per run, its list of (4, 2) control polygons in order, each segment within
    ``tolerance`` px of the samples it covers (parametric distance, so conservative);
    ``tolerance`` is one value or one per run.
    """
    if not len(runs):
        return []
    runs = [np.asarray(r, np.float64).reshape(-1, 2) for r in runs]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in runs])])
    if np.any(np.diff(offsets) < 2):
        raise ValueError("every run needs at least two points")
    D = np.vstack(runs)
    # The pending spans, as inclusive index ranges [a, b] into D with their end tangents.
    a, b = offsets[:-1].copy(), offsets[1:] - 1
    T1 = np.asarray(t1, np.float64).reshape(-1, 2)
    T2 = np.asarray(t2, np.float64).reshape(-1, 2)
    F1 = np.zeros(len(a), bool) if free1 is None else np.asarray(free1, bool).reshape(-1).copy()
    F2 = np.zeros(len(a), bool) if free2 is None else np.asarray(free2, bool).reshape(-1).copy()
    tol = np.broadcast_to(np.asarray(tolerance, np.float64), (len(a),)).copy()
    iters = np.zeros(len(a), np.int64)
    carried = np.zeros(0)  # Newton-refined parameters of the spans that keep theirs (listed first)
    done_a, done_bez = [], []
    while len(a):
        k = len(a)
        n = b - a + 1
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        sid = np.repeat(np.arange(k), n)
        local = np.arange(len(sid)) - starts[sid]
        d = D[a[sid] + local]
        # Chord-length parameterization of every span (used by the fresh ones).
        seg = np.zeros(len(d))
        seg[1:] = np.hypot(*np.diff(d, axis=0).T)
        seg[starts] = 0.0
        cum = np.cumsum(seg)
        cum -= cum[starts][sid]
        total = cum[starts + n - 1]
        u = np.where(total[sid] > 0, cum / np.where(total > 0, total, 1.0)[sid], local / (n - 1)[sid])
        u[: len(carried)] = carried
        # Least-squares handles: B(u) = (B0+B1) P0 + (B2+B3) P3 + B1 h1 + B2 h2 with each handle
        # h = z_a e_a + z_b e_b; the normal equations of z (4x4 per span) are summed per span.
        w = bernstein(u)
        p0, p3 = D[a], D[b]
        e1a, e1b = _handle_basis(T1, F1)
        e2a, e2b = _handle_basis(T2, F2)
        cols = [w[:, 1:2] * e1a[sid], w[:, 1:2] * e1b[sid], w[:, 2:3] * e2a[sid], w[:, 2:3] * e2b[sid]]
        rhs = d - (w[:, 0:1] + w[:, 1:2]) * p0[sid] - (w[:, 2:3] + w[:, 3:4]) * p3[sid]

        def per_span(x, y):
            return np.bincount(sid, weights=x[:, 0] * y[:, 0] + x[:, 1] * y[:, 1], minlength=k)

        normal = np.empty((k, 4, 4))
        for i in range(4):
            for j in range(i, 4):
                normal[:, i, j] = normal[:, j, i] = per_span(cols[i], cols[j])
        right = np.stack([per_span(c, rhs) for c in cols], axis=1)
        diag = np.einsum("kii->ki", normal)
        scale = diag.sum(1, keepdims=True) + 1.0
        normal += (np.eye(4) * np.where(diag <= 1e-12 * scale, 1.0, 1e-12 * scale)[:, None, :])
        z = np.linalg.solve(normal, right[..., None])[..., 0]
        h1 = z[:, 0:1] * e1a + z[:, 1:2] * e1b
        h2 = z[:, 2:3] * e2a + z[:, 3:4] * e2b
        chord = np.hypot(*(p3 - p0).T)
        eps, limit = 1e-6 * np.maximum(chord, 1.0), 3 * chord + 1
        len1, len2 = np.hypot(*h1.T), np.hypot(*h2.T)
        bad = (len1 < eps) | (len2 < eps) | (len1 > limit) | (len2 > limit)
        bad |= (~F1 & (z[:, 0] < eps)) | (~F2 & (z[:, 2] < eps))  # a fixed tangent must not flip
        h1 = np.where(bad[:, None], T1 * (chord / 3.0)[:, None], h1)  # Wu-Barsky heuristic
        h2 = np.where(bad[:, None], T2 * (chord / 3.0)[:, None], h2)
        bez = np.stack([p0, p0 + h1, p3 + h2, p3], axis=1)
        # Maximum error per span and where it is.
        miss = w[:, 1:2] * h1[sid] + w[:, 2:3] * h2[sid] - rhs  # B(u) - d
        dist = miss[:, 0] ** 2 + miss[:, 1] ** 2
        worst = np.maximum.reduceat(dist, starts)
        hits = np.flatnonzero(dist >= worst[sid])
        _, first = np.unique(sid[hits], return_index=True)
        split = local[hits[first]]
        err = np.sqrt(worst)
        ok = err < tol
        newton = ~ok & (iters < iterations) & ((iters > 0) | (err < 4 * tol))
        cut = ~ok & ~newton
        done_a.append(a[ok])
        done_bez.append(bez[ok])
        # Newton-Raphson reparameterization of the near misses, then refit them next round.
        m = newton[sid]
        carried = _newton_step(bez[sid[m]], d[m], u[m])
        # Split the rest at the worst point with the centre tangent there (a G1 join).
        s = np.clip(split[cut], 1, n[cut] - 2)
        ac, bc = a[cut], b[cut]
        centre = _unit_rows(D[ac + s - 1] - D[ac + s + 1])
        no = np.zeros(len(ac), bool)
        a = np.concatenate([a[newton], ac, ac + s])
        b = np.concatenate([b[newton], ac + s, bc])
        T1 = np.concatenate([T1[newton], T1[cut], -centre])
        T2 = np.concatenate([T2[newton], centre, T2[cut]])
        F1 = np.concatenate([F1[newton], F1[cut], no])
        F2 = np.concatenate([F2[newton], no, F2[cut]])
        iters = np.concatenate([iters[newton] + 1, np.zeros(2 * len(ac), np.int64)])
        tol = np.concatenate([tol[newton], tol[cut], tol[cut]])
    a_all = np.concatenate(done_a)
    bez_all = np.concatenate(done_bez)
    order = np.argsort(a_all, kind="stable")
    a_all, bez_all = a_all[order], bez_all[order]
    run = np.searchsorted(offsets, a_all, side="right") - 1
    cuts = np.searchsorted(run, np.arange(1, len(runs)))
    return [list(part) for part in np.split(bez_all, cuts)]


def fit_cubic(d: np.ndarray, t1: np.ndarray, t2: np.ndarray, tolerance: float,
              iterations: int = 4, *, free1: bool = False, free2: bool = False) -> list[np.ndarray]:
    """Fit the run ``d`` (n, 2) with cubic segments, each within ``tolerance`` px.

    ``t1`` leaves the first point, ``t2`` points back into the run from the last one (free
    ends: see ``fit_runs``). Returns a list of (4, 2) control polygons.
    """
    return fit_runs([d], [t1], [t2], tolerance, iterations, free1=[free1], free2=[free2])[0]


def beziers_to_points(beziers: list[np.ndarray]) -> np.ndarray:
    """Chain of segments (end of one = start of the next, closing) -> (N, 6) document points."""
    bz = np.stack(beziers)  # (N, 4, 2)
    anchors = bz[:, 0]
    out = bz[:, 1] - bz[:, 0]
    incoming = np.roll(bz[:, 2] - bz[:, 3], 1, axis=0)  # segment i-1 ends at anchor i
    return np.hstack([anchors, incoming, out])
