"""Where a shape's anchors sit along each frame's outline: followed, then evenly spread.

A fixed number of anchors has to fit every frame of a shot, however the outline stretches,
bends and grows a hand. ``follow`` carries the anchors from frame to frame, from the reference
frame outwards: each goes where its own arc of the outline moves to (the person's motion, then
the arc's, ``spacetime.local_motion``), in the outline's order (``spacetime.ordered_positions``).
That keeps them on the same place of a part that moves rigidly; but wherever the outline
stretches, shrinks or changes shape, the anchors that only follow would bunch up here and
leave a swinging hand with none there.

So every frame's places are ``regularize``-d towards even spacing, after de Boor's
*equidistribution principle* for the knots of spline approximation (C. de Boor, "Good
approximation by splines with variable knots", 1973): a least squares that keeps each anchor
near where it was followed to while the second difference of the spacing along the outline
is pulled towards zero, so collapsed anchors spread out and a stretch of outline that grows
between two anchors draws its neighbours in. Arc length is the measure: weighting it by
curvature placed anchors better on one frame, but moved them with every wobble of a mask's
outline (measured on DAVIS ``lucia``: twice the jitter for 5 % less fit error).
"""

from __future__ import annotations

import functools

import numpy as np

from .spacetime import local_motion, ordered_positions, ring_motion, sample_normals

#: Weight of even spacing against following each anchor's own arc (see ``regularize``).
STIFFNESS = 10.0


def regularize(u: np.ndarray, m: int, stiffness: float = STIFFNESS) -> np.ndarray:
    """Positions ``u`` (N,) on a ring of ``m`` samples (increasing, unwrapped) moved towards
    even spacing along it.

    Minimises sum_i (s_i - s0_i)^2 + stiffness * sum_i (s_{i+1} - 2 s_i + s_{i-1})^2 over the
    anchors' places s in turns (cyclic: s_N = s_0 + 1), s0 = u / m.
    """
    n = len(u)
    if stiffness <= 0 or n < 3:
        return u
    matrix, shift = _even_spacing(n, stiffness)
    s = np.linalg.solve(matrix, u / m - shift)
    return np.maximum.accumulate(s) * m


@functools.lru_cache(maxsize=16)
def _even_spacing(n: int, stiffness: float) -> tuple[np.ndarray, np.ndarray]:
    """``regularize``'s normal matrix and the constant part of its right side: the same for
    every frame of a shape (made once, read-only)."""
    i = np.arange(n)
    c = np.zeros((n, n))
    c[i, (i - 1) % n] += 1.0
    c[i, i] -= 2.0
    c[i, (i + 1) % n] += 1.0
    e = np.zeros(n)
    e[0], e[-1] = -1.0, 1.0  # s_{-1} = s_{N-1} - 1 and s_N = s_0 + 1
    matrix, shift = np.eye(n) + stiffness * c.T @ c, stiffness * c.T @ e
    matrix.flags.writeable = shift.flags.writeable = False
    return matrix, shift


def even(start: float, n: int, m: int) -> np.ndarray:
    """``n`` evenly spaced positions on a ring of ``m`` samples from sample ``start``."""
    return start + np.arange(n) * m / n


def follow(rings: dict, reference: int, u_ref: np.ndarray, prior=None, stiffness: float = STIFFNESS,
           motions: dict | None = None, trees: dict | None = None, normals: dict | None = None) -> dict:
    """{frame: continuous positions (N,)} of the anchors on every ring, from the reference
    frame's ``u_ref`` outwards (see the module docstring). ``motions`` (``ring_motions(rings,
    reference, prior)``), ``trees`` (``ring_trees(rings)``) and ``normals``
    (``ring_sample_normals(rings)``) when already made: they do not depend on the anchors."""
    motions = ring_motions(rings, reference, prior) if motions is None else motions
    trees = ring_trees(rings) if trees is None else trees
    normals = ring_sample_normals(rings) if normals is None else normals
    out = {reference: u_ref}
    for prev, frame in outwards(rings, reference):
        src, dst = rings[prev], rings[frame]
        u = out[prev]
        lin, shift = motions[prev, frame]
        target = local_motion(src, np.round(u).astype(np.int64), dst, lin, shift, tree=trees[frame],
                              normals=(normals[prev], normals[frame]))
        placed = ordered_positions(dst, target, u / len(src), tree=trees[frame])
        out[frame] = regularize(placed - np.floor(placed[0] / len(dst)) * len(dst), len(dst), stiffness)
    return out


def outwards(rings: dict, reference: int):
    """The (previous, next) frame pairs of ``rings`` from the reference frame outwards, both ways."""
    frames = sorted(rings)
    pos = frames.index(reference)
    for sequence in (frames[pos + 1:], frames[:pos][::-1]):
        prev = reference
        for frame in sequence:
            yield prev, frame
            prev = frame


def ring_motions(rings: dict, reference: int, prior=None) -> dict:
    """{(previous, next): (s*R, t)} ``ring_motion`` of every step ``follow`` takes, each starting
    from the person's motion ``prior(previous, next)`` when given."""
    return {(a, b): ring_motion(rings[a], rings[b], start=prior(a, b) if prior else None)
            for a, b in outwards(rings, reference)}


def ring_sample_normals(rings: dict) -> dict:
    """{frame: the normal at every sample of the ring}, for matching arcs to the side they face."""
    return {f: sample_normals(ring) for f, ring in rings.items()}


def ring_trees(rings: dict) -> dict:
    """{frame: k-d tree of the ring's samples}, for the closest-sample queries on it."""
    from scipy.spatial import cKDTree

    return {f: cKDTree(ring) for f, ring in rings.items()}
