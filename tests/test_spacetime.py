"""The spacetime stage on its own: temporal smoothing, the normal-weighted solve, the snap that
keeps anchors in order, and ring registration (m2fp_roto.tracking.spacetime)."""

import numpy as np

from m2fp_roto.geometry import resample_ring
from m2fp_roto.tracking.placement import even, follow
from m2fp_roto.tracking.spacetime import ring_motion, smooth_series, snap, solve_blocks, spacetime_solve


def ellipse(n=400, a=60.0, b=30.0, centre=(100.0, 80.0), angle=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    xy = np.column_stack([a * np.cos(t), b * np.sin(t)])
    c, s = np.cos(angle), np.sin(angle)
    return xy @ np.array([[c, s], [-s, c]]) + centre


def test_smooth_series_keeps_constant_velocity_and_fills_gaps():
    t = np.arange(30, dtype=float)
    line = np.stack([2.0 * t + 1.0, -0.5 * t], axis=1)  # (F, 2): no acceleration anywhere
    observed = np.ones(30)
    observed[10:15] = 0.0  # five frames without data
    values = np.where(observed[:, None] > 0, line, 1e6)  # whatever sits there must not count
    out = smooth_series(np.where(observed[:, None] > 0, values, np.nan), observed, strength=50.0)
    assert np.abs(out - line).max() < 1e-6


def test_smooth_series_removes_jitter_towards_the_truth():
    rng = np.random.default_rng(3)
    t = np.arange(60, dtype=float)
    truth = np.column_stack([t, 0.02 * t**2])
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    out = smooth_series(noisy, np.ones(60), strength=5.0)
    err_before = np.abs(noisy - truth)[5:-5].mean()
    err_after = np.abs(out - truth)[5:-5].mean()
    assert err_after < 0.5 * err_before


def test_spacetime_solve_slides_along_the_edge_but_holds_the_normal():
    """Data noisy along the edge (x) and exact across it (y): with a small slide weight the
    solution follows the data across the edge and smooths along it."""
    rng = np.random.default_rng(5)
    f = 40
    q = np.zeros((f, 1, 2))
    q[:, 0, 0] = 50.0 + rng.normal(0, 2.0, f)  # along the edge
    q[:, 0, 1] = 20.0 + 0.5 * np.arange(f)  # across it: a steady move
    normals = np.zeros((f, 1, 2))
    normals[..., 1] = 1.0
    out = spacetime_solve(q, normals, np.ones(f, bool), strength=10.0, slide=0.05)
    assert np.abs(out[:, 0, 1] - q[:, 0, 1]).max() < 0.05  # on the edge
    assert np.abs(np.diff(out[:, 0, 0], 2)).mean() < 0.1 * np.abs(np.diff(q[:, 0, 0], 2)).mean()


def test_robust_solve_cuts_less_off_a_real_swing():
    """Huber reweighting: a limb swinging back at 3 px/frame (one large acceleration) is cut
    less by the smoothing than with a plain quadratic term (tracking's default strength and knee)."""
    f = 30
    x = np.where(np.arange(f) < 15, 3.0 * np.arange(f), 90.0 - 3.0 * np.arange(f))
    path = x[:, None, None] * np.array([1.0, 0.0])
    w = np.broadcast_to(np.eye(2), (f, 1, 2, 2)).copy()
    b = np.einsum("tncd,tnd->tnc", w, path)
    plain = solve_blocks(w, b, strength=0.5)
    robust = solve_blocks(w, b, strength=0.5, robust=2.0)
    assert np.abs(robust - path).max() < 0.85 * np.abs(plain - path).max()  # measured 1.07 against 1.41 px


def test_snap_keeps_cyclic_order_and_windows():
    ring = ellipse()
    expected = np.array([10.0, 90.0, 170.0, 260.0, 350.0])
    predicted = ring[[395, 95, 171, 255, 352]]  # the first one predicted just before index 0
    idx = snap(ring, predicted, expected)
    assert 0 <= idx[0] < len(ring) and np.all(np.diff(idx) > 0) and idx[-1] - idx[0] < len(ring)
    assert (idx % len(ring)).tolist() == [395, 95, 171, 255, 352]  # each at its prediction
    # every anchor stays between the midpoints to its neighbours' expected places
    nxt = np.append(expected[1:], expected[0] + len(ring))
    hi = 0.5 * (expected + nxt)
    lo = np.append(hi[-1] - len(ring), hi[:-1])
    u = idx - len(ring) * (idx[0] > hi[0])  # in the windows' unwrapping (the first one starts below 0)
    assert np.all((u >= np.floor(lo)) & (u <= np.ceil(hi)))


def test_ring_motion_recovers_a_rigid_move():
    """A frame-to-frame move of an asymmetric outline (an L) is found within half a pixel;
    the anchors' own local registration and snap then finish the job."""
    corners = np.array([[0, 0], [80, 0], [80, 30], [30, 30], [30, 70], [0, 70]], float) + [60, 40]
    src = resample_ring(corners, 0.5)
    angle, shift = np.radians(4.0), np.array([3.0, -2.0])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    centre = src.mean(0)
    dst = np.roll((src - centre) @ rot.T + centre + shift, 37, axis=0)  # starts elsewhere on the ring
    lin, t = ring_motion(src, dst, scale=1.0)
    moved = src @ lin.T + t
    truth = (src - centre) @ rot.T + centre + shift
    assert np.abs(moved - truth).max() < 0.6  # measured 0.42 px


def test_follow_keeps_anchors_on_the_same_place_of_a_moving_ring():
    base = ellipse(n=400)
    rings = {f: np.roll(base + [3.0 * f, 1.0 * f], 13 * f, axis=0) for f in range(6)}  # moves, index origin shifts
    u_ref = even(0, 8, len(base))
    out = follow(rings, 0, u_ref)
    for f, ring in rings.items():
        where = ring[np.round(out[f]).astype(int) % len(ring)] - [3.0 * f, 1.0 * f]
        assert np.abs(where - base[u_ref.astype(int)]).max() < 1.5, f  # within a few samples of the same spot
        assert np.all(np.diff(out[f]) > 0)
