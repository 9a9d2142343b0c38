"""``Parsing``: what every parsing backend produces for one frame, and the stages after consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
        """Yield ``(person, part_id, bool mask)`` for every non-empty (person, part) region."""
        fg = self.parts != 0
        if not fg.any():
            return
        key = self.people.astype(np.int64) * 256 + self.parts
        for k in np.unique(key[fg]):
            person, part = divmod(int(k), 256)
            if person:
                yield person, part, key == k
