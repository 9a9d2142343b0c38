"""One tracked frame put right on its own outline: made simple where the curve crosses itself,
fitted on its own where the smoothing in time pulled it off, its anchors placed again where the
outline changed more than anchors followed from other frames can draw, or rearranged where a
corridor joining two pieces of a part is drawn as a wedge (``repair_frame``, for
:func:`.track.track_shape`)."""

from __future__ import annotations

import numpy as np

from ..bezier import flatten, row_crossings
from ..crossings import crossing_segments, untangle
from ..fitting import find_corners, fit_ring
from ..geometry import polygon_area, ring_length
from ..vectorize import ring_tolerance
from .corridors import mouths
from .outline import curves, increasing, ring_at

#: A tracked frame whose curve strays farther than this (px) from its own outline on average
#: along it, or overlaps it less than this (IoU; small parts), is fitted on its own instead:
#: the smoothing in time cost it its shape there.
FAITHFUL_PX, FAITHFUL_IOU = 0.5, 0.8
#: A frame whose curve still overlaps its outline less than this (IoU) gets its anchors placed
#: again on that frame (``place_again``): where a part's outline changed shape between frames
#: (a sleeve cut in two by an arm in front, a foot's matte split and joined), the anchors
#: followed from other frames leave the new lobe without any.
FLOOR_IOU = 0.9
#: Anchors ``move_anchors`` moves, at most, before it gives way to a whole new placement.
MOVES = 6
#: A frame whose outline joins pieces by corridors (``geometry.bridge_rings``) gets its anchors
#: rearranged where that gains at least this much IoU: a corridor is drawn as a wedge across
#: what lies between the pieces when no anchor followed from frames where the part was whole
#: sits at its ends.
CORRIDOR_GAIN = 0.01


def repair_frame(points: np.ndarray, ring: np.ndarray, idx: np.ndarray, on: np.ndarray, corner: np.ndarray,
                 anchor_tolerance: float, corner_angle: float, corridors=()) -> np.ndarray:
    """One tracked frame's points put right on its outline ``ring``: made simple; where the
    smoothing in time pulled them off it (``unfaithful``), fitted on their own if that is closer;
    where they still overlap it less than ``FLOOR_IOU``, their anchors placed again
    (``place_again``); where ``ring`` joins pieces by ``corridors`` (``corridors.Corridor``s)
    and one is drawn as a wedge, its anchors rearranged (``close_corridor``). ``idx``, ``on``,
    ``corner``: the anchors' sample indices, their places exactly on the outline, their corner
    flags."""
    points = make_simple(points, ring, idx, on, corner)
    apart, iou = overlap(points, ring)
    off = _off(apart, iou, ring)
    if off > 1.0:  # the smoothing in time cost this frame its shape: fitted on its own
        own = make_simple(fit_alone(ring, idx, on, corner), ring, idx, on, corner)
        own_apart, own_iou = overlap(own, ring)
        if _off(own_apart, own_iou, ring) < off:
            points, iou = own, own_iou
    points = place_again(points, ring, idx, on, corner, anchor_tolerance, corner_angle, iou)
    return close_corridor(points, ring, idx, on, corner, corridors) if corridors else points


def unfaithful(points: np.ndarray, ring: np.ndarray) -> float:
    """How far the closed curve of ``points`` is from the polygon ``ring``, as a multiple of
    what is allowed (> 1: too far): its mean distance (the pixel centres inside one and not
    the other, per px of the ring's length) over ``FAITHFUL_PX``, or its IoU's shortfall."""
    return _off(*overlap(points, ring), ring)


def _off(apart: int, iou: float, ring: np.ndarray) -> float:
    """``unfaithful`` from ``overlap``'s figures."""
    return max(apart / max(ring_length(ring), 1.0) / FAITHFUL_PX, (1.0 - iou) / (1.0 - FAITHFUL_IOU))


def overlap(points: np.ndarray, ring: np.ndarray) -> tuple[int, float]:
    """(pixel centres inside one of the closed curve of ``points`` and the polygon ``ring`` and
    not the other, their IoU)."""
    curve = flatten(points)
    lo = np.floor(np.minimum(curve.min(0), ring.min(0))) - 1
    size = tuple(np.ceil(np.maximum(curve.max(0), ring.max(0)) - lo + 1).astype(int)[::-1])
    # The pixel counts of fill_polygons' masks a and b, from where each row's parity toggles
    # (no raster): a ^ b toggles where either does, and |a | b| = (|a| + |b| + |a ^ b|) / 2.
    (ra, ca), (rb, cb) = row_crossings(curve - lo, size), row_crossings(ring - lo, size)
    apart = _inside(np.concatenate([ra, rb]), np.concatenate([ca, cb]), size[1])
    union = (_inside(ra, ca, size[1]) + _inside(rb, cb, size[1]) + apart) // 2
    return apart, 1.0 - apart / union if union else 1.0


def _inside(rows: np.ndarray, cols: np.ndarray, width: int) -> int:
    """Pixels inside by the even-odd rule, from the parity toggles at ``rows``, ``cols``
    (``bezier.row_crossings``): per row, the columns between the 1st and 2nd toggle, the 3rd and
    4th, ... (a row left odd runs to ``width``, as a raster's would)."""
    odd = np.flatnonzero(np.bincount(rows) & 1)
    keys = np.sort(np.concatenate([rows * (width + 1) + cols, odd * (width + 1) + width]))
    return int((keys[1::2] - keys[0::2]).sum())


def fit_alone(ring: np.ndarray, idx: np.ndarray, anchors: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """(N, 6) points through ``anchors`` with handles fitted to this one frame's ``ring``
    (``idx``: the anchors' sample indices), nothing smoothed in time."""
    return _fit(ring, idx, corner, anchors)[0]


def _fit(ring: np.ndarray, idx: np.ndarray, corner: np.ndarray, anchors: np.ndarray | None = None):
    """(``fit_alone``'s points, each span's error); ``anchors`` default to the samples ``idx``."""
    anchors = ring[idx % len(ring)] if anchors is None else anchors
    points, errors = curves({0: ring}, {0: idx}, anchors[None], corner[None], 0, np.ones(1, bool), 0.0)
    return points[0], errors[0]


def place_again(points: np.ndarray, ring: np.ndarray, idx: np.ndarray, on: np.ndarray, corner: np.ndarray,
                anchor_tolerance: float, corner_angle: float, iou: float | None = None) -> np.ndarray:
    """One frame's points, or where they overlap ``ring`` less than ``FLOOR_IOU``, the first of
    these to reach it (else the one that overlaps most, if more than they do): a few anchors
    moved (``move_anchors``: the others keep their places, so their paths do not jump), then
    every anchor where this frame's own fit puts them (``fit_again``, within the vectorizer's
    tolerance for the ring's area from ``anchor_tolerance``).
    ``idx``, ``on`` and ``corner`` are the frame's anchors as ``make_simple`` takes them; ``iou``:
    the points' overlap when known."""
    best = overlap(points, ring)[1] if iou is None else iou
    if best >= FLOOR_IOU:
        return points
    tolerance = ring_tolerance(anchor_tolerance, abs(polygon_area(ring)))
    for again in (lambda: move_anchors(ring, idx, corner), lambda: fit_again(ring, points, tolerance, corner_angle)):
        candidate = make_simple(again(), ring, idx, on, corner)
        iou = overlap(candidate, ring)[1]
        if iou > best:
            points, best = candidate, iou
        if best >= FLOOR_IOU:
            break
    return points


def close_corridor(points: np.ndarray, ring: np.ndarray, idx: np.ndarray, on: np.ndarray, corner: np.ndarray,
                   corridors) -> np.ndarray:
    """``points`` of a frame whose ``ring`` joins pieces by ``corridors``, or, where that raises
    their overlap by ``CORRIDOR_GAIN`` (a corridor drawn as a wedge), the better of: a few
    anchors moved to the spans that miss it most (``move_anchors``), and anchors on the
    corridors' corners (``anchor_mouths``)."""
    iou = overlap(points, ring)[1]
    best, best_iou = points, iou + CORRIDOR_GAIN
    for again in (move_anchors(ring, idx, corner, min(best_iou, 1.0)), anchor_mouths(ring, idx, corner, corridors)):
        candidate = make_simple(again, ring, idx, on, corner)
        candidate_iou = overlap(candidate, ring)[1]
        if candidate_iou >= best_iou:
            best, best_iou = candidate, candidate_iou
    return best


def anchor_mouths(ring: np.ndarray, idx: np.ndarray, corner: np.ndarray, corridors) -> np.ndarray:
    """(N, 6) points of ``ring`` with an anchor on each corner where a side of one of
    ``corridors`` leaves a piece (``corridors.mouths``), as a corner: the first and the last
    anchor along that side, or where the side has fewer, the last anchor before it or the first
    after it. The other anchors keep their places (``idx``: increasing sample indices); all
    of them do where that would put two on one sample.

    Without anchors there, a span rounds the corner and the corridor is drawn as a wedge across
    what lies between the pieces (a sleeve cut in two by an arm in front: the wedge across the
    arm); the more anchors a shape has, the more often one of them sits on the corridor with
    none at its ends."""
    m = len(ring)
    u, c = np.asarray(idx) % m, np.array(corner, bool)
    for corridor in corridors:
        for lo, hi in mouths(ring, corridor):
            span, ahead = (hi - lo) % m, (u - lo) % m  # the side's samples; each anchor's, from lo
            inside, outside = np.flatnonzero(ahead <= span), np.flatnonzero(ahead > span)
            before = outside[ahead[outside].argmax()] if len(outside) else None
            after = outside[ahead[outside].argmin()] if len(outside) else None
            if len(inside) >= 2:
                first, last = inside[ahead[inside].argmin()], inside[ahead[inside].argmax()]
            elif len(inside) == 1:
                first, last = (inside[0], after) if ahead[inside[0]] <= span / 2 else (before, inside[0])
            else:
                first, last = before, after
            if first is None or last is None or first == last:
                continue
            u[first], u[last], c[first], c[last] = lo, hi, True, True
    u = np.where(u < u[0], u + m, u)  # moved only within their gaps: still in order from the first
    if np.any(np.diff(u) <= 0) or u[-1] >= u[0] + m:
        u, c = np.asarray(idx), np.asarray(corner, bool)
    return _fit(ring, u, c)[0]


def move_anchors(ring: np.ndarray, idx: np.ndarray, corner: np.ndarray, target: float = FLOOR_IOU) -> np.ndarray:
    """(N, 6) points of ``ring`` with up to ``MOVES`` anchors moved, one at a time, from where
    the outline needs them least (the shortest pair of spans around a smooth anchor) to the
    middle of the span whose fit misses the outline most, while that raises the overlap and it
    is under ``target``. ``idx``: the anchors' increasing sample indices."""
    m, n = len(ring), len(idx)
    u, c = np.asarray(idx), np.asarray(corner, bool)
    best, errors = _fit(ring, u, c)
    best_iou = overlap(best, ring)[1]
    for _ in range(MOVES):
        worst = int(errors.argmax())
        span, left = _spans(u, m)
        left = left.astype(np.float64)
        left[c] = left[worst] = left[(worst + 1) % n] = np.inf
        k = int(left.argmin())
        if best_iou >= target or span[worst] < 4 or not np.isfinite(left[k]):
            break
        moved = np.append(np.delete(u, k) % m, (u[worst] + span[worst] // 2) % m)
        moved, flags = _numbered(moved, np.append(np.delete(c, k), False), ring[u % m], ring)
        points, moved_errors = _fit(ring, moved, flags)
        iou = overlap(points, ring)[1]
        if iou <= best_iou:
            break
        u, c, best, errors, best_iou = moved, flags, points, moved_errors, iou
    return best


def fit_again(ring: np.ndarray, points: np.ndarray, tolerance: float, corner_angle: float) -> np.ndarray:
    """(N, 6) points of ``ring`` through the anchors its own fit (Schneider, within ``tolerance``,
    corners kept) chooses, made as many as ``points``' by splitting the longest spans or
    dropping the anchor between the shortest two, numbered to lie nearest ``points``' anchors."""
    from scipy.spatial import cKDTree

    m, n = len(ring), len(points)
    corners = find_corners(ring, corner_angle)
    fitted = fit_ring(ring, tolerance, corners)
    u = np.unique(cKDTree(ring).query(fitted[:, :2])[1])  # its anchors are samples
    while len(u) < n:
        span = _spans(u, m)[0]
        k = int(span.argmax())
        u = np.sort(np.append(u, (u[k] + span[k] // 2) % m))
    while len(u) > n:
        u = np.delete(u, int(_spans(u, m)[1].argmin()))
    u, c = _numbered(u, np.isin(u, corners), points[:, :2], ring)
    return _fit(ring, u, c)[0]


def _numbered(u: np.ndarray, corner: np.ndarray, anchors: np.ndarray, ring: np.ndarray):
    """Sample indices ``u`` (N,) of ``ring`` (any order, in [0, M)) and their corner flags, sorted
    along the ring and turned so that anchor i lies nearest ``anchors[i]``; ``u`` increasing
    (unwrapped) from its first."""
    m = len(ring)
    order = np.argsort(u, kind="stable")
    u, corner = u[order], corner[order]
    turn = int(np.argmin([((ring[np.roll(u, -r)] - anchors) ** 2).sum() for r in range(len(u))]))
    u, corner = np.roll(u, -turn), np.roll(corner, -turn)
    return np.where(u < u[0], u + m, u), corner


def _spans(u: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(samples from each anchor ``u`` (increasing, within a turn of a ring of ``m``) to the
    next, samples between each anchor's two neighbours: the span its removal would leave)."""
    span = np.diff(np.append(u, u[0] + m))
    return span, span + np.roll(span, 1)


def make_simple(points: np.ndarray, ring: np.ndarray, idx: np.ndarray, on: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """One frame's points made simple: handles shrunk where the curve crosses itself
    (``crossings.untangle``); where the anchors themselves cross (a notch narrower than their
    spacing), the anchors exactly on the outline with this frame's own handles, then the few
    anchors around each crossing spread evenly along the outline between their neighbours."""
    points, simple = untangle(points)
    if simple:
        return points
    m, n = len(ring), len(idx)
    u = idx.astype(np.float64)
    anchors = on
    for _ in range(4):
        curve, simple = untangle(fit_alone(ring, nearest_samples(u, m), anchors, corner))
        if simple:
            return curve
        for i, j in crossing_segments(curve):
            if (j - i) % n > n // 2:
                i, j = j, i
            lo, hi = i - 1, i + (j - i) % n + 2  # anchors lo+1 .. hi-1 move; lo and hi stay
            if hi - lo >= n:
                continue
            start = u[lo % n] - m * (lo < 0)
            span = (u[hi % n] + m * (hi >= n) - start) % m
            for k in range(lo + 1, hi):
                u[k % n] = start + span * (k - lo) / (hi - lo) + m * ((k < 0) - (k >= n))
        u = increasing(u, m)
        anchors = ring_at(ring, u)
        corner = np.zeros(n, bool)
    # Last resort: the anchors evenly spread along this frame's outline from the first one.
    u = u[0] + np.arange(n) * m / n
    curve, simple = untangle(fit_alone(ring, nearest_samples(u, m), ring_at(ring, u), np.zeros(n, bool)))
    return curve if simple else points


def nearest_samples(u: np.ndarray, m: int) -> np.ndarray:
    """Increasing unwrapped sample indices nearest to the continuous positions ``u``."""
    idx = np.round(u).astype(np.int64)
    idx = np.where(idx < idx[0], idx + m, idx)
    return np.maximum.accumulate(idx)
