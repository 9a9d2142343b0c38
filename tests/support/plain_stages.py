"""Each post-parse stage written the plain way: the oracles of the fast production code.

These are the straightforward formulations the production code started from: a whole-frame
comparison per region, scikit-image's marching squares, one ring (or one corner) at a time,
every fitted shape flattened for the fold check, and the breadth-first Schneider fit with its
arithmetic spelled out on (N, 2) arrays and per-sample gathers; for tracking, k-d trees for
every closest point, ``np.mean``/``np.median`` on stacked arrays, and rasters for
faithfulness. The production code reorganises the work (one pass over the label maps, crops,
batches, contiguous arrays, ``np.repeat``) but
performs the same floating-point operations on every value, in the same order, so the tests
compare the two bit for bit: the fit is sensitive enough (rounding noise of 1e-16 grows to about
5e-6 px through near-singular handle solves and Newton steps) that "close" would hide a change.

``patched(monkeypatch)`` swaps them all into ``m2fp_roto`` for a test.
"""

from __future__ import annotations

import numpy as np

from m2fp_roto import fitting, trace
from m2fp_roto import vectorize as vec
from m2fp_roto.bezier import bernstein, flatten
from m2fp_roto.fitting import _handle_basis, chord_length_parameterize, newton_step
from m2fp_roto.geometry import polygon_area, unit
from m2fp_roto.parsing import Parsing, Region


def regions(parsing):
    """``Parsing.regions``: one whole-frame comparison per (person, part)."""
    key = parsing.people.astype(np.int64) * 256 + parsing.parts
    for k in np.unique(key[parsing.parts != 0]):
        person, part = divmod(int(k), 256)
        if person:
            mask = key == k
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
            yield Region(person, part, mask[box[0]:box[1], box[2]:box[3]], box)


def closed_isolines_many(fields, level=0.5):
    """``isolines.closed_isolines_many``: scikit-image, field by field."""
    from skimage.measure import find_contours

    return [find_contours(np.asarray(f, np.float64), level, positive_orientation="high") for f in fields]


def straighten_staircases(rings):
    return [straighten_staircase(xy) for xy in rings]


def folded(shapes, holes):
    """``vectorize.folded``: every shape flattened."""
    return [i for i, (p, hole) in enumerate(zip(shapes, holes)) if (polygon_area(flatten(p)) > 0) == hole]


def patched(monkeypatch):
    """Run the production pipeline on the plain stages."""
    monkeypatch.setattr(Parsing, "regions", regions)
    monkeypatch.setattr(trace, "closed_isolines_many", closed_isolines_many)
    monkeypatch.setattr(trace, "straighten_staircases", straighten_staircases)
    monkeypatch.setattr(vec, "sharpen_corners", sharpen_corners)
    monkeypatch.setattr(vec, "folded", folded)
    monkeypatch.setattr(fitting, "fit_runs", fit_runs)


def straighten_staircase(xy: np.ndarray) -> np.ndarray:
    """Replace each staircase step of a hard mask's iso-line by its midpoint.

    The 0.5 iso-line of a binary mask runs along pixel edges, with a 45 degree cut at every
    turn. A run between two cuts of the same direction is one step of a staircase: the edge it
    digitises passes through the run's midpoint, so the run becomes that one point, and a
    shallow slope turns into a straight line instead of a +-0.5 px sawtooth that no smoothing
    of a few pixels removes. A run between cuts of different directions (a corner, the flat top
    of a curve, a one-pixel spike) keeps both ends.
    """
    step = np.roll(xy, -1, axis=0) - xy
    cut = np.flatnonzero((np.abs(step[:, 0]) > 1e-6) & (np.abs(step[:, 1]) > 1e-6))
    if len(cut) < 4:
        return xy
    first = xy[(cut + 1) % len(xy)]  # run j runs from just after cut j to cut j+1
    last = xy[np.roll(cut, -1)]
    stair = np.all(np.abs(step[cut] - np.roll(step[cut], -1, axis=0)) < 1e-6, axis=1)
    pairs = np.stack([np.where(stair[:, None], (first + last) / 2, first), last], axis=1)
    keep = np.column_stack([np.ones(len(cut), bool), ~stair & np.any(np.abs(first - last) > 1e-6, axis=1)])
    return pairs[keep]


def sharpen_corners(xy: np.ndarray, corners: np.ndarray, rounding: float, spacing: float = 0.5,
                    reach: float = 8.0, straight: float = 0.45) -> np.ndarray:
    """Undo the rounding that tracing and smoothing leave at corners.

    Each side of a corner is a least-squares line through the samples from ``rounding`` to
    ``rounding + reach`` px away from it; the corner sample moves to the lines' intersection and
    the samples within ``rounding`` px are projected onto their side's line (the vertex
    adjustment of potrace, restricted to real corners). Corners whose sides are too short, not
    straight within ``straight`` px, nearly parallel, or meet implausibly far away stay as they are.
    """
    m = len(xy)
    corners = np.unique(np.asarray(corners, np.int64) % m)
    if not len(corners):
        return xy
    out = xy.copy()
    r = max(int(np.ceil(rounding / spacing)), 1)
    gaps = np.diff(np.concatenate([corners, corners[:1] + m]))
    room = np.minimum(gaps, np.roll(gaps, 1)) // 2  # each corner owns half of its sides
    for c, space in zip(corners, room):
        span = min(int(reach / spacing), int(space) - r)
        if span * spacing < 3.0:  # too little side to fit a line to
            continue
        lines = []
        for side in (-1, 1):
            pts = xy[(c + side * np.arange(r, r + span + 1)) % m]
            centre = pts.mean(0)
            direction = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
            lines.append((centre, direction))
        if any(np.abs((xy[(c + side * np.arange(r, r + span + 1)) % m] - p0) @ [-d[1], d[0]]).max() > straight
               for side, (p0, d) in zip((-1, 1), lines)):
            continue  # a curved side: its line would misplace the corner
        (pa, da), (pb, db) = lines
        cross = da[0] * db[1] - da[1] * db[0]
        if abs(cross) < np.sin(np.radians(20)):
            continue
        t = ((pb - pa)[0] * db[1] - (pb - pa)[1] * db[0]) / cross
        x = pa + t * da
        if np.hypot(*(x - xy[c])) > rounding + 0.5:
            continue
        for side, (p0, d) in zip((-1, 1), lines):
            idx = (c + side * np.arange(1, r)) % m
            out[idx] = p0 + ((xy[idx] - p0) @ d)[:, None] * d
        out[c] = x
    return out


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


# -- tracking ------------------------------------------------------------------------------------
def fit_handles(ring, idx, anchors, t_out, t_in, newton: int = 3):
    """``fitting.fit_frame_handles`` of one frame on its own, on (N, 2) arrays with per-sample
    gathers: (len_out, len_in, error, normal, rhs)."""
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
        l1, l2 = fitting.solve_handle_lengths(c00, c01, c11, x0, x1, chord)
        few = counts < 4
        l1, l2 = np.where(few, chord / 3.0, l1), np.where(few, chord / 3.0, l2)
        cps = np.stack([p0, p0 + l1[:, None] * t1, p3 + l2[:, None] * t2, p3], axis=1)
        if it == newton:
            break
        u = newton_step(cps[seg], d, u)
        u[starts], u[starts + counts - 1] = 0.0, 1.0
    q = np.einsum("sk,skd->sd", b, cps[seg])
    err = np.sqrt(((q - d) ** 2).sum(1))
    normal = np.stack([np.stack([c00, c01], -1), np.stack([c01, c11], -1)], -2)
    return l1, l2, np.maximum.reduceat(err, starts), normal, np.stack([x0, x1], -1)


def second_difference(f: int):
    """(f - 2, f) sparse second-difference operator (no rows when f < 3)."""
    from scipy.sparse import csr_matrix, diags

    return diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(f - 2, f)) if f >= 3 else csr_matrix((0, f))


def block_second_difference(n: int, f: int):
    """D2 of ``n`` items' 2-vectors over ``f`` frames in ``solve_blocks``' layout."""
    from scipy.sparse import identity, kron

    return kron(identity(n), kron(second_difference(f), identity(2))).tocsr()


def normal_matrix(w, weights, strength):
    """``spacetime._normal_matrix`` by sparse algebra: data + strength * D2' diag(weights) D2."""
    from scipy.sparse import coo_matrix, diags

    f, n = w.shape[:2]
    wt = np.transpose(w, (1, 0, 2, 3))
    base = (np.arange(n * f) * 2)[:, None, None]
    rows = np.broadcast_to(base + np.arange(2)[None, :, None], (n * f, 2, 2)).ravel()
    cols = np.broadcast_to(base + np.arange(2)[None, None, :], (n * f, 2, 2)).ravel()
    data = coo_matrix((wt.reshape(-1), (rows, cols)), shape=(2 * n * f, 2 * n * f))
    d2 = block_second_difference(n, f)
    return (data + strength * (d2.T @ diags(weights) @ d2)).tocsc()


def solve_blocks(w, b, strength, robust: float = 0.0, iterations: int = 3):
    """``spacetime.solve_blocks`` by sparse algebra throughout."""
    from scipy.sparse.linalg import spsolve

    f, n = w.shape[:2]
    strength = max(strength, 1e-6)
    d2 = block_second_difference(n, f)
    rhs = np.transpose(b, (1, 0, 2)).ravel()
    weights = np.ones(d2.shape[0])
    for _ in range(iterations if robust > 0 else 1):
        x = spsolve(normal_matrix(w, weights, strength), rhs)
        if robust > 0:
            acc = np.repeat(np.hypot(*(d2 @ x).reshape(-1, 2).T), 2)
            weights = np.minimum(1.0, robust / np.maximum(acc, 1e-9))
    return np.transpose(x.reshape(n, f, 2), (1, 0, 2))


def snap(ring, predicted, expected):
    """``spacetime.snap``: each window's closest sample by sorting (distance, anchor)."""
    m, n = len(ring), len(expected)
    nxt = np.append(expected[1:], expected[0] + m)
    hi = 0.5 * (expected + nxt)
    lo = np.append(hi[-1] - m, hi[:-1])
    start = np.ceil(lo).astype(np.int64)
    stop = np.maximum(np.ceil(hi).astype(np.int64), start + 1)
    counts = stop - start
    anchor = np.repeat(np.arange(n), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    k = start[anchor] + offsets
    d = ((ring[k % m] - predicted[anchor]) ** 2).sum(1)
    order = np.lexsort((d, anchor))
    idx = np.maximum.accumulate(k[order[np.cumsum(counts) - counts]])
    return idx - (idx[0] // m) * m


def crossing_segments(points, spacing: float = 0.5):
    """``crossings.crossing_segments``: the tree's intersects predicate on every pair of edges."""
    import shapely

    from m2fp_roto.crossings import _edges

    edges, seg = _edges(points, spacing)
    e = len(edges)
    if e < 4:
        return np.zeros((0, 2), np.int64)
    lines = shapely.linestrings(edges)
    a, b = shapely.STRtree(lines).query(lines, predicate="intersects")
    gap = (b - a) % e
    hit = (a < b) & (gap > 1) & (gap < e - 1)
    pairs = np.sort(np.column_stack([seg[a[hit]], seg[b[hit]]]), axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.int64)


def ring_motion(src: np.ndarray, dst: np.ndarray, iterations: int = 8, start=None, scale: float | None = None):
    """``spacetime.ring_motion``: both closest-point queries by k-d trees, the pairs stacked, np.median, np.mean."""
    from scipy.spatial import cKDTree

    a, b = src[::max(1, len(src) // 160)], dst[::max(1, len(dst) // 160)]
    if scale is None:
        scale = np.sqrt(abs(polygon_area(dst)) / max(abs(polygon_area(src)), 1e-9))
    scale = float(np.clip(scale, 0.9, 1.1))
    rot = np.eye(2)
    shift = b.mean(0) - scale * a.mean(0)
    if start is not None:
        lin, shift = start
        rot = lin / max(np.sqrt(abs(np.linalg.det(lin))), 1e-9)
    tree_b = cKDTree(b)
    scaled = scale * a
    for _ in range(iterations):
        moved = scaled @ rot.T + shift
        d_ab, i_ab = tree_b.query(moved)
        d_ba, i_ba = cKDTree(moved).query(b)
        p = np.vstack([a, a[i_ba]])
        q = np.vstack([b[i_ab], b])
        d = np.concatenate([d_ab, d_ba])
        keep = d <= 3.0 * max(float(np.median(d)), 0.5)
        p, q = p[keep], q[keep]
        pm, qm = p.mean(0), q.mean(0)
        pc, qc = p - pm, q - qm
        angle = np.arctan2((pc[:, 0] * qc[:, 1] - pc[:, 1] * qc[:, 0]).sum(), (pc * qc).sum())
        new_rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        new_shift = qm - scale * pm @ new_rot.T
        moved_by = np.abs(scaled @ (new_rot - rot).T + (new_shift - shift)).max()
        rot, shift = new_rot, new_shift
        if moved_by < 0.01:
            break
    return scale * rot, shift


def local_motion(src: np.ndarray, idx: np.ndarray, dst: np.ndarray, lin: np.ndarray, shift: np.ndarray,
                 reach: int = 48, iterations: int = 4) -> np.ndarray:
    """``spacetime.local_motion``: np.mean, each arc's turn stacked from its two coordinates, and
    every sample of ``dst`` sorted by distance for the closest one facing the arc's way."""
    from m2fp_roto.tracking.spacetime import FACING_CANDIDATES, ring_normals

    m = len(src)
    offsets = np.arange(-reach, reach + 1, 4)
    around = (idx[:, None] + offsets[None, :]) % m
    arcs = src[around]  # (N, K, 2)
    anchors = src[idx % m]
    moved = arcs @ lin.T + shift
    turn = lin / max(np.sqrt(abs(np.linalg.det(lin))), 1e-9)
    facing = ring_normals(src, around.ravel()).reshape(arcs.shape) @ turn.T
    centre = anchors @ lin.T + shift
    normals = ring_normals(dst, np.arange(len(dst)))
    for _ in range(iterations):
        points, ways = moved.reshape(-1, 2), facing.reshape(-1, 2)
        order = np.argsort(((points[:, None] - dst[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :FACING_CANDIDATES]
        agree = (normals[order] * ways[:, None]).sum(-1) > 0
        target = dst[order[np.arange(len(order)), np.where(agree.any(1), agree.argmax(1), 0)]].reshape(moved.shape)
        pm, qm = moved.mean(1, keepdims=True), target.mean(1, keepdims=True)
        p, q = moved - pm, target - qm
        angle = np.arctan2((p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1), (p * q).sum((1, 2)))
        c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]

        def apply(x, pm=pm, qm=qm, c=c, s=s):
            d = x - pm
            return np.stack([c[..., 0] * d[..., 0] - s[..., 0] * d[..., 1],
                             s[..., 0] * d[..., 0] + c[..., 0] * d[..., 1]], -1) + qm

        moved = apply(moved)
        facing = apply(facing, pm=0.0, qm=0.0)
        centre = apply(centre[:, None, :])[:, 0]
    return centre


def unfaithful(points, ring):
    """``frame_repair.unfaithful``: both masks rasterized, their XOR and union counted."""
    from m2fp_roto.bezier import fill_polygons
    from m2fp_roto.tracking.frame_repair import FAITHFUL_IOU, FAITHFUL_PX

    curve = flatten(points)
    lo = np.floor(np.minimum(curve.min(0), ring.min(0))) - 1
    size = tuple(np.ceil(np.maximum(curve.max(0), ring.max(0)) - lo + 1).astype(int)[::-1])
    a, b = fill_polygons([curve - lo], size), fill_polygons([ring - lo], size)
    apart, union = np.count_nonzero(a ^ b), np.count_nonzero(a | b)
    length = max(np.linalg.norm(np.diff(ring, axis=0, append=ring[:1]), axis=1).sum(), 1.0)
    iou = 1.0 - apart / union if union else 1.0
    return max(apart / length / FAITHFUL_PX, (1.0 - iou) / (1.0 - FAITHFUL_IOU))
