"""Which linked components of one (person, part) become shapes, and what becomes of the rest.

A parser's output flickers: a speck of a part appears for a frame, a sliver of it lingers
along a neighbour's edge for a dozen frames, a limb is cut in two by a patch of another part
and the halves trade places in the frame-to-frame linking (``association.associate``). Taken
as they come, each would be a shape an artist deletes by hand. ``settle`` sorts the linked
components (tracks) of one region:

- **shapes**: the track covering most area over the shot, and any other that lasts (seen on at
  least ``min_frames`` frames) and is large (a median share of at least ``min_share`` of the
  region's area on the frames it is seen) or lies apart from its person's other parts (a piece
  of a matte: a hand apart from the body, however small, is real);
- **continuations**: any other such track seen beside one shape's tracks on fewer than
  ``max_gap`` frames, near it there (``_near``) or lying inside it on a frame next to one it is
  not seen on (``_inside``), is the same region under another link (a limb cut in two by an
  occluder or a patch of another part, whole again a frame later; the halves trading places in
  the linking): it joins that shape, whose outline on the frames both are seen is their union
  by a thin corridor (``geometry.bridge_rings``);
- **fragments**: the rest (flicker, slivers). On each frame a fragment amid the person's other
  parts (a fifth of its border on them: a sliver of the parse) is joined to the nearest shape
  of its part by a corridor when the corridor is short for its size (no spike across the
  part), and left out otherwise; one with little of the person's other parts around it (a
  piece of a matte) is joined only where it touches a shape (``TOUCH``) and has ``min_share``
  of its area (a piece beside two pieces of a foot): a speck blinking apart from the silhouette
  or along its edge, joined, would change its outline where the mask has none, or make it boil.

This is the temporal clean-up the tracker itself does (``TrackOptions.min_frames``,
``min_share``); ``sources.temporal.Majority`` (``--temporal-window``) cleans the parse before.
"""

from __future__ import annotations

import numpy as np

from ..geometry import polygon_area
from .association import REACH

#: px between two rings that still count as touching (the sliver of another part that cuts a
#: region in two is a few px wide once the parse is traced).
TOUCH = 6.0
#: A fragment is joined by a corridor at most this many times its size (sqrt of its area) long.
JOIN = 1.0


def settle(found: list, outer: dict, cells: dict, max_gap: int, min_frames: int, min_share: float,
           others: dict | None = None, width: int = 0) -> tuple[list, list]:
    """([shape, ...] with each shape a list of tracks, fragment tracks) of one region.

    ``found``: the region's component tracks (``association.Track``, ``members`` {frame:
    component}); ``outer`` {frame: {component: outer ring}}; ``cells`` {frame: {component:
    its cells on the association grid ``width`` cells wide}} (``association.Blob.cells``);
    ``others`` {frame: cells of the person's other parts}. A shape's first track is the one it
    is named after; its tracks are in order of area over the shot. Shapes come in order of first
    appearance.
    """
    area = {f: {c: abs(polygon_area(r)) for c, r in comps.items()} for f, comps in outer.items()}
    total = {f: sum(a.values()) or 1.0 for f, a in area.items()}
    seen = len(outer)

    def weight(t):
        return sum(area[f][c] for f, c in t.members.items())

    order = sorted(found, key=lambda t: -weight(t))
    shapes, fragments = [[order[0]]], []
    for t in order[1:]:
        frames = sorted(t.members)
        share = float(np.median([area[f][t.members[f]] / total[f] for f in frames]))
        if len(frames) < min_frames <= seen or share < min_share and within(t, cells, others or {}, width):
            fragments.append(t)
            continue
        for shape in shapes:
            both = [f for f in frames if any(f in o.members for o in shape)]
            if 0 < len(both) < max_gap and (any(_near(outer, f, t, shape) for f in both) or _inside(cells, t, shape)):
                shape.append(t)
                break
        else:
            shapes.append([t])
    shapes.sort(key=lambda s: (min(min(t.members) for t in s), -weight(s[0])))
    return shapes, fragments


def within(t, cells: dict, others: dict, width: int, share: float = 0.5) -> bool:
    """Whether ``t`` lies within its person: on most frames, at least ``share`` of the cells
    around it are the person's other parts. A sliver of the parse sits between other parts; a
    piece of a matte with background around it (a hand apart from the body) is a piece of the
    body, however small."""
    around = []
    for f, c in t.members.items():
        mine = cells[f][c]
        ring = np.setdiff1d(np.concatenate([mine - 1, mine + 1, mine - width, mine + width]), mine)
        around.append(np.isin(ring, others[f]).mean() if f in others and len(ring) else 0.0)
    return float(np.median(around)) >= share


def _near(outer: dict, frame: int, t, shape) -> bool:
    """Whether ``t``'s ring on ``frame`` touches one of ``shape``'s rings there (``TOUCH``), or
    their centroids are less than ``association.REACH`` times the size of the two together
    apart (a part cut in two by an occluder or by a patch of another part)."""
    ring = outer[frame][t.members[frame]]
    for o in shape:
        if frame in o.members:
            other = outer[frame][o.members[frame]]
            size = np.sqrt(abs(polygon_area(ring)) + abs(polygon_area(other)))
            if ring_gap(ring, other) <= TOUCH or np.hypot(*(ring.mean(0) - other.mean(0))) <= REACH * size:
                return True
    return False


def _inside(cells: dict, t, shape, share: float = 0.5) -> bool:
    """Whether, on some frame ``t`` is seen, at least ``share`` of it lies inside ``shape`` on
    the next or previous frame, where ``t`` is not seen and the shape is (a piece of a region
    that is whole a frame away)."""
    for f, c in t.members.items():
        mine = cells[f][c]
        for g in (f - 1, f + 1):
            if g in t.members:
                continue
            theirs = [cells[g][o.members[g]] for o in shape if g in o.members]
            if theirs and len(np.intersect1d(mine, np.concatenate(theirs))) >= share * len(mine):
                return True
    return False


def ring_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Least distance (px) between the samples of two rings."""
    from scipy.spatial import cKDTree

    return float(cKDTree(a).query(b)[0].min())


def joins(piece: np.ndarray, host: np.ndarray, holes=()) -> bool:
    """Whether a fragment's ring is joined to a shape's ring by a corridor (rather than left
    out): the corridor is no longer than ``JOIN`` times the fragment's size (the square root of
    its area), so it never draws a spike across its part to reach a far speck, and neither it nor
    the corridor comes within 1 px of the shape's ``holes`` (rings: an island in a hole stays
    out, the hole stays inside the outline)."""
    from scipy.spatial import cKDTree
    from shapely.geometry import LineString, Polygon

    d, j = cKDTree(host).query(piece)
    k = int(np.argmin(d))
    if d[k] > max(TOUCH, JOIN * np.sqrt(abs(polygon_area(piece)))):
        return False
    reach = Polygon(piece).buffer(0)
    if d[k] > 0:
        reach = reach.union(LineString([host[j[k]], piece[k]]).buffer(0.5))
    return all(reach.distance(Polygon(h).buffer(0)) >= 1.0 for h in holes)
