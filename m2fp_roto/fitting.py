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
  Its per-sample arithmetic works on contiguous x and y arrays with per-span values spread by
  ``np.repeat`` (the hot loop of the vectorizer); the tests hold it to the plain per-sample
  formulation bit for bit. (Every stage of the paper lives here, shared by vectorizing and
  tracking, which is why the module runs a little past 400 lines.)
- ``fit_rings`` fits closed rings: breaks at the corners ``find_corners`` finds (handles free
  there), a ring without corners opened at its top-most sample and the opposite one.
- ``fit_frame_handles`` is the paper's handle solve and reparameterization alone, for anchors
  that are already placed (tracking places them on every frame): every segment of every frame
  of a shape at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from .geometry import unit

#: Turning angle (degrees) above which an anchor stays a sharp corner.
CORNER_ANGLE = 70.0


def chord_length_parameterize(d: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                              span: np.ndarray, restart=()) -> np.ndarray:
    """Parameters in [0, 1] of the samples ``d`` (flattened spans) by cumulative chord length.

    Span k holds ``d[starts[k]:starts[k] + counts[k]]``; ``span`` names each sample's span. A
    span of zero length is parameterized evenly. The running length starts again from zero at
    the samples ``restart`` (the first of each batch of spans that was once fitted on its own).
    """
    step = np.zeros(len(d))
    step[1:] = np.hypot(*np.diff(d, axis=0).T)
    step[starts] = 0.0
    cum = np.concatenate([np.cumsum(part) for part in np.split(step, restart)])
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
    Dx, Dy = D[:, 0].copy(), D[:, 1].copy()  # per-sample work runs on contiguous coordinates
    # Every span is a range of D, so the chord from each sample to the next is the same in every
    # round: made once (the first of each span's is zeroed where it is used).
    chords = np.zeros(len(D))
    chords[1:] = np.hypot(np.diff(Dx), np.diff(Dy))
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
        sid = np.repeat(np.arange(k), n)  # per-span values reach the samples by np.repeat (fast)
        index = np.arange(len(sid))
        local = index - np.repeat(starts, n)
        at = np.repeat(a - starts, n) + index
        dx, dy = Dx[at], Dy[at]
        u = _chord_lengths(chords[at], starts, n, len(carried))  # used by the fresh spans
        u[: len(carried)] = carried
        # Least-squares handles: B(u) = (B0+B1) P0 + (B2+B3) P3 + B1 h1 + B2 h2 with each handle
        # h = z_a e_a + z_b e_b (e_a the tangent and e_b zero at a fixed end, e_a = x and e_b = y
        # at a free one); the normal equations of z (4x4 per span) are summed per span.
        w0, w1, w2, w3 = w = _bernstein(u)
        p0, p3 = D[a], D[b]
        e1a, e1b = _handle_basis(T1, F1)
        e2a, e2b = _handle_basis(T2, F2)
        # Every per-span value the samples need, gathered in one go.
        e1x, e1y, e2x, e2y, p0x, p0y, p3x, p3y = np.repeat(np.vstack([e1a.T, e2a.T, p0.T, p3.T]), n, axis=1)
        c0x, c0y, c2x, c2y = w1 * e1x, w1 * e1y, w2 * e2x, w2 * e2y
        w01, w23 = w0 + w1, w2 + w3
        rx = dx - w01 * p0x - w23 * p3x
        ry = dy - w01 * p0y - w23 * p3y

        def per_span(weights, where=None):
            return np.bincount(sid if where is None else sid[where], weights=weights, minlength=k)

        normal = np.zeros((k, 4, 4))
        for (i, j), weights in (((0, 0), c0x * c0x + c0y * c0y), ((0, 2), c0x * c2x + c0y * c2y),
                                ((2, 2), c2x * c2x + c2y * c2y)):
            normal[:, i, j] = normal[:, j, i] = per_span(weights)
        right = np.zeros((k, 4))
        right[:, 0], right[:, 2] = per_span(c0x * rx + c0y * ry), per_span(c2x * rx + c2y * ry)
        # A free end's second basis vector is y (x at a fixed end, where it is zero): its column
        # is w * [free] in y alone, and only the samples of free ends add to its sums.
        if F1.any() or F2.any():
            f1, f2 = np.repeat(np.vstack([F1, F2]).astype(np.float64), n, axis=1)
            at = np.flatnonzero(f1 + f2)
            c1y, c3y = w1[at] * f1[at], w2[at] * f2[at]
            c0y_, c2y_, ry_ = c0y[at], c2y[at], ry[at]
            for (i, j), weights in (((0, 1), c0y_ * c1y), ((0, 3), c0y_ * c3y), ((1, 1), c1y * c1y),
                                    ((1, 2), c1y * c2y_), ((1, 3), c1y * c3y), ((2, 3), c2y_ * c3y),
                                    ((3, 3), c3y * c3y)):
                normal[:, i, j] = normal[:, j, i] = per_span(weights, at)
            right[:, 1], right[:, 3] = per_span(c1y * ry_, at), per_span(c3y * ry_, at)
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
        h1x, h1y, h2x, h2y = np.repeat(np.vstack([h1.T, h2.T]), n, axis=1)
        mx = w1 * h1x + w2 * h2x - rx  # B(u) - d
        my = w1 * h1y + w2 * h2y - ry
        dist = mx**2 + my**2
        worst = np.maximum.reduceat(dist, starts)
        hits = np.flatnonzero(dist >= np.repeat(worst, n))
        hit_span = sid[hits]
        split = local[hits[np.flatnonzero(np.r_[True, hit_span[1:] != hit_span[:-1]])]]
        err = np.sqrt(worst)
        ok = err < tol
        newton = ~ok & (iters < iterations) & ((iters > 0) | (err < 4 * tol))
        cut = ~ok & ~newton
        done_a.append(a[ok])
        done_bez.append(bez[ok])
        # Newton-Raphson reparameterization of the near misses, then refit them next round.
        m = np.repeat(newton, n)
        carried = _newton_spans(bez[newton], n[newton], dx[m], dy[m], u[m], [x[m] for x in w])
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


def _chord_lengths(step, starts, counts, skip: int = 0) -> np.ndarray:
    """``chord_length_parameterize`` of consecutive spans from the distances ``step`` of every
    sample to the one before it (any value at the spans' first samples); the first ``skip``
    samples get zeros (their parameters are carried over)."""
    step[starts] = 0.0
    cum = np.cumsum(step)
    cum -= np.repeat(cum[starts], counts)
    length = np.repeat(cum[starts + counts - 1], counts)
    local = np.arange(len(step)) - np.repeat(starts, counts)
    out = np.zeros(len(step))
    np.divide(cum[skip:], length[skip:], out=out[skip:], where=length[skip:] > 1e-9)
    even = np.flatnonzero(length <= 1e-9)  # a span of zero length: parameterized evenly
    even = even[even >= skip]
    if len(even):
        out[even] = local[even] / np.repeat(np.maximum(counts - 1, 1), counts)[even]
    return out


def _bernstein(u: np.ndarray) -> np.ndarray:
    """The cubic Bernstein weights (four (n,) arrays) at ``u`` (n,), as ``bezier.bernstein`` and
    ``newton_step`` make them."""
    s = 1.0 - u
    return s**3, 3 * s * s * u, 3 * s * u * u, u**3


def _newton_spans(bz: np.ndarray, counts: np.ndarray, dx, dy, u, weights=None) -> np.ndarray:
    """``newton_step`` for consecutive spans: ``bz`` (k, 4, 2) per span, ``counts`` samples each;
    ``weights``: ``_bernstein(u)`` when the caller has it.

    The derivative control points are made once per span; every sample's arithmetic is
    ``newton_step``'s, operation for operation.
    """
    q1c = 3 * np.diff(bz, axis=1)  # (k, 3, 2) first-derivative control points
    q2c = 2 * np.diff(q1c, axis=1)  # (k, 2, 2)
    coef = np.repeat(np.concatenate([bz.reshape(-1, 8).T, q1c.reshape(-1, 6).T, q2c.reshape(-1, 4).T]), counts, axis=1)
    s = 1 - u
    t = u
    s3, c1, c2, t3 = _bernstein(u) if weights is None else weights
    ss, st2, tt = s * s, 2 * s * t, t * t
    q1s, diffs, q2s = [], [], []
    for dim, d in ((0, dx), (1, dy)):
        b0, b1, b2, b3 = coef[dim:8:2]
        r0, r1, r2 = coef[8 + dim:14:2]
        v0, v1 = coef[14 + dim:18:2]
        q1s.append(ss * r0 + st2 * r1 + tt * r2)
        q2s.append(s * v0 + t * v1)
        diffs.append(s3 * b0 + c1 * b1 + c2 * b2 + t3 * b3 - d)
    num = diffs[0] * q1s[0] + diffs[1] * q1s[1]
    den = (q1s[0] * q1s[0] + q1s[1] * q1s[1]) + (diffs[0] * q2s[0] + diffs[1] * q2s[1])
    step = np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-12)
    return np.clip(u - step, 0.0, 1.0)


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
    k = span % len(xy) if len(xy) else 0
    a = xy - np.concatenate((xy[len(xy) - k:], xy[:len(xy) - k]))  # np.roll(xy, span), faster
    b = np.concatenate((xy[k:], xy[:k])) - xy  # np.roll(xy, -span)
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
def successors(x: np.ndarray) -> np.ndarray:
    """``np.roll(x, -1, axis=1)``: each anchor's successor, for (F, N, ...) per-frame arrays."""
    return np.concatenate([x[:, 1:], x[:, :1]], axis=1)


@dataclass
class HandleFit:
    """Least-squares handles of every segment of closed rings (one per frame) with given anchors.

    ``len_out[k, i]`` / ``len_in[k, i]``: handle lengths out of anchor i and into anchor i+1 on
    frame k; ``error[k, i]``: segment i's largest distance from its samples; ``normal[k, i]``
    (2, 2) and ``rhs[k, i]`` (2,): segment i's normal equations in its two lengths, for solving
    the lengths jointly over time.
    """

    len_out: np.ndarray
    len_in: np.ndarray
    error: np.ndarray
    normal: np.ndarray
    rhs: np.ndarray


def fit_frame_handles(rings: list, idx: list, anchors: np.ndarray, t_out: np.ndarray, t_in: np.ndarray,
                      newton: int = 3) -> HandleFit:
    """Handle lengths of every segment of many frames, all at once: ``rings[k]``, ``idx[k]``
    (N,) and ``anchors``, ``t_out``, ``t_in`` (F, N, 2) per frame; the fit's fields (F, N, ...).

    Segment i of a frame runs from ``anchors[i]`` to ``anchors[i+1]`` through the ring samples
    between ``idx[i]`` and ``idx[i+1]``; its handles lie along ``t_out[i]`` and ``t_in[i+1]``.
    The paper's stages, per segment: chord-length parameterization, the 2x2 handle solve
    (Wu-Barsky where it is ill-posed, and on segments of fewer than 4 samples), ``newton``
    rounds of reparameterization and solving again. Every sum runs over the same samples in the
    same order as a frame fitted on its own (the chord lengths restart on every frame), so the
    batch changes no bit of any frame's fit.
    """
    f, n = anchors.shape[:2]
    sizes = np.array([len(r) for r in rings])
    offset = np.repeat(np.cumsum(sizes) - sizes, n)  # each frame's first sample in the stacked rings
    m = np.repeat(sizes, n)
    idx = np.stack(idx)
    nxt = np.concatenate([idx[:, 1:], idx[:, :1] + sizes[:, None]], axis=1).ravel()
    idx = idx.ravel()
    counts = np.maximum(nxt - idx + 1, 2)
    seg = np.repeat(np.arange(f * n), counts)  # segment i of frame k is number k * n + i
    starts = np.cumsum(counts) - counts
    local = np.arange(int(counts.sum())) - starts[seg]
    d = np.concatenate(rings)[offset[seg] + (idx[seg] + local) % m[seg]]
    p0, p3 = anchors.reshape(-1, 2), successors(anchors).reshape(-1, 2)
    d[starts] = p0
    d[starts + counts - 1] = p3
    u = chord_length_parameterize(d, starts, counts, seg, restart=starts[::n])
    t1, t2 = t_out.reshape(-1, 2), successors(t_in).reshape(-1, 2)
    chord = np.hypot(*(p3 - p0).T)
    few = counts < 4
    k = f * n
    dx, dy = d[:, 0].copy(), d[:, 1].copy()  # per-sample work on contiguous coordinates, as in fit_runs
    t1x, t1y, t2x, t2y, p0x, p0y, p3x, p3y = np.repeat(np.vstack([t1.T, t2.T, p0.T, p3.T]), counts, axis=1)
    for it in range(newton + 1):
        w0, w1, w2, w3 = w = _bernstein(u)
        a1x, a1y, a2x, a2y = w1 * t1x, w1 * t1y, w2 * t2x, w2 * t2y
        w01, w23 = w0 + w1, w2 + w3
        rx = dx - w01 * p0x - w23 * p3x
        ry = dy - w01 * p0y - w23 * p3y
        c00 = np.bincount(seg, a1x * a1x + a1y * a1y, k)
        c01 = np.bincount(seg, a1x * a2x + a1y * a2y, k)
        c11 = np.bincount(seg, a2x * a2x + a2y * a2y, k)
        x0 = np.bincount(seg, a1x * rx + a1y * ry, k)
        x1 = np.bincount(seg, a2x * rx + a2y * ry, k)
        l1, l2 = solve_handle_lengths(c00, c01, c11, x0, x1, chord)
        l1, l2 = np.where(few, chord / 3.0, l1), np.where(few, chord / 3.0, l2)
        cps = np.stack([p0, p0 + l1[:, None] * t1, p3 + l2[:, None] * t2, p3], axis=1)  # (k, 4, 2)
        if it == newton:
            break
        u = _newton_spans(cps, counts, dx, dy, u, w)
        u[starts], u[starts + counts - 1] = 0.0, 1.0
    b = np.column_stack([w0, w1, w2, w3])
    q = np.einsum("sk,skd->sd", b, cps[seg])
    err = np.sqrt(((q - d) ** 2).sum(1))
    normal = np.stack([np.stack([c00, c01], -1), np.stack([c01, c11], -1)], -2)
    return HandleFit(l1.reshape(f, n), l2.reshape(f, n), np.maximum.reduceat(err, starts).reshape(f, n),
                     normal.reshape(f, n, 2, 2), np.stack([x0, x1], -1).reshape(f, n, 2))
