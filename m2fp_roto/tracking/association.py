"""Identity over a shot: which blob of frame t is which blob of frame t-1 (persons, components, holes).

Per-frame detectors number people arbitrarily on every frame, and a body part can split, merge,
vanish and come back. ``associate`` links blobs frame to frame with the Hungarian method
(``scipy.optimize.linear_sum_assignment``) on a cost mixing mask IoU and centroid distance.
A track that is not seen for more than ``max_gap`` frames ends; a blob that matches no live
track starts a new one. Masks are rasterized from the traced rings on a coarse grid, which is
enough to tell overlaps apart and keeps association cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import polygon_area

GRID = 4.0  # px per cell of the coarse grid that association masks are drawn on


@dataclass
class Blob:
    """A region of one frame: its coarse mask (sorted flat cell indices), centroid and area."""

    key: object  # what the caller calls it in its frame (a person id, a component index, ...)
    cells: np.ndarray
    centroid: np.ndarray
    area: float


@dataclass
class Track:
    """One identity: ``members[frame] = key`` of the blob it is on that frame."""

    label: int
    members: dict = field(default_factory=dict)
    last: Blob | None = None
    last_frame: int = 0


def blob(key, outers, width: int) -> Blob:
    """A Blob from outer rings ((M, 2) arrays, image space) on the coarse grid ``width`` cells wide."""
    import cv2

    xy = np.vstack(outers)
    lo = np.floor(xy.min(0) / GRID).astype(int)
    hi = np.ceil(xy.max(0) / GRID).astype(int) + 1
    canvas = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), np.uint8)
    polys = [np.round((r / GRID - lo) * 16).astype(np.int32) for r in outers]
    cv2.fillPoly(canvas, polys, 1, lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(canvas)
    cells = np.sort((ys + lo[1]).astype(np.int64) * width + (xs + lo[0]))
    areas = np.array([abs(polygon_area(r)) for r in outers])
    cents = np.array([r.mean(0) for r in outers])
    centroid = (cents * areas[:, None]).sum(0) / max(areas.sum(), 1e-9)
    return Blob(key, cells, centroid, float(areas.sum()))


def iou(a: Blob, b: Blob) -> float:
    inter = len(np.intersect1d(a.cells, b.cells, assume_unique=True))
    union = len(a.cells) + len(b.cells) - inter
    return inter / union if union else 0.0


def match_cost(track: Blob, new: Blob, gap: int) -> float:
    """Cost of continuing ``track`` with ``new`` after ``gap`` frames; inf when implausible.

    1 - IoU plus the centroid distance in units of the blobs' size. Without overlap a match is
    still allowed when the centroid moved less than 1.5 times the blob's size (small, fast parts,
    or a shot sampled sparsely), more freely after a gap (a person who left and came back near
    where they were).
    """
    size = np.sqrt(max(track.area, new.area, 1.0))
    dist = float(np.hypot(*(track.centroid - new.centroid))) / size
    overlap = iou(track, new)
    ratio = min(track.area, new.area) / max(track.area, new.area, 1e-9)
    if overlap <= 0.0 and dist > 1.5 * max(gap, 1) ** 0.5:
        return np.inf
    if ratio < 0.05:  # a speck is not the body part it sits beside
        return np.inf
    return (1.0 - overlap) + dist


def associate(frames: dict, max_gap: int, preferred=None) -> list[Track]:
    """Link the blobs of consecutive frames into tracks.

    Parameters
    ----------
    frames : {frame: [Blob, ...]} in any order of frames; blob keys are unique per frame.
    max_gap : frames a track may go unseen and still be continued.
    preferred : optional callable ``blob -> label`` giving the label a new track would like
        (e.g. the input person id); it gets it when no other track has used it.

    Returns the tracks with labels 1, 2, ... (or the preferred ones), sorted by label.
    """
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    used: set[int] = set()
    for frame in sorted(frames):
        blobs = sorted(frames[frame], key=lambda b: -b.area)
        live = [t for t in tracks if frame - t.last_frame <= max_gap + 1]
        assigned: dict[int, Track] = {}
        if live and blobs:
            cost = np.array([[match_cost(t.last, b, frame - t.last_frame) for b in blobs] for t in live])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            rows, cols = linear_sum_assignment(finite)
            for r, c in zip(rows, cols):
                if np.isfinite(cost[r, c]):
                    assigned[c] = live[r]
        for c, b in enumerate(blobs):
            track = assigned.get(c)
            if track is None:
                want = preferred(b) if preferred else None
                label = want if want is not None and want not in used else _next_free(used)
                track = Track(label)
                used.add(label)
                tracks.append(track)
            track.members[frame] = b.key
            track.last, track.last_frame = b, frame
    return sorted(tracks, key=lambda t: t.label)


def _next_free(used: set[int]) -> int:
    k = 1
    while k in used:
        k += 1
    return k


def identify_people(per_frame: dict, max_gap: int) -> dict[int, dict[int, int]]:
    """{frame: {input person id: shot-wide person id}} from every frame's contours.

    A person is the union of their parts' outer rings. Input ids are kept where they are
    consistent (first come, first served); renumbered detections get the id of the person they
    overlap on the previous frames.
    """
    width = grid_width(per_frame)
    frames = {}
    for frame, contours in per_frame.items():
        rings: dict[int, list] = {}
        for c in contours:
            if not c.hole:
                rings.setdefault(c.person, []).append(c.ring)
        frames[frame] = [blob(p, r, width) for p, r in rings.items()]
    tracks = associate(frames, max_gap, preferred=lambda b: int(b.key))
    mapping: dict[int, dict[int, int]] = {f: {} for f in per_frame}
    for t in tracks:
        for frame, key in t.members.items():
            mapping[frame][key] = t.label
    return mapping


def grid_width(per_frame: dict) -> int:
    """Cells per row of the coarse grid: enough for every ring of the shot (even off-frame)."""
    xs = [c.ring[:, 0].max() for contours in per_frame.values() for c in contours]
    return int(np.ceil((max(xs) if xs else 0.0) / GRID)) + 8
