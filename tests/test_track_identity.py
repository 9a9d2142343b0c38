"""The tracking solver's fast paths give exactly what the plain formulations give
(``support.plain_stages``), bit for bit:

- handle lengths fitted for many frames in one batch against each frame on its own;
- the spacetime solve's normal matrix written entry by entry, and the robust solve with it,
  against sparse algebra;
- the order-keeping snap (a reduceat per window) against sorting by (distance, anchor);
- the crossing search (box pairs, then shapely's predicate on the non-adjacent ones) against
  the tree's predicate on every pair;
- the ICP's closest points from one distance table (k-d trees where points tie or are many)
  and the arcs' registration against k-d trees, stacking and ``np.mean`` throughout;
- a frame's faithfulness counted from the rows' parity toggles against two rasters;
- the small-array helpers (median, isotonic regression) against numpy's and scipy's.
"""

from __future__ import annotations

import numpy as np
import pytest

from m2fp_roto import fitting
from m2fp_roto.cli.demo import render_frame
from m2fp_roto.crossings import crossing_segments
from m2fp_roto.parsing import Parsing
from m2fp_roto.tracking import frame_repair, hotpaths, spacetime
from m2fp_roto.vectorize import vectorize_parsing
from support import plain_stages


def test_frame_handles_match_frame_by_frame_fits():
    rng = np.random.default_rng(3)
    rings = [c.ring for c in vectorize_parsing(Parsing(1001, *render_frame(4, 12, 1.0, 2)))][:12]
    n = 9
    idx, anchors, t_out, t_in = [], [], [], []
    for ring in rings:
        m = len(ring)
        i = np.sort(rng.choice(m, n, replace=False)) + int(rng.integers(0, m))
        corner = rng.random(n) < 0.3
        out, inn = spacetime.ring_tangents(ring, i, corner)
        idx.append(i)
        anchors.append(ring[i % m] + rng.normal(0, 0.3, (n, 2)))
        t_out.append(out)
        t_in.append(inn)
    got = fitting.fit_frame_handles(rings, idx, np.stack(anchors), np.stack(t_out), np.stack(t_in))
    for k, ring in enumerate(rings):
        want = plain_stages.fit_handles(ring, idx[k], anchors[k], t_out[k], t_in[k])
        for field, value in zip(("len_out", "len_in", "error", "normal", "rhs"), want):
            assert np.array_equal(getattr(got, field)[k], value), (k, field)


def test_normal_matrix_matches_the_sparse_algebra():
    rng = np.random.default_rng(0)
    for trial in range(200):
        f, n = int(rng.integers(1, 12)), int(rng.integers(1, 6))
        w = rng.normal(size=(f, n, 2, 2))
        w = w @ w.transpose(0, 1, 3, 2)
        w[rng.random(f) < 0.3] = 0.0  # frames without data
        axis = rng.random((f, n)) < 0.3  # normals along an axis: no cross term
        w[axis, 0, 1] = w[axis, 1, 0] = 0.0
        rows = n * max(f - 2, 0) * 2  # one weight per row of D2
        weights = np.ones(rows) if trial % 2 else np.minimum(1.0, 2.0 / rng.uniform(0.01, 6.0, rows))
        strength = float(rng.choice([1e-6, 0.1, 0.5, 10.0]))
        got = spacetime._normal_matrix(w, weights, strength)
        want = plain_stages.normal_matrix(w, weights, strength)
        for part in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(got, part), getattr(want, part)), (trial, part)


def test_robust_solve_matches_the_sparse_algebra():
    rng = np.random.default_rng(4)
    for trial in range(60):
        f, n = int(rng.integers(1, 30)), int(rng.integers(1, 6))
        normals = rng.normal(size=(f, n, 2))
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        w = 0.05 * np.eye(2) + 0.95 * normals[..., :, None] * normals[..., None, :]
        w[rng.random(f) < 0.2] = 0.0
        w[: min(f, 2)] = np.eye(2)  # data on at least two frames
        path = np.cumsum(rng.normal(0, 3.0, (f, n, 2)), axis=0)  # swings above the Huber knee
        b = np.einsum("tncd,tnd->tnc", w, path)
        got = spacetime.solve_blocks(w, b, 0.5, robust=2.0)
        assert np.array_equal(got, plain_stages.solve_blocks(w, b, 0.5, robust=2.0)), trial


def test_snap_matches_the_sorted_formulation():
    rng = np.random.default_rng(1)
    for trial in range(500):
        m = int(rng.integers(5, 400))
        n = int(rng.integers(1, min(m, 40) + 1))
        ring = rng.normal(size=(m, 2)) * 50
        predicted = rng.normal(size=(n, 2)) * 50
        if trial % 3 == 0:  # integer coordinates: equal distances in a window
            ring, predicted = np.round(ring), np.round(predicted)
        expected = np.sort(rng.uniform(0, m, n)) + rng.integers(-m, m)
        assert np.array_equal(spacetime.snap(ring, predicted, expected),
                               plain_stages.snap(ring, predicted, expected)), trial


def test_crossing_segments_match_the_predicate_on_every_pair():
    rng = np.random.default_rng(2)
    crossing = 0
    for trial in range(300):
        points = np.zeros((int(rng.integers(3, 12)), 6))
        points[:, :2] = rng.uniform(0, 20, (len(points), 2))
        points[:, 2:] = rng.normal(0, 4, (len(points), 4))
        if trial % 3 == 0:  # on a grid: curves that touch at points and along lines
            points = np.round(points)
        got, want = crossing_segments(points), plain_stages.crossing_segments(points)
        assert np.array_equal(got, want), trial
        crossing += len(want) > 0
    assert crossing > 100


def _demo_rings(scale=1.0, frame=4):
    return [c.ring for c in vectorize_parsing(Parsing(1001, *render_frame(frame, 12, scale, 2)))]


def test_small_array_helpers_match_numpy_and_scipy():
    from scipy.optimize import isotonic_regression

    rng = np.random.default_rng(5)
    for trial in range(2000):
        x = rng.normal(size=int(rng.integers(1, 60))) * 10
        if trial % 3 == 0:
            x = np.round(x)  # ties
        assert np.float64(hotpaths.median(x)).tobytes() == np.float64(np.median(x)).tobytes(), trial
        assert np.array_equal(hotpaths.isotonic(x), isotonic_regression(x).x), trial


def test_ring_motion_matches_the_tree_formulation():
    rng = np.random.default_rng(6)
    rings = _demo_rings(1.0) + _demo_rings(2.0)
    for trial in range(120):
        src = rings[trial % len(rings)]
        angle, scale = rng.normal(0, 0.05), rng.uniform(0.95, 1.05)
        lin = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        dst = src[int(rng.integers(0, len(src))):] @ lin.T + rng.normal(0, 3, 2)
        dst = np.vstack([dst, src[:len(src) - len(dst)] @ lin.T + (dst[0] - src[-len(dst)] @ lin.T)])
        if trial % 4 == 0:  # on the pixel grid: equal distances, the tables decline
            src, dst = np.round(src), np.round(dst)
        start = (lin, rng.normal(0, 3, 2)) if trial % 2 else None
        kwargs = {"scale": 1.0} if trial % 5 == 0 else {}
        got = spacetime.ring_motion(src, dst, start=start, **kwargs)
        want = plain_stages.ring_motion(src, dst, start=start, **kwargs)
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), trial


def test_local_motion_matches_the_plain_formulation():
    rng = np.random.default_rng(7)
    rings = _demo_rings(1.0)
    for trial in range(60):
        src = rings[trial % len(rings)]
        dst = src @ np.array([[1.0, -0.02], [0.02, 1.0]]).T + rng.normal(0, 0.4, src.shape)
        idx = np.sort(rng.choice(len(src), int(rng.integers(3, 30)), replace=False))
        lin, shift = np.eye(2) * rng.uniform(0.98, 1.02), rng.normal(0, 2, 2)
        assert np.array_equal(spacetime.local_motion(src, idx, dst, lin, shift),
                              plain_stages.local_motion(src, idx, dst, lin, shift)), trial


def test_faithfulness_matches_the_rasters():
    rng = np.random.default_rng(8)
    contours = vectorize_parsing(Parsing(1001, *render_frame(3, 12, 1.0, 2)))
    for trial in range(80):
        c = contours[trial % len(contours)]
        points = c.points + rng.normal(0, [1.5, 1.5, 2, 2, 2, 2], c.points.shape) * (trial % 3)
        if trial % 4 == 0:
            points = np.round(points)  # curves through pixel centres' rows
        got, want = frame_repair.unfaithful(points, c.ring), plain_stages.unfaithful(points, c.ring)
        assert np.float64(got).tobytes() == np.float64(want).tobytes(), trial


def test_private_scipy_kernels_fall_back_to_the_public_calls(monkeypatch):
    import sys

    from scipy.optimize import isotonic_regression
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    rng = np.random.default_rng(8)
    x = rng.normal(size=40)
    band = np.diag(rng.uniform(1, 2, 30)) + np.diag(rng.uniform(0, 0.3, 29), 1) + np.diag(rng.uniform(0, 0.3, 29), -1)
    a = csc_matrix(band)
    a.sort_indices()
    rhs = rng.normal(size=30)
    fast = hotpaths.isotonic(x), hotpaths.spsolve_csc(a.data, a.indices, a.indptr, rhs.copy())
    import scipy.sparse.linalg._dsolve as dsolve

    for private in ("scipy.optimize._pava_pybind", "scipy.sparse.linalg._dsolve._superlu"):
        monkeypatch.setitem(sys.modules, private, None)  # as if a scipy release had moved it
    monkeypatch.delattr(dsolve, "_superlu")
    with pytest.raises(ImportError):
        from scipy.sparse.linalg._dsolve import _superlu  # noqa: F401
    np.testing.assert_array_equal(hotpaths.isotonic(x), isotonic_regression(x).x)
    np.testing.assert_array_equal(hotpaths.spsolve_csc(a.data, a.indices, a.indptr, rhs.copy()), spsolve(a, rhs))
    np.testing.assert_array_equal(fast[0], hotpaths.isotonic(x))
    np.testing.assert_array_equal(fast[1], hotpaths.spsolve_csc(a.data, a.indices, a.indptr, rhs.copy()))
