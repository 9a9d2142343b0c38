"""The breadth-first Schneider fit written the plain way, as the oracle of ``fitting.fit_runs``.

Every sample's arithmetic is spelled out on (N, 2) arrays with per-sample gathers, the way
``m2fp_roto.fitting.fit_runs`` first computed it. The production code reorganises that work
(contiguous coordinates, per-span values spread with ``np.repeat``, sums of the free-end columns
over the samples of free ends only) but must perform the same floating-point operations on every
sample, in the same order: the tests compare the two bit for bit. The fit is sensitive enough
(rounding noise of 1e-16 grows to about 5e-6 px through the near-singular handle solves and
Newton steps) that "close" would hide a real change.
"""

from __future__ import annotations

import numpy as np

from m2fp_roto.bezier import bernstein
from m2fp_roto.fitting import _handle_basis, chord_length_parameterize, newton_step
from m2fp_roto.geometry import unit


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
        u = chord_length_parameterize(d, starts, n, sid)  # used by the fresh spans
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
        carried = newton_step(bez[sid[m]], d[m], u[m])
        # Split the rest at the worst point with the centre tangent there (a G1 join).
        s = np.clip(split[cut], 1, n[cut] - 2)
        ac, bc = a[cut], b[cut]
        centre = unit(D[ac + s - 1] - D[ac + s + 1])
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
