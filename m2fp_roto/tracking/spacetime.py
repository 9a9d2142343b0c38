"""Anchors that follow a region through a shot: registration, spacetime smoothing, snapping.

The pieces tracking builds on (see :mod:`.placement`, :mod:`.outline`, :mod:`.track`):

- ``ring_motion`` / ``local_motion`` / ``person_motions`` - the rigid motion of a ring (a
  trimmed symmetric ICP), of one arc of it, and of a whole person frame to frame.
- ``ordered_positions`` / ``snap`` - points put on a ring in the anchors' order, so the cyclic
  order, the first point and the winding never change.
- ``spacetime_solve`` - per anchor, least squares over all frames of a normal-weighted data
  term (anchors may slide a little along the edge, not off it) and a second-difference
  temporal term. This is the mask-only cousin of Agarwala et al., "Keyframe-Based Tracking for
  Rotoscoping and Animation" (SIGGRAPH 2004): jitter goes, constant-velocity motion is kept
  without lag. ``smooth_series`` and ``solve_blocks`` are the same solve for any per-frame
  value (handle directions and lengths).

Frames between sightings (a part hidden for a few frames) have no data term: the temporal term
carries the paths smoothly across them (a least smoothing ``MIN_STRENGTH`` keeps them defined
when no smoothing is asked for).
"""

from __future__ import annotations

import functools

import numpy as np

from ..geometry import polygon_area, unit
from .hotpaths import Closest, isotonic, median, spsolve_csc

# -- smoothing in time -------------------------------------------------------------------------
#: The least smoothing a solve uses: rows without data (a part hidden for a few frames) stay
#: defined (filled in linearly) even when no smoothing is asked for.
MIN_STRENGTH = 1e-6


def smooth_series(values: np.ndarray, weights: np.ndarray, strength: float) -> np.ndarray:
    """Minimise sum_t w_t |y_t - v_t|^2 + strength * sum_t |y_{t+1} - 2 y_t + y_{t-1}|^2.

    ``values`` (F, ...) with any trailing shape; rows with weight 0 are filled in smoothly.
    Needs weight on at least two rows (or on every row when F < 3).
    """
    from scipy.linalg import solveh_banded

    values = np.asarray(values, np.float64)
    f = len(values)
    flat = np.nan_to_num(values.reshape(f, -1))
    w = np.asarray(weights, np.float64)
    strength = max(strength, MIN_STRENGTH)
    if f < 3:
        return values.copy()
    ab = _second_difference_band(f) * strength  # diag(w) + strength * D2^T D2, upper banded
    ab[2] += w
    out = solveh_banded(ab, w[:, None] * flat)
    return out.reshape(values.shape)


def _second_difference_band(f: int) -> np.ndarray:
    """D2^T D2 (D2: the (f - 2, f) second difference, f >= 3) in LAPACK's upper banded form
    (3, f): row 2 - j holds the j-th superdiagonal, right-aligned. Sums of products of the
    stencil (1, -2, 1) as it slides down the rows: small integers, exactly what a sparse product
    gives."""
    stencil = (1.0, -2.0, 1.0)
    ab = np.zeros((3, f))
    for j in range(3):  # entry (t, t + j) gathers every row whose stencil covers both columns
        for i in range(3 - j):
            ab[2 - j, i + j:f - 2 + i + j] += stencil[i] * stencil[i + j]
    return ab


def spacetime_solve(q: np.ndarray, normals: np.ndarray, observed: np.ndarray, strength: float,
                    slide, robust: float = 0.0) -> np.ndarray:
    """Smoothed anchor trajectories (F, N, 2) from snapped positions ``q`` (F, N, 2).

    Per anchor: min sum_t (n.(X-q))^2 + slide (tau.(X-q))^2 + strength * rho(X_{t+1} - 2X_t + X_{t-1}),
    with the data term only on ``observed`` frames (see :func:`solve_blocks`). ``slide`` is one
    weight or one per anchor (N,).
    """
    nn = normals[..., :, None] * normals[..., None, :]  # (F, N, 2, 2)
    slide = np.broadcast_to(np.asarray(slide, np.float64), normals.shape[1:2])[None, :, None, None]
    w = slide * np.eye(2) + (1.0 - slide) * nn
    w = np.where(observed[:, None, None, None], w, 0.0)
    return solve_blocks(w, np.einsum("tncd,tnd->tnc", w, np.nan_to_num(q)), strength, robust)


def solve_blocks(w: np.ndarray, b: np.ndarray, strength: float, robust: float = 0.0,
                 iterations: int = 3) -> np.ndarray:
    """Per item i, the 2-vectors x_t minimising sum_t x_t'W x_t - 2 b.x_t + strength * rho(D2 x).

    ``w`` (F, N, 2, 2) symmetric data terms (zero on frames without data), ``b`` (F, N, 2).
    One sparse solve for every item. With ``robust`` > 0, rho is Huber's loss with that knee
    (units of x per frame^2), by reweighting: small accelerations (flicker) are smoothed away,
    large ones (a limb swinging back) are kept, so the paths do not lag behind real motion.
    """
    f, n = w.shape[:2]
    strength = max(strength, MIN_STRENGTH)
    rhs = np.transpose(b, (1, 0, 2)).ravel()  # unknown (i, t, c) at (i*F + t)*2 + c
    weights = np.ones(n * max(f - 2, 0) * 2)  # one per row of D2: item i, frame t < F - 2, coordinate c
    for _ in range(iterations if robust > 0 else 1):
        x = spsolve_csc(*_normal_parts(w, weights, strength), rhs)
        if robust > 0:
            y = x.reshape(n, f, 2)
            acc = (y[:, :-2] + -2 * y[:, 1:-1]) + y[:, 2:]  # D2 x, summed in the sparse product's order
            weights = np.minimum(1.0, robust / np.maximum(np.repeat(np.hypot(*acc.reshape(-1, 2).T), 2), 1e-9))
    return np.transpose(x.reshape(n, f, 2), (1, 0, 2))


def _normal_matrix(w: np.ndarray, weights: np.ndarray, strength: float):
    """``_normal_parts`` as a CSC matrix."""
    from scipy.sparse import csc_matrix

    size = 2 * w.shape[0] * w.shape[1]
    return csc_matrix(_normal_parts(w, weights, strength), shape=(size, size))


def _normal_parts(w: np.ndarray, weights: np.ndarray, strength: float):
    """(data, row indices, column pointers) of the CSC matrix of ``solve_blocks``' normal
    equations, data + strength * D2' diag(weights) D2, written entry by entry: each is the sum
    scipy's sparse products and sums make of the same terms in the same order (the only
    three-term sum, the diagonal's, runs over D2's rows in order), exact zeros dropped, rows
    sorted - the same matrix to the bit at a fraction of the cost of building it by sparse
    algebra on every robust iteration.

    Column (i, t, c) holds rows (t-2, c), (t-1, c), (t, 0), (t, 1), (t+1, c), (t+2, c).
    """
    f, n = w.shape[:2]
    k = np.zeros((n, f + 2, 2))  # the weight of D2's row t - 2 at k[:, t] (zero off its ends)
    if f >= 3:
        k[:, 2:f] = weights.reshape(n, f - 2, 2)
    before2, before1, at = k[:, :f], k[:, 1:f + 1], k[:, 2:]  # the rows that start at t - 2, t - 1, t
    data = np.transpose(w, (1, 0, 2, 3))  # (n, f, 2, 2)
    diag = np.einsum("itcc->itc", data) + strength * ((before2 + 4 * before1) + at)
    values = np.stack([strength * before2, strength * (-2 * before2 + -2 * before1),
                       np.where([True, False], diag, data[..., 0, :]),  # row (t, 0) of columns (t, 0), (t, 1)
                       np.where([False, True], diag, data[..., 1, :]),  # row (t, 1)
                       strength * (-2 * before1 + -2 * at), strength * at], -1)  # (n, f, 2, 6)
    rows, inside = _normal_pattern(n, f)
    keep = inside & (values != 0)
    indptr = np.zeros(2 * n * f + 1, np.intc)
    np.cumsum(np.count_nonzero(keep.reshape(-1, 6), axis=1), out=indptr[1:])
    return values[keep], rows[keep], indptr


@functools.lru_cache(maxsize=8)  # a shape's solves share one size; long shots' patterns are large
def _normal_pattern(n: int, f: int) -> tuple[np.ndarray, np.ndarray]:
    """``_normal_parts``' row of every entry (n, f, 2, 6) and which lie inside the matrix: the
    same for every solve of a shape's size (made once, read-only)."""
    row_t = np.arange(f)[None, :, None, None] + np.array([-2, -1, 0, 0, 1, 2])
    row_c = np.where([False, False, True, True, False, False], [0, 0, 0, 1, 0, 0], np.arange(2)[:, None])
    rows = np.broadcast_to((np.arange(n)[:, None, None, None] * f + row_t) * 2 + row_c, (n, f, 2, 6)).astype(np.intc)
    inside = np.broadcast_to((row_t >= 0) & (row_t < f), (n, f, 2, 6)).copy()
    rows.flags.writeable = inside.flags.writeable = False
    return rows, inside


# -- correspondence --------------------------------------------------------------------------
def _subsample(xy: np.ndarray, at_most: int) -> np.ndarray:
    step = max(1, len(xy) // at_most)
    return xy[::step]


def person_motions(points: dict) -> dict:
    """{(a, b): (s*R, t)} for consecutive frames a < b of ``points`` ({frame: (K, 2) boundary
    samples of a whole person}), both ways: the prior that every part's motion starts from."""
    frames = sorted(points)
    out = {}
    for a, b in zip(frames[:-1], frames[1:]):
        lin, shift = ring_motion(points[a], points[b], scale=1.0)
        out[(a, b)] = (lin, shift)
        inv = np.linalg.inv(lin)
        out[(b, a)] = (inv, -shift @ inv.T)
    return out


def ring_motion(src: np.ndarray, dst: np.ndarray, iterations: int = 8, start=None, scale: float | None = None):
    """Rigid motion (with a slight scale) taking ring ``src`` onto ring ``dst``: ``(s*R, t)``.

    A symmetric ICP (closest points both ways), trimmed at 3x the median distance so a piece
    that appears or leaves (a hand out of frame) does not drag the rest. ``start`` is an initial
    ``(s*R, t)`` (e.g. the whole person's motion: a round part alone cannot tell its rotation);
    ``scale`` overrides the area ratio (for point sets that are not one ring).
    """
    from scipy.spatial import cKDTree

    a, b = _subsample(src, 160), _subsample(dst, 160)
    if scale is None:
        scale = np.sqrt(abs(polygon_area(dst)) / max(abs(polygon_area(src)), 1e-9))
    scale = float(np.clip(scale, 0.9, 1.1))
    rot = np.eye(2)
    shift = b.mean(0) - scale * a.mean(0)
    if start is not None:
        lin, shift = start
        rot = lin / max(np.sqrt(abs(np.linalg.det(lin))), 1e-9)
    tree_b = None  # made if the tables decline
    scaled = scale * a
    # The pairs are gathered by index and the means are sums over a count (np.mean without its
    # wrapper): the same values as stacking [a, a[i_ba]] and [b[i_ab], b].
    pairs_p = np.concatenate([np.arange(len(a)), np.zeros(len(b), np.intp)])
    pairs_q = np.concatenate([np.zeros(len(a), np.intp), np.arange(len(b))])
    d = np.empty(len(a) + len(b))
    closest = Closest(b)
    for _ in range(iterations):
        moved = scaled @ rot.T + shift
        if not closest.both(moved, d, pairs_q[:len(a)], pairs_p[len(a):]):
            tree_b = cKDTree(b) if tree_b is None else tree_b
            d[:len(a)], pairs_q[:len(a)] = tree_b.query(moved)
            d[len(a):], pairs_p[len(a):] = cKDTree(moved).query(b)
        keep = d <= 3.0 * max(float(median(d)), 0.5)
        p, q = a[pairs_p[keep]], b[pairs_q[keep]]
        pm, qm = p.sum(0) / len(p), q.sum(0) / len(q)
        pc, qc = p - pm, q - qm
        angle = np.arctan2((pc[:, 0] * qc[:, 1] - pc[:, 1] * qc[:, 0]).sum(), (pc * qc).sum())
        cos, sin = np.cos(angle), np.sin(angle)
        new_rot = np.array([[cos, -sin], [sin, cos]])
        new_shift = qm - scale * pm @ new_rot.T
        moved_by = np.abs(scaled @ (new_rot - rot).T + (new_shift - shift)).max()
        rot, shift = new_rot, new_shift
        if moved_by < 0.01:
            break
    return scale * rot, shift


def local_motion(src: np.ndarray, idx: np.ndarray, dst: np.ndarray, lin: np.ndarray, shift: np.ndarray,
                 reach: int = 48, iterations: int = 4, tree=None, normals=None) -> np.ndarray:
    """Where the anchors ``src[idx]`` go on ``dst``: each follows the rigid motion of its own arc.

    Starting from the whole ring's motion (``lin``, ``shift``), the arc of +-``reach`` samples
    around every anchor is registered to ``dst`` by closest points (``closest_facing``: on the
    side of a thin limb that faces the same way) and a 2-D Procrustes fit, all anchors at once.
    Limbs that swing relative to the body carry their anchors with them.
    ``tree``: ``cKDTree(dst)``, ``normals``: (``sample_normals(src)``, ``sample_normals(dst)``),
    when the caller has them.
    """
    from scipy.spatial import cKDTree

    m = len(src)
    offsets = np.arange(-reach, reach + 1, 4)
    around = (idx[:, None] + offsets[None, :]) % m
    arcs = src[around]  # (N, K, 2)
    anchors = src[idx % m]
    moved = arcs @ lin.T + shift
    src_normals, dst_normals = (sample_normals(src), sample_normals(dst)) if normals is None else normals
    turn = lin / max(np.sqrt(abs(np.linalg.det(lin))), 1e-9)
    facing = src_normals[around] @ turn.T  # the arcs' normals, moved along
    centre = anchors @ lin.T + shift
    tree = cKDTree(dst) if tree is None else tree
    k = moved.shape[1]
    for _ in range(iterations):
        near = closest_facing(tree, dst_normals, moved.reshape(-1, 2), facing.reshape(-1, 2))
        target = dst[near].reshape(moved.shape)
        pm, qm = moved.sum(1, keepdims=True) / k, target.sum(1, keepdims=True) / k  # np.mean's values
        p, q = moved - pm, target - qm
        angle = np.arctan2((p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1), (p * q).sum((1, 2)))
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        moved = _turned(p, c, s, qm)
        facing = _turned(facing, c, s, 0.0)
        centre = _turned((centre - pm[:, 0])[:, None], c, s, qm)[:, 0]
    return centre


#: Closest samples searched for one that faces the same way (see ``closest_facing``).
FACING_CANDIDATES = 16


def closest_facing(tree, normals: np.ndarray, points: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Index of the sample of a ring (``tree``: its k-d tree, ``normals`` its samples' normals)
    closest to each of ``points`` (P, 2) among those whose normal faces the way of ``facing``
    (P, 2); the closest sample where none of the ``FACING_CANDIDATES`` closest does.

    Across a limb narrower than it moves in a frame, the closest sample lies on the limb's other
    side: an arc matched there turns its anchors round to that side, and they bunch up with
    the anchors already there.
    """
    near = tree.query(points)[1]
    wrong = np.flatnonzero(np.einsum("ij,ij->i", normals[near], facing) <= 0)
    k = min(FACING_CANDIDATES, len(normals))
    if len(wrong) and k > 1:
        candidates = tree.query(points[wrong], k=k)[1]
        agree = np.einsum("ijk,ik->ij", normals[candidates], facing[wrong]) > 0
        near[wrong] = np.where(agree.any(1), candidates[np.arange(len(wrong)), agree.argmax(1)], candidates[:, 0])
    return near


def _turned(d: np.ndarray, c: np.ndarray, s: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Offsets ``d`` (N, K, 2) turned by the angles of cosines ``c`` and sines ``s`` (N, 1), plus ``to``."""
    out = np.empty(d.shape)
    dx, dy = d[..., 0], d[..., 1]
    out[..., 0] = c * dx - s * dy
    out[..., 1] = s * dx + c * dy
    out += to
    return out


def snap(ring: np.ndarray, predicted: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Windowed closest-point snap with the cyclic order kept.

    ``expected`` (N,) are increasing (unwrapped) sample positions on ``ring`` where the anchors
    should be; anchor i may land anywhere between the midpoints to its neighbours' expected
    positions, at the sample closest to ``predicted[i]``. Returns increasing unwrapped sample
    indices (N,), the first in [0, M).
    """
    m, n = len(ring), len(expected)
    nxt = np.concatenate([expected[1:], [expected[0] + m]])
    hi = 0.5 * (expected + nxt)
    lo = np.concatenate([[hi[-1] - m], hi[:-1]])
    start = np.ceil(lo).astype(np.int64)
    stop = np.maximum(np.ceil(hi).astype(np.int64), start + 1)
    counts = stop - start
    starts = np.cumsum(counts) - counts
    anchor = np.repeat(np.arange(n), counts)
    k = np.arange(starts[-1] + counts[-1]) - np.repeat(starts - start, counts)  # window samples, anchor by anchor
    d = ((ring[k % m] - predicted[anchor]) ** 2).sum(1)
    closest = np.flatnonzero(d == np.repeat(np.minimum.reduceat(d, starts), counts))
    first = closest[np.searchsorted(anchor[closest], np.arange(n))]  # the first of equals in each window
    idx = np.maximum.accumulate(k[first])  # equal only where windows collapsed (tiny rings)
    return idx - (idx[0] // m) * m


def ordered_positions(ring: np.ndarray, points: np.ndarray, fractions: np.ndarray, tree=None) -> np.ndarray:
    """Increasing (unwrapped) sample positions on ``ring`` near where ``points`` (N, 2) are.

    ``fractions`` (N,) are where the points were along their previous outline (in turns, from
    its first sample); the rings' first samples differ, so the best circular offset between
    the two first places every point's closest sample on its turn. The positions are then
    made increasing with a minimum gap by isotonic regression (pool adjacent violators): where
    points arrive out of order (both sides of a thin limb), they share the place between
    them instead of one being dragged along the whole outline. ``tree``: ``cKDTree(ring)`` when
    the caller has one.
    """
    from scipy.spatial import cKDTree

    m, n = len(ring), len(points)
    nearest = (cKDTree(ring) if tree is None else tree).query(points)[1]
    guess = (fractions + _circular_offset(nearest / m, fractions)) * m
    local = nearest + m * np.round((guess - nearest) / m)
    gap = min(2.0, 0.25 * m / n)
    ramp = gap * np.arange(n)
    out = isotonic(local - ramp) + ramp
    if out[-1] - out[0] >= m - gap:  # more than a turn: the points wrap; trust the guess
        return np.asarray(guess, np.float64)
    return out


def _circular_offset(nearest: np.ndarray, fractions: np.ndarray) -> float:
    """The shift (fraction of a turn) that best maps ``fractions`` onto ``nearest`` (both in turns)."""
    diff = (nearest - fractions) * 2 * np.pi
    mean = np.angle(np.exp(1j * diff).mean())
    wrapped = np.angle(np.exp(1j * (diff - mean)))
    return float((mean + median(wrapped)) / (2 * np.pi))


# -- ring geometry ---------------------------------------------------------------------------
def ring_tangents(ring: np.ndarray, idx: np.ndarray, corner: np.ndarray, reach: int = 6):
    """(out, in) unit tangent directions at the ring samples ``idx``.

    Smooth anchors get the centre tangent (in = -out); corners get one-sided chords over
    ``reach`` samples, as the per-frame fit does.
    """
    m = len(ring)
    s = idx % m
    centre = unit(ring[(s + 4) % m] - ring[(s - 4) % m])
    out = np.where(corner[:, None], unit(ring[(s + reach) % m] - ring[s]), centre)
    inn = np.where(corner[:, None], unit(ring[(s - reach) % m] - ring[s]), -centre)
    return out, inn


def ring_normals(ring: np.ndarray, idx: np.ndarray) -> np.ndarray:
    m = len(ring)
    s = idx % m
    t = unit(ring[(s + 4) % m] - ring[(s - 4) % m])
    return np.column_stack([-t[:, 1], t[:, 0]])


def sample_normals(ring: np.ndarray) -> np.ndarray:
    """``ring_normals`` at every sample of ``ring`` (M, 2)."""
    return ring_normals(ring, np.arange(len(ring)))
