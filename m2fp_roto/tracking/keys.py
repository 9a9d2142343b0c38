"""Key reduction: keys only where linear interpolation between them would leave the shape.

Greedy error-bounded insertion (Ramer-Douglas-Peucker in time): start from the first and last
frame, and while some in-between frame strays more than ``tolerance`` px from the line between
its two neighbouring keys, make the worst one a key. The error of a frame is the largest
distance between the interpolated and the true outline, point for point along the curve (the
anchors and 7 points between each pair) - what the matte shows. A Bezier point is linear in the
control points, so the interpolated keys' curve is the blend of the keys' curves; handle tips are
not measured themselves: a tip off by d moves the curve by at most 4/9 d. A shot where nothing
moves by more than the tolerance gets one key.

Only frames that were observed may be keys (a frame without a label map, or where the part was
hidden, has nothing to key). Where the blend between two keys would overlap a frame's outline
too little (``keep_faithful``: a small part, for which the tolerance is large) or fold the
outline over itself (``keep_simple``), the frame in between becomes a key too.
"""

from __future__ import annotations

import numpy as np

from ..bezier import sample

PER_SEGMENT = 8


def curve_positions(points: np.ndarray) -> np.ndarray:
    """(..., N, 6) document points -> (..., 8N, 2) points along the outline, anchors included."""
    return sample(points, PER_SEGMENT)


def interpolation_error(pos: np.ndarray, a: int, b: int, measure: str = "max") -> np.ndarray:
    """Distance (px) of frames a..b from the linear blend of frames a and b.

    ``pos`` (F, P, 2) from :func:`curve_positions`. ``measure`` "max": the farthest point;
    "rms": the root mean square over the points.
    """
    t = np.linspace(0.0, 1.0, b - a + 1)[:, None, None]
    return deviation((1.0 - t) * pos[a] + t * pos[b] - pos[a:b + 1], measure)


def deviation(diff: np.ndarray, measure: str) -> np.ndarray:
    """Per frame, the size (px) of point offsets ``diff`` (..., P, 2): "max" or "rms" over P."""
    sq = (diff**2).sum(-1)
    return np.sqrt(sq.max(-1) if measure == "max" else sq.mean(-1))


def reduce_keys(points: np.ndarray, tolerance: float, measure: str = "max", observed=None) -> np.ndarray:
    """Indices (sorted) of the frames of ``points`` (F, N, 6) to keep as keys.

    ``observed`` (F,) bool: the frames that may be keys (default all; the first and last must
    be); the error is measured on them only, the others are blended through.

    >>> still = np.zeros((10, 3, 6)); still[:, :, 0] = [0, 5, 9]
    >>> reduce_keys(still, 1.0).tolist()
    [0]
    """
    f = len(points)
    seen = np.ones(f, bool) if observed is None else np.asarray(observed, bool)
    pos = curve_positions(points)
    if f == 1 or (deviation(pos - pos[0], measure) * seen).max() <= tolerance:
        return np.array([0])
    keep = {0, f - 1}
    spans = [(0, f - 1)]
    while spans:
        a, b = spans.pop()
        if b - a < 2:
            continue
        err = interpolation_error(pos, a, b, measure) * seen[a:b + 1]
        k = int(np.argmax(err))
        if err[k] > tolerance:
            keep.add(a + k)
            spans += [(a, a + k), (a + k, b)]
    return np.array(sorted(keep))


def keep_faithful(points: np.ndarray, kept: np.ndarray, rings: dict, first: int, floor: float) -> np.ndarray:
    """``kept`` key indices (0 among them, as ``reduce_keys`` gives) plus, between every two
    keys whose blend overlaps some frame's outline (``rings`` {frame: ring}; index 0 is frame
    ``first``) less than ``floor`` (IoU) and less than that frame's own points do, the frame
    where it falls most short, until none does. After the last key the blend holds it.

    A tolerance in px is one size for all: a face 8 px across, blended 1 px off its tracked
    outline, loses up to a quarter of its IoU with its region between keys."""
    from .frame_repair import overlap

    if floor <= 0.0:
        return np.asarray(kept)
    seen = sorted(f - first for f in rings)
    own: dict = {}  # the tracked frame's own IoU, where a blend falls short of the floor
    keep = sorted(int(k) for k in kept)
    spans = list(zip(keep, keep[1:] + [len(points)]))  # [a, b): blended from key a to key b
    keep = set(keep)
    while spans:
        a, b = spans.pop()
        worst, k = 0.0, None
        for i in (i for i in seen if a < i < b):
            blended = points[a] if b == len(points) else points[a] + (i - a) / (b - a) * (points[b] - points[a])
            iou = overlap(blended, rings[first + i])[1]
            if iou >= floor:
                continue
            if i not in own:
                own[i] = overlap(points[i], rings[first + i])[1]
            if own[i] - iou > worst:
                worst, k = own[i] - iou, i
        if k is not None:
            keep.add(k)
            spans += [(a, k), (k, b)]
    return np.array(sorted(keep))


def keep_simple(points: np.ndarray, kept: np.ndarray, observed=None) -> np.ndarray:
    """``kept`` key indices plus, wherever the blend between two keys crosses itself, the
    nearest frame that may be a key (observed) at each such frame, until every frame is simple
    or the observed frames around every crossing one are keys already.
    """
    from ..crossings import is_simple

    f = len(points)
    seen = np.flatnonzero(np.ones(f, bool) if observed is None else observed)
    keep = set(int(k) for k in kept)
    for _ in range(f):
        keys = np.array(sorted(keep))
        if len(keys) == f:
            break
        t = np.arange(f)
        i = np.clip(np.searchsorted(keys, t, side="right") - 1, 0, max(len(keys) - 2, 0))
        if len(keys) == 1:
            blend = np.repeat(points[keys], f, axis=0)
        else:
            w = np.clip((t - keys[i]) / (keys[i + 1] - keys[i]), 0.0, 1.0)[:, None, None]
            blend = (1.0 - w) * points[keys[i]] + w * points[keys[i + 1]]
        bad = [k for k in range(f) if k not in keep and not is_simple(blend[k])]
        if not bad:
            break
        added = {int(seen[np.argmin(np.abs(seen - k))]) for k in bad} - keep
        if not added:  # the nearest observed frames are keys already; a frame without data is never a key
            break
        keep |= added
    return np.array(sorted(keep))
