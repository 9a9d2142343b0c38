"""What a supervisor should look at, frame by frame: where a shape crossed itself, lay off its
own person, was hidden, or started or ended in the middle of the shot (a split, a part coming
into view).

:func:`frame_findings` lists them for one frame; ``preview --qc`` draws them over the shapes
(:mod:`m2fp_roto.preview`) and the command line counts them over the frames drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

#: A shape with less of its area than this on its own person's pixels is flagged.
OWN_PERSON = 0.95

KINDS = ("crosses", "off-person", "hidden", "starts", "ends")


@dataclass
class Finding:
    """One thing to look at: ``kind`` (one of ``KINDS``) of shape ``shape`` on this frame."""

    shape: str
    kind: str
    note: str = ""  # e.g. "72% on p2" for off-person
    segments: tuple = ()  # crossing curve segments (i, j), for "crosses"

    def __str__(self) -> str:
        return f"{self.shape} {self.kind}" + (f" ({self.note})" if self.note else "")


def frame_findings(doc, frame: int, people: np.ndarray | None = None) -> list[Finding]:
    """Every finding of ``frame``, crossings first.

    ``people``: the frame's person map (H, W ids, 0 = nobody), to tell shapes lying off their
    own person; each document person is matched to the id under most of their shapes' pixels.
    """
    from .crossings import crossing_segments

    found = []
    drawn = doc.shapes_at(frame)
    for s in drawn:
        pairs = crossing_segments(s.points_at(frame))
        if len(pairs):
            found.append(Finding(s.name, "crosses", segments=tuple(map(tuple, pairs.tolist()))))
    if people is not None:
        found += _off_person(drawn, frame, people)
    for s in doc.shapes:
        if s.frames[0] <= frame <= s.frames[1] and not s.alive(frame):
            found.append(Finding(s.name, "hidden"))
        if s.frames[0] == frame > doc.first_frame:
            found.append(Finding(s.name, "starts"))
        if s.frames[1] == frame < doc.last_frame:
            found.append(Finding(s.name, "ends"))
    return found


def _off_person(shapes, frame: int, people: np.ndarray) -> list[Finding]:
    """Outer shapes with less than ``OWN_PERSON`` of their area on their person's pixels."""
    from .bezier import rasterize

    masks = {s.name: rasterize([s.points_at(frame)], (), people.shape) for s in shapes if not s.hole}
    ids: dict = {}
    for s in shapes:
        if s.name in masks:
            ids.setdefault(s.person, []).append(people[masks[s.name]])
    owner = {}
    for person, values in ids.items():
        values = np.concatenate(values)
        values = values[values > 0]
        if len(values):
            owner[person] = int(np.bincount(values).argmax())
    found = []
    for s in shapes:
        mask = masks.get(s.name)
        if mask is None or not mask.any() or s.person not in owner:
            continue
        share = float((people[mask] == owner[s.person]).mean())
        if share < OWN_PERSON:
            found.append(Finding(s.name, "off-person", f"{share:.0%} on its person"))
    return found


def tally(findings) -> Counter:
    """Shape-frames of each kind over a list of findings."""
    return Counter(f.kind for f in findings)


__all__ = ["OWN_PERSON", "KINDS", "Finding", "frame_findings", "tally"]
