"""Error-bounded cubic Bezier fitting of point runs and closed rings (Schneider 1990).

P. J. Schneider, "An Algorithm for Automatically Fitting Digitized Curves", Graphics Gems (1990).
The stages are named as in the paper: chord-length parameterization, the least-squares
handle-length solve with fixed end tangents (falling back to Wu and Barsky's third of the
chord), Newton-Raphson reparameterization, and splitting at the point of maximum error with a
centre tangent there (so the join stays G1).

- ``fit_runs`` runs the paper's recursion breadth-first over many runs at once: every round
  fits all pending spans of all runs with a handful of array operations (per-span sums are
  ``np.bincount`` reductions over the flattened samples), so the cost is a few dozen numpy
  calls per recursion level instead of per span. An end may be *free* (at a corner, where no
  neighbour shares its tangent): its handle is then solved in both directions, a 4x4
  least-squares system per span instead of the paper's 2x2. ``fit_cubic`` is the single-run form.
- ``fit_rings`` fits closed rings: breaks at the corners ``find_corners`` finds (handles free
  there), a ring without corners opened at its top-most sample and the opposite one.
- ``fit_handles`` is the paper's handle solve and reparameterization alone, for anchors that
  are already placed (tracking places them on every frame): every segment of a ring at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from .bezier import bernstein
from .geometry import unit

#: Turning angle (degrees) above which an anchor stays a sharp corner.
CORNER_ANGLE = 70.0


def chord_length_parameterize(d: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                              span: np.ndarray) -> np.ndarray:
    """Parameters in [0, 1] of the samples ``d`` (flattened spans) by cumulative chord length.

    Span k holds ``d[starts[k]:starts[k] + counts[k]]``; ``span`` names each sample's span. A
    span of zero length is parameterized evenly.
    """
    step = np.zeros(len(d))
    step[1:] = np.hypot(*np.diff(d, axis=0).T)
    step[starts] = 0.0
    cum = np.cumsum(step)
    cum -= cum[starts][span]
    length = cum[starts + counts - 1]
    local = np.arange(len(d)) - starts[span]
    return np.divide(cum, length[span], out=local / np.maximum(counts[span] - 1, 1), where=length[span] > 1e-9)


def solve_handle_lengths(c00, c01, c11, x0, x1, chord):
    """Schneider's 2x2 solve for the handle lengths along fixed tangents, elementwise over spans.

    ``c..``/``x.`` are the normal equations' sums. Falls back to the Wu-Barsky heuristic (a third
    of the chord) where the system is singular or a length comes out non-positive or absurd.
    """
    det = c00 * c11 - c01 * c01
    ok = np.abs(det) > 1e-12
    safe = np.where(ok, det, 1.0)
    alpha1 = np.where(ok, (x0 * c11 - x1 * c01) / safe, 0.0)
    alpha2 = np.where(ok, (c00 * x1 - c01 * x0) / safe, 0.0)
    eps = 1e-6 * np.maximum(chord, 1.0)
    bad = (alpha1 < eps) | (alpha2 < eps) | (alpha1 > 3 * chord + 1) | (alpha2 > 3 * chord + 1)
    return np.where(bad, chord / 3.0, alpha1), np.where(bad, chord / 3.0, alpha2)


def newton_step(bz: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step of each u towards the closest curve point; ``bz`` is (n, 4, 2) per sample."""
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


# -- closed rings ------------------------------------------------------------------------------
def find_corners(xy: np.ndarray, angle_deg: float, span: int = 10) -> np.ndarray:
    """Indices of sharp corners: turning angle between chords over ``span`` samples."""
    a = xy - np.roll(xy, span, axis=0)
    b = np.roll(xy, -span, axis=0) - xy
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    turn = np.degrees(np.abs(np.arctan2(cross, (a * b).sum(1))))
    # Non-maximum suppression within +-span samples; a tiny ramp makes the first sample of a
    # plateau its one peak.
    ranked = turn - 1e-9 * np.arange(len(turn))
    peak = (turn >= angle_deg) & (ranked >= maximum_filter1d(ranked, 2 * span + 1, mode="wrap"))
    return np.flatnonzero(peak)


def _end_tangent(xy: np.ndarray, i: int, step: int) -> np.ndarray:
    """Unit direction from sample ``i`` towards sample ``i + step`` (wrapping)."""
    v = xy[(i + step) % len(xy)] - xy[i]
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else np.array([1.0, 0.0])


def ring_spans(xy: np.ndarray, corners: np.ndarray, start: int | None = None):
    """The runs between a ring's breaks: [(run, t1, t2, free1, free2), ...].

    Breaks are the corners, where the handles are free (see ``fit_runs``) and one-sided
    tangents only serve as fallback; a ring without corners is opened at ``start``
    (default: the top-most sample, then left-most) and at the opposite sample, with centre
    tangents there.
    """
    m = len(xy)
    corners = np.asarray(corners, np.int64) % m
    if len(corners):
        breaks = np.unique(corners)
        sharp = np.ones(len(breaks), bool)
    else:
        s0 = int(np.lexsort((xy[:, 0], xy[:, 1]))[0]) if start is None else int(start) % m
        breaks = np.sort(np.array([s0, (s0 + m // 2) % m]))
        sharp = np.zeros(2, bool)
    if len(breaks) == 1:  # a single corner: add the opposite sample as a smooth break
        breaks = np.array([breaks[0], (breaks[0] + m // 2) % m])
        sharp = np.array([True, False])
        order = np.argsort(breaks)
        breaks, sharp = breaks[order], sharp[order]
    k = max(2, min(6, m // 16))
    spans = []
    for j in range(len(breaks)):
        i0, i1 = int(breaks[j]), int(breaks[(j + 1) % len(breaks)])
        idx = np.arange(i0, i1 + (m if i1 <= i0 else 0) + 1) % m
        t1 = _end_tangent(xy, i0, k) if sharp[j] else _end_tangent(xy, i0 - 1, 2)
        t2 = _end_tangent(xy, i1, -k) if sharp[(j + 1) % len(breaks)] else -_end_tangent(xy, i1 - 1, 2)
        spans.append((xy[idx], t1, t2, bool(sharp[j]), bool(sharp[(j + 1) % len(breaks)])))
    return spans


def fit_rings(rings, tolerance, corners, starts=None) -> list[np.ndarray]:
    """Fit many closed smoothed rings in one batch (see ``fit_ring``); returns their (N, 6) points.

    ``tolerance`` is one value for all rings or one per ring.
    """
    starts = [None] * len(rings) if starts is None else starts
    spans = [ring_spans(xy, c, s) for xy, c, s in zip(rings, corners, starts)]
    flat = [sp for ring in spans for sp in ring]
    if not flat:
        return []
    run, t1, t2, free1, free2 = zip(*flat)
    tol = np.repeat(np.broadcast_to(np.asarray(tolerance, np.float64), (len(rings),)), [len(r) for r in spans])
    fitted = fit_runs(run, t1, t2, tol, free1=free1, free2=free2)
    out, i = [], 0
    for ring in spans:
        out.append(beziers_to_points([bz for seg in fitted[i:i + len(ring)] for bz in seg]))
        i += len(ring)
    return out


def fit_ring(xy: np.ndarray, tolerance: float, corners: np.ndarray, start: int | None = None) -> np.ndarray:
    """Fit a closed smoothed ring with cubic segments; returns (N, 6) document points.

    Breaks are the corners; a ring without corners is opened at ``start`` (default: the
    top-most sample, then left-most) and at the opposite sample, with centre tangents there.
    """
    return fit_rings([xy], tolerance, [corners], [start])[0]


# -- handles of placed anchors -----------------------------------------------------------------
@dataclass
class HandleFit:
    """Least-squares handles of every segment of one closed ring with given anchors.

    ``len_out[i]`` / ``len_in[i]``: handle lengths out of anchor i and into anchor i+1;
    ``error[i]``: segment i's largest distance from its samples; ``normal[i]`` (2, 2) and
    ``rhs[i]`` (2,): segment i's normal equations in its two lengths, for solving the lengths
    jointly over time.
    """

    len_out: np.ndarray
    len_in: np.ndarray
    error: np.ndarray
    normal: np.ndarray
    rhs: np.ndarray


def fit_handles(ring: np.ndarray, idx: np.ndarray, anchors: np.ndarray, t_out: np.ndarray,
                t_in: np.ndarray, newton: int = 3) -> HandleFit:
    """Handle lengths of every segment of one frame, all segments at once.

    Segment i runs from ``anchors[i]`` to ``anchors[i+1]`` through the ring samples between
    ``idx[i]`` and ``idx[i+1]``; its handles lie along ``t_out[i]`` and ``t_in[i+1]``. The
    paper's stages, per segment: chord-length parameterization, the 2x2 handle solve (Wu-Barsky
    where it is ill-posed, and on segments of fewer than 4 samples), ``newton`` rounds of
    reparameterization and solving again.
    """
    m, n = len(ring), len(idx)
    nxt = np.append(idx[1:], idx[0] + m)
    counts = np.maximum(nxt - idx + 1, 2)
    seg = np.repeat(np.arange(n), counts)
    starts = np.cumsum(counts) - counts
    local = np.arange(int(counts.sum())) - starts[seg]
    d = ring[(idx[seg] + local) % m]
    p0, p3 = anchors, np.roll(anchors, -1, axis=0)
    d[starts] = p0
    d[starts + counts - 1] = p3
    u = chord_length_parameterize(d, starts, counts, seg)
    t1, t2 = t_out, np.roll(t_in, -1, axis=0)
    chord = np.hypot(*(p3 - p0).T)
    for it in range(newton + 1):
        b = bernstein(u)
        a1 = b[:, 1:2] * t1[seg]
        a2 = b[:, 2:3] * t2[seg]
        tmp = d - (b[:, 0:1] + b[:, 1:2]) * p0[seg] - (b[:, 2:3] + b[:, 3:4]) * p3[seg]
        c00 = np.bincount(seg, (a1 * a1).sum(1), n)
        c01 = np.bincount(seg, (a1 * a2).sum(1), n)
        c11 = np.bincount(seg, (a2 * a2).sum(1), n)
        x0 = np.bincount(seg, (a1 * tmp).sum(1), n)
        x1 = np.bincount(seg, (a2 * tmp).sum(1), n)
        l1, l2 = solve_handle_lengths(c00, c01, c11, x0, x1, chord)
        few = counts < 4
        l1, l2 = np.where(few, chord / 3.0, l1), np.where(few, chord / 3.0, l2)
        cps = np.stack([p0, p0 + l1[:, None] * t1, p3 + l2[:, None] * t2, p3], axis=1)  # (N, 4, 2)
        if it == newton:
            break
        u = newton_step(cps[seg], d, u)
        u[starts], u[starts + counts - 1] = 0.0, 1.0
    q = np.einsum("sk,skd->sd", b, cps[seg])
    err = np.sqrt(((q - d) ** 2).sum(1))
    normal = np.stack([np.stack([c00, c01], -1), np.stack([c01, c11], -1)], -2)
    return HandleFit(l1, l2, np.maximum.reduceat(err, starts), normal, np.stack([x0, x1], -1))
