"""Anchors that ride on each frame's outline, and the curve through them on every frame.

The spacetime solve (:mod:`.spacetime`) gives every anchor a smooth path in the plane; here each
path point is put back *on* its frame's outline, in order (``project_on_ring``): the anchor's
place along the outline keeps the path's smoothness, its distance to the mask is zero. Handles
are then fitted per frame (``fitting.fit_frame_handles``, Schneider's least squares along the
ring's tangents), so the curve between anchors follows the outline as the per-frame vectorizer's
does.
A corner anchor sits on the frame's own corner (``snap_corners``): the tip of a crescent or the
point of a collar is not rounded off by the smoothing.
"""

from __future__ import annotations

import numpy as np

from ..fitting import fit_frame_handles, successors
from ..geometry import unit
from .hotpaths import isotonic
from .spacetime import ring_normals, ring_tangents, smooth_series, solve_blocks


def ring_at(ring: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Points at continuous sample positions ``u`` (any real, wrapping) of a closed ring."""
    m = len(ring)
    i = np.floor(u).astype(np.int64)
    t = (u - i)[:, None]
    return ring[i % m] * (1.0 - t) + ring[(i + 1) % m] * t


def project_on_ring(ring: np.ndarray, points: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Continuous positions (N,) on ``ring`` of ``points`` projected onto the two ring edges at
    their samples ``idx`` (increasing, unwrapped); the order of ``idx`` is kept."""
    m = len(ring)
    best_u = idx.astype(np.float64)
    best_d = np.full(len(idx), np.inf)
    for start in (idx - 1, idx):
        a, b = ring[start % m], ring[(start + 1) % m]
        ab = b - a
        t = np.clip(((points - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
        d = ((a + t[:, None] * ab - points) ** 2).sum(1)
        closer = d < best_d
        best_u = np.where(closer, start + t, best_u)
        best_d = np.where(closer, d, best_d)
    return increasing(best_u, m)


def cast_on_ring(ring: np.ndarray, points: np.ndarray, idx: np.ndarray, directions=None, reach: int = 8) -> np.ndarray:
    """Continuous positions (N,) on ``ring`` where the line through each point along its
    direction (default: the ring's normal at its sample ``idx``) meets the ring (the crossing
    nearest the point, within ``reach`` samples of ``idx``; the closest point where there is
    none).

    Moving a smoothly travelling point straight across the outline onto it keeps its place
    along the outline, and so the smoothness of its path there; the closest point would not
    (on a bulge it slides whenever the bulge changes).
    """
    m = len(ring)
    nrm = ring_normals(ring, idx) if directions is None else directions
    k = idx[:, None] + np.arange(-reach, reach)[None, :]  # (N, 2 reach) edges k -> k + 1
    a, b = ring[k % m], ring[(k + 1) % m]
    e = b - a
    d = points[:, None, :] - a
    # points + s * n = a + t * e  ->  solve for (s, t) per edge
    det = e[..., 0] * nrm[:, None, 1] - e[..., 1] * nrm[:, None, 0]
    ok = np.abs(det) > 1e-12
    safe = np.where(ok, det, 1.0)
    t = (d[..., 0] * nrm[:, None, 1] - d[..., 1] * nrm[:, None, 0]) / safe
    s = (d[..., 0] * e[..., 1] - d[..., 1] * e[..., 0]) / safe
    hit = ok & (t >= 0.0) & (t <= 1.0)
    score = np.where(hit, np.abs(s), np.inf)
    j = np.argmin(score, axis=1)
    rows = np.arange(len(idx))
    found = np.isfinite(score[rows, j])
    u = k[rows, j] + np.clip(t[rows, j], 0.0, 1.0)
    if not found.all():
        u = np.where(found, u, project_on_ring(ring, points, idx))
    return increasing(u, m)


def increasing(u: np.ndarray, m: int, gap: float = 1.0) -> np.ndarray:
    """``u`` made strictly increasing (by at least ``gap`` samples, less on a short ring) within
    one turn of a ring of ``m`` samples, moving as little as possible (isotonic regression):
    anchors never pass each other nor stack up, so the polygon through them keeps the
    outline's order. Where the last anchor has come round past the first (many anchors on a
    fast-changing outline), the positions are drawn in towards the first, in proportion, to
    one turn."""
    n = len(u)
    gap = min(gap, 0.5 * m / max(n, 1))
    ramp = gap * np.arange(n)
    out = isotonic(u - ramp) + ramp
    span, turn = out[-1] - out[0], m - gap
    return out if span <= turn else out[0] + (out - out[0]) * (turn / span)


def take_corners(u: np.ndarray, corners: np.ndarray, m: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
    """``u`` (continuous positions, increasing, on a ring of ``m`` samples) with the anchor
    nearest each of the ring's ``corners`` (sample indices, ``fitting.find_corners``) moved onto
    it, and which anchors took one (N,).

    An anchor takes a corner only within half the way to its neighbours, one corner at most,
    and only if ``allowed`` (N,) (default: any): the collar's point or a crescent's tip stays
    sharp on every frame it is sharp on.
    """
    corner = np.zeros(len(u), bool)
    allowed = np.ones(len(u), bool) if allowed is None else allowed
    if not len(corners) or len(u) < 3 or not allowed.any():
        return u, corner
    u = u.copy()
    nxt, prev = np.append(u[1:], u[0] + m), np.append(u[-1] - m, u[:-1])
    for c in corners:
        step = (c - u + m / 2) % m - m / 2  # signed distance (samples) from each anchor to the corner
        i = int(np.argmin(np.where(allowed, np.abs(step), np.inf)))
        reach = 0.5 * ((nxt[i] - u[i]) if step[i] > 0 else (u[i] - prev[i]))
        if not corner[i] and abs(step[i]) <= reach:
            u[i] += step[i]
            corner[i] = True
    return u, corner


def curves(rings: dict, idx: dict, anchors: np.ndarray, corner: np.ndarray, first: int, observed: np.ndarray,
           strength: float):
    """(points (F, N, 6), per-segment error (observed frames, N)) through the anchors on every
    frame: handles along the ring's tangents at the anchors (one-sided where ``corner`` (F, N)
    says an anchor sits on a corner), their lengths Schneider's least squares through the ring
    samples between them (``fitting.fit_frame_handles``); directions and lengths both solved jointly
    over the frames with a temporal smoothness term of weight ``strength``, so the curve
    between anchors does not flicker with the mask's staircase."""
    n_frames, n = anchors.shape[:2]
    seen = sorted(rings)
    t_out = np.zeros((n_frames, n, 2))
    t_in = np.zeros((n_frames, n, 2))
    for f in seen:
        t_out[f - first], t_in[f - first] = ring_tangents(rings[f], idx[f], corner[f - first])
    t_out = unit(smooth_series(t_out, observed, strength))
    t_in = np.where(corner[..., None], unit(smooth_series(t_in, observed, strength)), -t_out)
    at = np.array(seen) - first
    fit = fit_frame_handles([rings[f] for f in seen], [idx[f] for f in seen], anchors[at], t_out[at], t_in[at])
    normal = np.zeros((n_frames, n, 2, 2))
    rhs = np.zeros((n_frames, n, 2))
    normal[at], rhs[at] = fit.normal, fit.rhs
    errors = fit.error
    lengths = handle_lengths(anchors, normal, rhs, observed, strength)
    into = lengths[..., 1:2]  # into anchor i + 1: anchor i's incoming handle is the previous one's
    points = np.concatenate([anchors, t_in * np.concatenate([into[:, -1:], into[:, :-1]], axis=1),
                             t_out * lengths[..., 0:1]], -1)
    return points, errors


def handle_lengths(anchors, normal, rhs, observed, strength) -> np.ndarray:
    """(F, N, 2) lengths (out of anchor i, into anchor i+1): every frame's least-squares fit,
    solved jointly with a temporal smoothness term; a weak pull towards a third of the chord
    keeps spans whose fit is ill-posed (straight runs) well defined."""
    chord = np.linalg.norm(successors(anchors) - anchors, axis=-1)
    # Each span's data term weighs about 1 per frame, as the anchors' does, so that one
    # smoothing strength means the same for long and short spans.
    trace = np.trace(normal, axis1=-2, axis2=-1)
    per_span = np.maximum(trace[observed].mean(0), 1e-9)[None, :, None, None]
    w = normal / per_span + 0.02 * np.eye(2)
    b = rhs / per_span[..., 0] + 0.02 * (chord / 3.0)[..., None]
    lengths = solve_blocks(w, b, strength)
    return np.clip(lengths, 0.0, chord[..., None])
