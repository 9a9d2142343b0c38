"""How wide the corridor joining two pieces of a part is drawn (``geometry.bridge_rings``).

A corridor lies on whatever is between the pieces. Over the background it is a hairline in the
matte. Over another person it draws this person's part on them (a leg seen in two pieces on
either side of someone in front), which a merge per person or a Cryptomatte pick shows; there
it is half a pixel wide, about half the pixel centres of a 1 px corridor.
"""

from __future__ import annotations

import numpy as np

from ..geometry import bridge_rings, closest_pair

#: Corridor widths (px): over the background, and where it crosses another person's outline.
WIDTH, ACROSS_PERSON = 1.0, 0.5


class Corridors:
    """Joins pieces of a person's part on a frame, with the corridor's width chosen by what lies
    between them. ``outers``: {(person, part): {frame: {component: outer ring}}} of the shot."""

    def __init__(self, outers: dict):
        self._rings: dict = {}  # frame -> [(person, outer ring), ...]
        for (person, _), frames in outers.items():
            for frame, rings in frames.items():
                self._rings.setdefault(frame, []).extend((person, r) for r in rings.values())

    def bridge(self, ring: np.ndarray, piece: np.ndarray, frame: int, person: int) -> np.ndarray:
        """``bridge_rings(ring, piece)``, ``ACROSS_PERSON`` wide where the corridor would cross
        another person's outline on ``frame``."""
        return bridge_rings(ring, piece, ACROSS_PERSON if self.crosses(ring, piece, frame, person) else WIDTH)

    def crosses(self, ring: np.ndarray, piece: np.ndarray, frame: int, person: int) -> bool:
        """Whether the shortest line from ``ring`` to ``piece`` meets another person's outline
        or lies inside it."""
        from shapely.geometry import LineString, Polygon

        others = [r for who, r in self._rings.get(frame, ()) if who != person]
        if not others:
            return False
        p, q, _ = closest_pair(ring, piece)
        line = LineString([p, q])
        return any(Polygon(r).buffer(0).intersects(line) for r in others)
