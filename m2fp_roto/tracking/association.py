"""Identity over a shot: which blob of frame t is which blob of frame t-1 (persons, components, holes).

Per-frame detectors number people arbitrarily on every frame, and a body part can split, merge,
vanish and come back. ``associate`` links blobs frame to frame with the Hungarian method
(``scipy.optimize.linear_sum_assignment``) on a cost mixing mask IoU and centroid distance,
both taken after moving the track's last blob by its own velocity (a fast foot overlaps where
it will be, not where it was) or where it was, whichever fits better (a parser's flicker makes
velocities unreliable). A track that is not seen for more than ``max_gap`` frames ends;
a blob that matches no live track starts a new one. Masks are rasterized from the traced rings
on a coarse grid, which is enough to tell overlaps apart and keeps association cheap.

``identify_people`` trusts the person maps' own ids when they are consistent over the shot
(they agree with the overlap linking on nearly every link), and links by overlap otherwise;
either way people are numbered 1..N in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import polygon_area

GRID = 4.0  # px per cell of the coarse grid that association masks are drawn on
REACH = 3.0  # how far (in blob sizes) from where it was expected a blob may be and still continue a track
#: A blob that does not overlap the track where it was expected continues it only if neither
#: has less than this share of the other's area, where the track's blob still lands on the
#: frame's other blobs (``associate``): a shin that merged into the body does not leap to a
#: speck beside it (its shape would jump there); a shoe gone behind the other leg, a sliver of
#: it left in sight, has nothing else to land on and goes on as that sliver.
LEAP = 0.25


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
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # px per frame, of the centroid

    def see(self, frame: int, b: Blob) -> None:
        if self.last is not None:
            self.velocity = (b.centroid - self.last.centroid) / max(frame - self.last_frame, 1)
        self.members[frame] = b.key
        self.last, self.last_frame = b, frame


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


def iou(a: Blob, b: Blob, shift=(0, 0), width: int = 0) -> float:
    """IoU of two blobs, ``a`` moved by ``shift`` (whole cells, x and y) on a grid ``width`` wide."""
    cells = a.cells + (int(shift[1]) * width + int(shift[0]) if width else 0)
    inter = len(np.intersect1d(cells, b.cells, assume_unique=True))
    union = len(a.cells) + len(b.cells) - inter
    return inter / union if union else 0.0


def match_cost(track: Blob, new: Blob, gap: int, velocity=(0.0, 0.0), width: int = 0, leap: float = LEAP) -> float:
    """Cost of continuing ``track`` with ``new`` after ``gap`` frames; inf when implausible.

    The track's blob is first moved by ``velocity`` (px per frame) over the gap; then 1 - IoU
    plus the centroid distance in units of the blobs' size. Without overlap a match is still
    allowed when the centroid is less than ``REACH`` times the blob's size from where it was expected
    (small, fast parts, or a shot sampled sparsely), more freely after a gap (a person who left
    and came back near where they were), and neither has less than ``leap`` of the other's area.
    """
    move = np.asarray(velocity, np.float64) * max(gap, 1)
    size = np.sqrt(max(track.area, new.area, 1.0))
    dist = float(np.hypot(*(track.centroid + move - new.centroid))) / size
    overlap = iou(track, new, np.round(move / GRID), width)
    ratio = min(track.area, new.area) / max(track.area, new.area, 1e-9)
    if ratio < 0.05:  # a speck is not the body part it sits beside
        return np.inf
    if overlap <= 0.0 and (dist > REACH * max(gap, 1) ** 0.5 or ratio < leap):
        return np.inf
    return (1.0 - overlap) + dist


def associate(frames: dict, max_gap: int, width: int = 0, leap: float = LEAP) -> list[Track]:
    """Link the blobs of consecutive frames into tracks.

    Parameters
    ----------
    frames : {frame: [Blob, ...]} in any order of frames; blob keys are unique per frame.
    max_gap : frames a track may go unseen and still be continued.
    width : cells per row of the grid the blobs are drawn on (see ``grid_width``); with it,
        overlaps are measured after moving each track by its velocity.
    leap : ``match_cost``'s, for a track whose last blob lands on the frame's blobs (``_lands``).

    Returns the tracks labelled 1, 2, ... in order of first appearance (then of size).
    """
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    for frame in sorted(frames):
        blobs = sorted(frames[frame], key=lambda b: -b.area)
        live = [t for t in tracks if frame - t.last_frame <= max_gap + 1]
        assigned: dict[int, Track] = {}
        if live and blobs:
            cells = np.unique(np.concatenate([b.cells for b in blobs])) if leap else None  # holes: none
            limits = [leap if leap and _lands(t, cells, width) else 0.0 for t in live]
            cost = np.array([[_cost(t, b, frame, width, j) for b in blobs] for t, j in zip(live, limits)])
            # Each link weighs by the blob's size: a body part matched well matters more than a
            # speck beside it (unweighted, a speck taken by the part's track can cost less in sum
            # than the part going to a far track).
            size = np.sqrt([max(b.area, 1.0) for b in blobs])[None]
            finite = np.where(np.isfinite(cost), cost * size, 1e12)
            rows, cols = linear_sum_assignment(finite)
            for r, c in zip(rows, cols):
                if np.isfinite(cost[r, c]):
                    assigned[c] = live[r]
        for c, b in enumerate(blobs):
            track = assigned.get(c)
            if track is None:
                track = Track(len(tracks) + 1)
                tracks.append(track)
            track.see(frame, b)
    return tracks


def _lands(track: Track, cells: np.ndarray, width: int) -> bool:
    """Whether ``track``'s last blob, where it was or moved by its velocity, overlaps ``cells``
    (the frame's blobs): its region is still there, merged into another piece, rather than gone
    from sight."""
    shifts = {(0, 0)}
    if width:
        shifts.add(tuple(np.round(track.velocity / GRID).astype(int)))
    return any(len(np.intersect1d(track.last.cells + (dy * width + dx), cells, assume_unique=True))
               for dx, dy in shifts)


def _cost(track: Track, new: Blob, frame: int, width: int, leap: float) -> float:
    """``match_cost`` of continuing ``track`` with ``new``: moved by its velocity for one frame,
    or where it was, whichever fits better. A velocity measured from one flickering frame to the
    next (a limb half missing for a frame moves its centroid far) can point anywhere, and carried
    on over a gap it would reach a speck far away."""
    gap = frame - track.last_frame
    moved = match_cost(track.last, new, gap, track.velocity / max(gap, 1), width, leap)
    if not track.velocity.any():
        return moved
    return min(moved, match_cost(track.last, new, gap, (0.0, 0.0), width, leap))


def _person_blobs(per_frame: dict, width: int) -> dict:
    frames = {}
    for frame, contours in per_frame.items():
        rings: dict[int, list] = {}
        for c in contours:
            if not c.hole:
                rings.setdefault(c.person, []).append(c.ring)
        frames[frame] = [blob(p, r, width) for p, r in sorted(rings.items())]
    return frames


def ids_consistent(tracks: list[Track], agree: float = 0.9) -> bool:
    """Whether the input ids name the same people as the overlap linking ``tracks`` does: on
    at least ``agree`` of the links between consecutive sightings, the id stays the same."""
    links = same = 0
    for t in tracks:
        keys = [t.members[f] for f in sorted(t.members)]
        links += len(keys) - 1
        same += sum(a == b for a, b in zip(keys[:-1], keys[1:]))
    return links == 0 or same >= agree * links


def identify_people(per_frame: dict, max_gap: int) -> dict[int, dict[int, int]]:
    """{frame: {input person id: shot-wide person id}} from every frame's contours.

    A person is the union of their parts' outer rings. When the input ids are consistent over
    the shot (``ids_consistent``), each id is one person, even where the overlap linking
    would swap two people who cross; otherwise (a detector renumbering people on every frame)
    people are linked by overlap. People are numbered 1..N in order of first appearance, people
    first seen on the same frame in the order of their ids there.
    """
    width = grid_width(per_frame)
    frames = _person_blobs(per_frame, width)
    tracks = associate(frames, max_gap, width)
    if ids_consistent(tracks):
        by_id: dict[int, dict] = {}
        for frame in sorted(frames):
            for b in frames[frame]:
                by_id.setdefault(int(b.key), {})[frame] = b.key
        members = list(by_id.values())
    else:
        members = [t.members for t in tracks]
    order = sorted(members, key=lambda m: (min(m), int(m[min(m)])))
    mapping: dict[int, dict[int, int]] = {f: {} for f in per_frame}
    for label, m in enumerate(order, start=1):
        for frame, key in m.items():
            mapping[frame][key] = label
    return mapping


def grid_width(per_frame: dict) -> int:
    """Cells per row of the coarse grid: enough for every ring of the shot (even off-frame)."""
    xs = [c.ring[:, 0].max() for contours in per_frame.values() for c in contours]
    return int(np.ceil((max(xs) if xs else 0.0) / GRID)) + 8
