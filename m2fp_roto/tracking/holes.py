"""Holes stay inside their shape: a hole outline never crosses or leaves its parent's.

Holes and their parents are tracked separately, each within its own tolerance of its own
outline; where the wall between them is thinner than that (an arm akimbo closing, a strap),
the two curves can cross, and the matte gets a fold or a stray cut. ``keep_inside`` checks
every frame of every hole against its parent *as the document draws them* (keys blended) and
draws a crossing hole in where it leaves the parent on those frames (or, where that is not
enough, shrinks it towards its centroid until it is inside), then keys the hole again (with
every repaired frame a key where the blend would still cross).
"""

from __future__ import annotations

import numpy as np

from ..bezier import sample_spaced
from ..document import Key
from .keys import keep_simple, reduce_keys

SHRINK = (0.97, 0.93, 0.87, 0.8, 0.7, 0.5)  # scales tried, in turn, on a crossing hole
SPECK = 0.01  # the scale of a hole left outside its parent's curve


def inside(hole: np.ndarray, parent: np.ndarray) -> bool:
    """Whether the curve of ``hole`` (N, 6) lies strictly inside the curve of ``parent``."""
    from shapely.geometry import LinearRing, Polygon

    outer = sample_spaced(parent)
    ring = LinearRing(sample_spaced(hole))
    return not LinearRing(outer).intersects(ring) and Polygon(outer).buffer(0).contains(ring)


def shrink_into(hole: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """``hole`` drawn in where it leaves ``parent`` (``pull_in``), or where that is not enough,
    scaled towards its centroid (anchors and handles) until it is inside; a hole that the
    parent's curve leaves outside altogether (it cuts nothing there) becomes a speck inside the
    parent, next to where it was."""
    from shapely.geometry import Point, Polygon
    from shapely.ops import nearest_points

    if inside(hole, parent):
        return hole
    pulled = pull_in(hole, parent)
    if pulled is not None:
        return pulled
    centre = hole[:, :2].mean(0)
    for s in SHRINK:
        out = _scaled(hole, centre, s)
        if inside(out, parent):
            return out
    room = Polygon(sample_spaced(parent)).buffer(0).buffer(-0.5)
    if room.is_empty:
        return _scaled(hole, centre, 0.0)
    spot = nearest_points(room, Point(centre))[0]
    return _scaled(hole, centre, SPECK) + np.r_[spot.x - centre[0], spot.y - centre[1], 0, 0, 0, 0]


def pull_in(hole: np.ndarray, parent: np.ndarray, rounds: int = 4) -> np.ndarray | None:
    """``hole`` with only the spans that leave ``parent`` (or come within a quarter pixel of its
    curve) drawn in: their anchors moved a pixel inside the parent where they are not, their
    handles halved; None if that does not put it inside within ``rounds`` or folds it.

    A hole between kite lines that touches a line at one point is a few px² off; shrunk towards
    its centroid until inside, it lost three quarters of its area."""
    from shapely import contains_xy
    from shapely.geometry import Point, Polygon
    from shapely.ops import nearest_points

    from ..crossings import is_simple

    region = Polygon(sample_spaced(parent)).buffer(0)
    clear, room = region.buffer(-0.25), region.buffer(-1.0)
    if room.is_empty:
        return None
    out = hole.copy()
    for _ in range(rounds):
        xy, seg = sample_spaced(out, segments=True)
        spans = np.unique(seg[~contains_xy(clear, xy[:, 0], xy[:, 1])])
        for i in spans:
            out[i, 4:6] *= 0.5  # the span from anchor i to the next: its two handles
            out[(i + 1) % len(out), 2:4] *= 0.5
            for k in (i, (i + 1) % len(out)):
                if not room.contains(Point(out[k, :2])):
                    spot = nearest_points(room, Point(out[k, :2]))[0]
                    out[k, :2] = spot.x, spot.y
        if inside(out, parent):
            return out if is_simple(out) else None
    return None


def _scaled(hole: np.ndarray, centre: np.ndarray, s: float) -> np.ndarray:
    out = hole.copy()
    out[:, :2] = centre + s * (hole[:, :2] - centre)
    out[:, 2:] = s * hole[:, 2:]
    return out


def keep_inside(shapes: list, dense: dict, options, skipped=frozenset()) -> None:
    """Repair, in place, every hole shape that crosses its parent on some frame.

    ``dense``: {hole name: (first frame, points (F, N, 6) on every frame, observed (F,))}.
    A repaired frame that the blend of the keys still draws crossing becomes a key, but never a
    frame of the shot that has no parse (``skipped``). Frames where the hole (or its parent) is
    hidden are left as they are: nothing is drawn there, and a hole shrunk there to fit a parent
    that has opened round it would key the frames next to it shrunk too.
    """
    by_name = {s.name: s for s in shapes}
    for s in shapes:
        if not s.hole or s.parent not in by_name or s.name not in dense:
            continue
        parent = by_name[s.parent]
        frames = np.arange(s.frames[0], s.frames[1] + 1)
        drawn, around = s.points_over(frames), parent.points_over(frames)
        shown = [parent.alive(f) and s.alive(f) for f in frames]
        bad = [i for i, f in enumerate(frames) if shown[i] and not inside(drawn[i], around[i])]
        if not bad:
            continue
        first, points, observed = dense[s.name]
        points = points.copy()
        for i in range(len(points)):
            if shown[i]:
                points[i] = shrink_into(points[i], around[i])
        kept = set(keep_simple(points, reduce_keys(points, options.key_tolerance, options.key_measure, observed),
                               observed).tolist())
        for _ in range(len(points)):  # a repaired frame the blend still gets wrong is a key of its own
            s.keys = [Key(first + k, points[k]) for k in sorted(kept)]
            drawn = s.points_over(frames)
            still = {i for i, f in enumerate(frames)
                     if shown[i] and f not in skipped and i not in kept and not inside(drawn[i], around[i])}
            if not still:
                break
            kept |= still
