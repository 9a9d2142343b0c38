"""How wide the corridor joining two pieces of a part is followed and drawn
(``geometry.bridge_rings``).

A corridor lies on whatever is between the pieces: the background, or another person (a leg
seen in two pieces on either side of someone in front). The tracker follows it 1 px wide, and
half a pixel where it crosses another person's outline, so that the part lies less on them in a
merge per person or a Cryptomatte pick; sides that far apart keep each side's anchors on their
own side. Each finished frame is drawn with its corridors squeezed across to a tenth of a pixel
where the curve stays simple (``narrowed``): a hairline that adds almost nothing to the matte.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..crossings import is_simple
from ..geometry import bridge_rings, closest_pair

#: Corridor widths (px) followed: over the background, and where it crosses another person's outline.
WIDTH, ACROSS_PERSON = 1.0, 0.5
#: Corridor widths (px) drawn, the first that keeps the curve simple: a tenth of a pixel's
#: coverage in the matte along it, or more where a span that leaves the corridor dips across it.
DRAWN = (0.1, 0.25, 0.5)
#: Corridors shorter than this (px: pieces that nearly touch) have no sides worth anchoring.
SHORTEST = 2.0


class Corridor(NamedTuple):
    """A corridor's middle line, from ``start`` (on the ring it joins) to ``end`` (on the piece),
    and its width."""

    start: np.ndarray
    end: np.ndarray
    width: float


class Corridors:
    """Joins pieces of a person's part on a frame, with the corridor's width chosen by what lies
    between them. ``outers``: {(person, part): {frame: {component: outer ring}}} of the shot."""

    def __init__(self, outers: dict):
        self._rings: dict = {}  # frame -> [(person, outer ring), ...]
        for (person, _), frames in outers.items():
            for frame, rings in frames.items():
                self._rings.setdefault(frame, []).extend((person, r) for r in rings.values())

    def bridge(self, ring: np.ndarray, piece: np.ndarray, frame: int,
               person: int) -> tuple[np.ndarray, list[Corridor]]:
        """(``bridge_rings(ring, piece)``, ``ACROSS_PERSON`` wide where the corridor would cross
        another person's outline on ``frame``; [the corridor], or [] where none was drawn)."""
        start, end, _ = closest_pair(ring, piece)
        width = ACROSS_PERSON if self._crosses(start, end, frame, person) else WIDTH
        joined = bridge_rings(ring, piece, width)
        return (ring, []) if joined is ring else (joined, [Corridor(start, end, width)])

    def _crosses(self, start: np.ndarray, end: np.ndarray, frame: int, person: int) -> bool:
        """Whether the line from ``start`` to ``end`` meets another person's outline on ``frame``
        or lies inside it."""
        from shapely.geometry import LineString, Polygon

        others = [r for who, r in self._rings.get(frame, ()) if who != person]
        if not others:
            return False
        line = LineString([start, end])
        return any(Polygon(r).buffer(0).intersects(line) for r in others)


def narrowed(points: np.ndarray, corridors) -> np.ndarray:
    """``points`` (N, 6) of a frame whose outline joins pieces by ``corridors``, with each
    corridor squeezed across to the first of ``DRAWN`` that keeps the curve simple; ``points``
    themselves where none does.

    Anchors and handle ends in a corridor's band (along its middle line, and as far across as
    its width, which takes in anchors let off the outline) move towards the middle line in
    proportion: a squeeze is affine, so a span that lies in the band keeps its shape, and one
    that leaves it bends smoothly where it does. The band reaches as far into both pieces as
    the corridor does, taking in the corners where it meets them; where that folds the curve (a
    piece that ends in a tip as narrow as the corridor), it stops at the pieces.
    """
    for width in DRAWN:
        for into_pieces in (True, False):
            squeezed = _squeezed(points, corridors, width, into_pieces)
            if is_simple(squeezed):
                return squeezed
    return points


def _squeezed(points: np.ndarray, corridors, width: float, into_pieces: bool) -> np.ndarray:
    """``narrowed``'s squeeze to ``width``, unchecked; the band reaching into the pieces or not."""
    ends = points[:, :2] + np.stack([np.zeros((len(points), 2)), points[:, 2:4], points[:, 4:6]])  # (3, N, 2)
    moved = np.zeros_like(ends)
    for c in corridors:
        length = float(np.linalg.norm(c.end - c.start))
        if length == 0.0 or c.width <= width:
            continue
        t, d, across = _local(c, ends + moved)
        reach = c.width if into_pieces else 0.0
        band = (t >= -reach) & (t <= length + reach) & (np.abs(d) <= c.width)
        moved -= (np.where(band, d, 0.0) * (1.0 - width / c.width))[..., None] * across
    out = points.copy()  # moved by exactly 0 outside the bands: those points keep every bit
    out[:, :2] += moved[0]
    out[:, 2:4] += moved[1] - moved[0]
    out[:, 4:6] += moved[2] - moved[0]
    return out


def mouths(ring: np.ndarray, corridor: Corridor) -> list[tuple[int, int]]:
    """Where the sides of ``corridor`` run along ``ring`` (the outline ``bridge_rings`` drew
    with it): per side, its first and last sample in the ring's order, the corners where it
    leaves one piece and meets the other. Nothing for a corridor under ``SHORTEST`` px, nor
    for a side that a later corridor drew over."""
    length = float(np.linalg.norm(corridor.end - corridor.start))
    if length < SHORTEST:
        return []
    t, d, _ = _local(corridor, ring)
    m, out = len(ring), []
    for side in (1.0, -1.0):
        # The corridor reaches its width into both pieces; its sides are straight, exactly.
        run = np.flatnonzero((t >= -corridor.width) & (t <= length + corridor.width)
                             & (np.abs(side * d - corridor.width / 2) < 1e-6))
        if len(run) < 2:
            continue
        a, b = int(run[t[run].argmin()]), int(run[t[run].argmax()])
        lo, hi = (a, b) if (b - a) % m <= (a - b) % m else (b, a)
        if (hi - lo) % m + 1 == len(run):  # one unbroken stretch of the outline
            out.append((lo, hi))
    return out


def _local(corridor: Corridor, xy: np.ndarray):
    """(how far along ``corridor``'s middle line from its start, how far across it, the unit
    vector across) of points ``xy`` (..., 2); the corridor must have a length."""
    along = (corridor.end - corridor.start) / np.linalg.norm(corridor.end - corridor.start)
    across = np.array([-along[1], along[0]])
    rel = xy - corridor.start
    return rel @ along, rel @ across, across
