"""Figures of tracked shapes over a shot: fit, point-count constancy, jitter, keys, and a baseline.

- ``frame_iou``: the shapes alive on a frame (holes cut), re-rasterized, against that frame's mask.
- ``constant_counts``: share of shapes whose every key has the same point count (must be 1.0).
- ``jitter``: mean magnitude (px/frame^2) of the second difference of every anchor's path,
  over every frame of every shape's lifetime - what an artist sees as crawling points.
- ``key_ratio``: keys per frame of lifetime, per shape.
- ``stacked_anchors``: share of anchors sitting on the next one (within 0.5 px) - points an
  artist cannot pick apart.
- ``looped_frames``: share of shape-frames whose outline folds into a loop bigger than 4 px^2.
- ``naive_outline_paths``: the baseline a tracker must beat - each frame's outline resampled to
  a fixed count, starting at the outline point at angle 0 around the centroid.
"""

from __future__ import annotations

import numpy as np

from ..bezier import sample
from ..geometry import resample_ring
from ..vectorize import trace_rings
from .metrics import iou


def frame_iou(shapes, frame: int, mask: np.ndarray) -> float:
    alive = [s for s in shapes if s.alive(frame)]
    return iou(mask, [s.points_at(frame) for s in alive if not s.hole],
               [s.points_at(frame) for s in alive if s.hole])


def constant_counts(shapes) -> float:
    if not shapes:
        return 1.0
    return float(np.mean([len({len(k.points) for k in s.keys}) == 1 for s in shapes]))


def lifetime_points(shape):
    """The shape's points on every frame of its lifetime (keys interpolated)."""
    return [shape.points_at(f) for f in range(shape.frames[0], shape.frames[1] + 1)]


def anchor_paths(shape) -> np.ndarray:
    """(F, N, 2) anchors on every frame of the shape's lifetime."""
    return np.stack(lifetime_points(shape))[..., :2]


def path_jitter(paths: np.ndarray) -> np.ndarray:
    """|second difference| (px/frame^2) of (F, N, 2) paths: (F-2, N)."""
    return np.linalg.norm(np.diff(paths, 2, axis=0), axis=-1)


def jitter(shapes) -> float:
    """Mean second-difference magnitude over every anchor and frame of every shape (>= 3 frames)."""
    values = [path_jitter(anchor_paths(s)).ravel() for s in shapes if s.frames[1] - s.frames[0] >= 2]
    return float(np.concatenate(values).mean()) if values else 0.0


def key_ratio(shape) -> float:
    return len(shape.keys) / (shape.frames[1] - shape.frames[0] + 1)


def stacked_anchors(shapes, within: float = 0.5) -> float:
    """Share of anchors, over every frame of every shape, within ``within`` px of the next one."""
    gaps = [np.hypot(*(np.roll(p[:, :2], -1, axis=0) - p[:, :2]).T)
            for s in shapes for p in lifetime_points(s) if len(p) > 1]
    return float((np.concatenate(gaps) < within).mean()) if gaps else 0.0


def looped_frames(shapes, min_area: float = 4.0) -> float:
    """Share of (shape, frame) whose outline crosses itself around a loop of more than
    ``min_area`` px^2: every face of the noded outline but the largest is a loop. Needs shapely."""
    from shapely.geometry import LinearRing
    from shapely.ops import polygonize, unary_union

    looped = total = 0
    for p in (p for s in shapes for p in lifetime_points(s)):
        if len(p) < 2:
            continue
        total += 1
        ring = LinearRing(sample(p, 16))
        if not ring.is_simple:
            faces = sorted(face.area for face in polygonize(unary_union(ring)))
            looped += any(a > min_area for a in faces[:-1])
    return looped / total if total else 0.0


def naive_outline(mask: np.ndarray, n_points: int = 32) -> np.ndarray:
    """The largest outline of ``mask`` resampled to ``n_points`` by arc length, from angle 0.

    Starts at the outline point whose direction from the region's centroid is closest to the
    +x axis, and runs in the outline's own order (clockwise on screen).
    """
    rings = [r for r in trace_rings(mask.astype(np.float32)) if not r.hole]
    ring = max(rings, key=lambda r: r.area).xy
    dense = resample_ring(ring, 0.25)
    c = dense.mean(0)
    angle = np.abs(np.arctan2(dense[:, 1] - c[1], dense[:, 0] - c[0]))
    start = int(np.argmin(angle + (dense[:, 0] < c[0]) * 10.0))
    return resample_ring(np.roll(dense, -start, axis=0), count=n_points)


def naive_outline_paths(masks, n_points: int = 32) -> np.ndarray:
    """(F, n_points, 2): :func:`naive_outline` of every mask in order."""
    return np.stack([naive_outline(m, n_points) for m in masks])
