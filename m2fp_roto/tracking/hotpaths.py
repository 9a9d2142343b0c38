"""Cheaper forms of the numpy and scipy calls that tracking's hot loops make on small arrays.

A few dozen to a few hundred values at a time, thousands of times a shot: there the general
wrappers (argument checks, conversions, result objects) cost more than the work. Each form here
gives the wrapped call's value to the bit (``tests/test_track_identity.py`` holds them to it),
so the documents do not change.
"""

from __future__ import annotations

import numpy as np


def median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D float array without NaNs: the middle value, or the mean of the two
    middle ones (``np.mean`` sums from +0.0, so -0.0 comes out +0.0, then halves)."""
    n = len(x)
    h = n // 2
    if not n:
        return np.nan
    if n % 2:
        return 0.0 + np.partition(x, h)[h]
    part = np.partition(x, (h - 1, h))
    return ((0.0 + part[h - 1]) + part[h]) / 2


def isotonic(y: np.ndarray) -> np.ndarray:
    """``scipy.optimize.isotonic_regression(y).x`` (increasing, unit weights) by its PAVA kernel
    (private to scipy: where a release has moved it, the public call)."""
    try:
        from scipy.optimize._pava_pybind import pava
    except ImportError:
        from scipy.optimize import isotonic_regression

        return isotonic_regression(y).x
    x = np.array(y, order="C", dtype=np.float64, copy=True)
    return pava(x, np.ones_like(x), np.full(len(x) + 1, -1, dtype=np.intp))[0]


def spsolve_csc(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``scipy.sparse.linalg.spsolve`` of a canonical CSC matrix (sorted rows, no duplicates;
    float64) and one right side: the same SuperLU call without the checks and conversions
    (private to scipy: where a release has moved it, ``spsolve`` itself)."""
    try:
        from scipy.sparse.linalg._dsolve import _superlu
    except ImportError:
        from scipy.sparse import csc_matrix
        from scipy.sparse.linalg import spsolve

        return spsolve(csc_matrix((data, indices, indptr), shape=(len(rhs), len(rhs))), rhs, use_umfpack=False)

    x, info = _superlu.gssv(len(rhs), len(data), data, indices.astype(np.intc, copy=False),
                            indptr.astype(np.intc, copy=False), rhs, 1, options=dict(ColPerm=None))
    if info != 0:  # spsolve's answer to an exactly singular matrix
        import warnings

        from scipy.sparse.linalg import MatrixRankWarning

        warnings.warn("Matrix is exactly singular", MatrixRankWarning, stacklevel=2)
        x.fill(np.nan)
    return x.ravel()


class Closest:
    """Closest points between two small point sets both ways, from one table of squared
    distances: for a few hundred points, cheaper than a k-d tree's queries and the same
    answer. A k-d tree sums the squared differences x then y and takes the root, as here; it
    breaks exact ties between different points in its own order, so ``both`` declines where
    any nearest distance is shared (the caller asks the trees then)."""

    #: The most pairs worth a table (beyond it the trees are faster).
    MAX_PAIRS = 220 * 220

    def __init__(self, b: np.ndarray):
        self.bx, self.by = np.array(b[:, 0]), np.array(b[:, 1])
        self.table = self.work = None

    def both(self, a: np.ndarray, d: np.ndarray, i_ab: np.ndarray, i_ba: np.ndarray) -> bool:
        """Distances ``d`` ([a to b, b to a]) and closest indices (into ``i_ab``: b's index
        for each a; ``i_ba``: a's for each b), written in place; False where declined."""
        na, nb = len(a), len(self.bx)
        if na * nb > self.MAX_PAIRS:
            return False
        if self.table is None or self.table.shape[0] != na:
            self.table, self.work = np.empty((na, nb)), np.empty((na, nb))
        dd, dy = self.table, self.work
        np.subtract.outer(a[:, 0], self.bx, out=dd)
        np.multiply(dd, dd, out=dd)
        np.subtract.outer(a[:, 1], self.by, out=dy)
        np.multiply(dy, dy, out=dy)
        np.add(dd, dy, out=dd)
        ab, ba = dd.argmin(1), dd.argmin(0)
        best_ab, best_ba = dd[np.arange(na), ab], dd[ba, np.arange(nb)]
        if np.count_nonzero(dd == best_ab[:, None]) != na or np.count_nonzero(dd == best_ba) != nb:
            return False
        np.sqrt(best_ab, out=d[:na])
        np.sqrt(best_ba, out=d[na:])
        i_ab[:], i_ba[:] = ab, ba
        return True
