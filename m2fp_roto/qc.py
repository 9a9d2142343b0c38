"""What a supervisor should look at, frame by frame: where a shape crossed itself, lay on other
people, missed its part's region in the label map, was hidden, or started or ended in the
middle of the shot (a split, a part coming into view).

:func:`frame_findings` lists them for one frame; ``preview --qc`` draws them over the shapes
(:mod:`m2fp_roto.preview`) and the command line counts them over the frames drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .parsing import Parsing
from .qa.track_metrics import frame_regions, person_shares, shape_rasters

#: A shape with more of its area than this on other people's pixels is flagged: a swap, or an
#: edge out onto a neighbour (background under a shape's edge is for the off-part check).
OTHER_PEOPLE = 0.05
#: A shape that overlaps its region in the label map (the components of its part that it
#: covers most) less than this (IoU) is flagged: the frame needs a touch-up by hand.
PART_IOU = 0.85

KINDS = ("crosses", "off-person", "off-part", "hidden", "starts", "ends")


@dataclass
class Finding:
    """One thing to look at: ``kind`` (one of ``KINDS``) of shape ``shape`` on this frame."""

    shape: str
    kind: str
    note: str = ""  # e.g. "72% on other people" for off-person
    segments: tuple = ()  # crossing curve segments (i, j), for "crosses"

    def __str__(self) -> str:
        return f"{self.shape} {self.kind}" + (f" ({self.note})" if self.note else "")


def frame_findings(doc, frame: int, people: np.ndarray | None = None, parts: np.ndarray | None = None,
                   label_set=None) -> list[Finding]:
    """Every finding of ``frame``, crossings first.

    ``people``: the frame's person map (H, W ids, 0 = nobody), to tell shapes lying on other
    people; each document person is matched to the id under most of their shapes' pixels.
    ``parts``: the frame's label map (part ids of ``label_set``, default the document's), to
    tell shapes that miss their part's region: a person's where ``people`` is given, else
    everybody's pixels of the part (so give both for a shot of several people).
    """
    from .crossings import crossing_segments

    found = []
    drawn = doc.shapes_at(frame)
    for s in drawn:
        pairs = crossing_segments(s.points_at(frame))
        if len(pairs):
            found.append(Finding(s.name, "crosses", segments=tuple(map(tuple, pairs.tolist()))))
    maps = [m for m in (people, parts) if m is not None]
    rasters = shape_rasters(drawn, frame, maps[0].shape) if maps else {}  # by document person
    owner = {}
    if people is not None:
        owner = _owners(rasters, people)
        found += _off_person(rasters, people, owner)
    if parts is not None:
        found += _off_part(drawn, rasters, frame, parts, people, owner, label_set or doc.label_set)
    for s in doc.shapes:
        if s.frames[0] <= frame <= s.frames[1] and not s.alive(frame):
            found.append(Finding(s.name, "hidden"))
        if s.frames[0] == frame > doc.first_frame:
            found.append(Finding(s.name, "starts"))
        if s.frames[1] == frame < doc.last_frame:
            found.append(Finding(s.name, "ends"))
    return found


def _owners(rasters: dict, people: np.ndarray) -> dict[int, int]:
    """{document person: the person-map id under most of their shapes' pixels}, from the
    outer shapes' ``rasters`` (``qa.track_metrics.shape_rasters``)."""
    ids: dict = {}
    for (person, _), items in rasters.items():
        ids.setdefault(person, []).extend(people[box][mask] for _, box, mask in items)
    owner = {}
    for person, values in ids.items():
        values = np.concatenate(values)
        values = values[values > 0]
        if len(values):
            owner[person] = int(np.bincount(values).argmax())
    return owner


def _off_person(rasters: dict, people: np.ndarray, owner: dict) -> list[Finding]:
    """Outer shapes with more than ``OTHER_PEOPLE`` of their area (holes cut) on other people's
    pixels."""
    found = []
    for (person, _), items in rasters.items():
        for s, box, mask in items if person in owner else ():
            share = person_shares(people[box][mask], owner[person], int(mask.sum()))[1]
            if share > OTHER_PEOPLE:
                found.append(Finding(s.name, "off-person", f"{_percent(share)} on other people"))
    return found


def _off_part(shapes, rasters: dict, frame: int, parts: np.ndarray, people, owner: dict,
              label_set: str) -> list[Finding]:
    """Outer shapes whose IoU with their region - the connected components of their part that
    they cover more of than the part's other shapes do, as the benchmarks measure it
    (``qa.track_metrics.frame_regions``) - is under ``PART_IOU``, and those drawn where their
    part has no region at all."""
    if people is None:  # every person's pixels of a part are the region of each person's shapes
        people, owner = (parts > 0).astype(np.int32), dict.fromkeys({s.person for s in shapes}, 1)
    by_owner: dict = {}  # the rasters keyed as frame_regions keys them: by the map's person id
    for (person, part), items in rasters.items():
        by_owner.setdefault((owner.get(person, -1), part), []).extend(items)
    _, fits = frame_regions(shapes, Parsing(frame, parts, people, label_set=label_set),
                            owner=lambda p: owner.get(p, -1), rasters=by_owner)
    return [Finding(f.name, "off-part", "no region of its part here" if np.isnan(f.iou) else
                    f"IoU {_percent(f.iou)} with its part") for f in fits if not f.iou >= PART_IOU]


def _percent(x: float) -> str:
    """``x`` in whole percent, rounded down."""
    return f"{int(x * 100 + 1e-9)}%"  # 29/100 stays 29 %


def tally(findings) -> Counter:
    """Shape-frames of each kind over a list of findings."""
    return Counter(f.kind for f in findings)


def summary(findings, people: bool = True, label_maps: bool = True) -> str:
    """One line counting the shape-frames of each kind; the kinds that need person maps
    (``people``) or label maps (``label_maps``) are left out when there were none."""
    counts = tally(findings)
    unknown = {"off-person": not people, "off-part": not label_maps}  # kinds nothing could tell
    return "qc: " + ", ".join(f"{counts[k]} {k}" for k in KINDS if not unknown.get(k)) + " (shape-frames)"


__all__ = ["OTHER_PEOPLE", "PART_IOU", "KINDS", "Finding", "frame_findings", "summary", "tally"]
