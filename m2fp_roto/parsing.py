"""``Parsing``: what every parsing backend produces for one frame, and the stages after consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class Region(NamedTuple):
    """One (person, part) region of a frame: its mask cropped to its bounding box.

    ``box`` is ``(y0, y1, x0, x1)`` in frame pixels, end-exclusive and tight: ``mask`` is
    ``(y1 - y0, x1 - x0)`` bool with a pixel of the region on each of its four edges.
    """

    person: int
    part: int
    mask: np.ndarray
    box: tuple[int, int, int, int]

    def frame_mask(self, shape) -> np.ndarray:
        """The region's mask on a whole (H, W) frame."""
        out = np.zeros(shape, bool)
        y0, y1, x0, x1 = self.box
        out[y0:y1, x0:x1] = self.mask
        return out


@dataclass
class Parsing:
    """One frame parsed into body parts and people.

    parts:  (H, W) uint8 part ids of ``label_set`` (0 = background).
    people: (H, W) integer person ids (0 = background, 1..N = people); every part pixel
            belongs to a person.
    scores: person id -> detection score in [0, 1] (1.0 when the input had none).
    part_logits: optional (C, h, w) float scores per part id at any resolution (h, w may be
            the model's); when present, outlines follow the sub-pixel boundary of
            ``logit_k - max_{j != k} logit_j`` instead of the hard label staircase.
    """

    frame: int
    parts: np.ndarray
    people: np.ndarray
    label_set: str = "cihp"
    scores: dict[int, float] = field(default_factory=dict)
    part_logits: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.parts.shape[:2]

    @property
    def person_ids(self) -> list[int]:
        return [int(p) for p in np.unique(self.people) if p != 0]

    def regions(self):
        """Yield a :class:`Region` for every non-empty (person, part) region, by person then part.

        One pass over the label maps finds every region's bounding box at once: each row is
        cut into runs of equal (person, part), and a region's box is the extent of its runs;
        only the crop inside a box is compared to make the region's mask. Pixels of part 0
        (background) or person 0 belong to no region.
        """
        parts, people = np.asarray(self.parts), np.asarray(self.people)
        h, w = parts.shape[:2]
        if not h or not w:
            return
        change = np.empty((h, w), bool)
        change[:, 0] = True  # every row starts a run, so a run never crosses a row
        np.not_equal(parts[:, 1:], parts[:, :-1], out=change[:, 1:])
        change[:, 1:] |= people[:, 1:] != people[:, :-1]
        start = np.flatnonzero(change)
        end = np.append(start[1:], h * w)  # a row's last run ends where the next row starts
        part = parts.reshape(-1)[start].astype(np.int64)
        person = people.reshape(-1)[start].astype(np.int64)
        keep = (part != 0) & (person != 0)
        start, end, part, person = start[keep], end[keep], part[keep], person[keep]
        if not len(start):
            return
        order = np.lexsort((part, person))  # stable: runs of a region stay in row order
        start, end, part, person = start[order], end[order], part[order], person[order]
        first = np.flatnonzero(np.r_[True, (part[1:] != part[:-1]) | (person[1:] != person[:-1])])
        row, col = np.divmod(start, w)
        y0, y1 = row[first], row[np.r_[first[1:], len(row)] - 1] + 1
        x0 = np.minimum.reduceat(col, first)
        x1 = np.maximum.reduceat(col + (end - start), first)
        for i, j in enumerate(first):
            box = (int(y0[i]), int(y1[i]), int(x0[i]), int(x1[i]))
            k, p = part[j], person[j]
            crop = (parts[box[0]:box[1], box[2]:box[3]] == k) & (people[box[0]:box[1], box[2]:box[3]] == p)
            yield Region(int(p), int(k), crop, box)
