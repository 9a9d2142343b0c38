"""Figures of tracked shapes over a shot, measured as an outsider would: on the curve and the masks.

- ``frame_iou``: the shapes drawn on a frame (holes cut), re-rasterized, against that frame's mask.
- ``constant_counts``: share of shapes whose every key has the same point count (must be 1.0).
- ``jitter``: mean magnitude (px/frame^2) of the second difference of every anchor's path,
  over every frame of every shape's lifetime - what an artist sees as crawling points.
- ``key_ratio``: keys per frame of lifetime, per shape.
- ``stacked_anchors``: share of anchors sitting on the next one (within 0.5 px) - points an
  artist cannot pick apart.
- ``self_crossings``: every (shape, frame) whose outline crosses itself (the curve sampled at
  most 0.5 px apart, shapely's ``LinearRing.is_simple``) - a fold or a hole in the matte;
  ``hole_crossings``: holes whose outline crosses or leaves their parent's.
- ``leaps``: every (shape, frame) where the shape, drawn on the frame before too, lands on
  something else - its outline overlaps the one before by under 5 % of the smaller, and one
  has under a quarter of the other's area (a shin merged into the body, its shape moved on to
  a speck beside it).
- ``frame_regions``: per frame, every (person, part) region's IoU with the union of its shapes,
  and per shape its IoU with the connected components it covers most (its region) and the
  share of its area on its own person's pixels.
- ``naive_outline_paths``: the baseline a tracker must beat - each frame's outline resampled to
  a fixed count, starting at the outline point at angle 0 around the centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bezier import fill_polygons, flatten, sample_spaced
from ..geometry import resample_ring
from ..labelsets import get_label_set
from ..vectorize import remove_specks, trace_rings
from .metrics import iou


def frame_iou(shapes, frame: int, mask: np.ndarray) -> float:
    alive = [s for s in shapes if s.alive(frame)]
    return iou(mask, [s.points_at(frame) for s in alive if not s.hole],
               [s.points_at(frame) for s in alive if s.hole])


def constant_counts(shapes) -> float:
    if not shapes:
        return 1.0
    return float(np.mean([len({len(k.points) for k in s.keys}) == 1 for s in shapes]))


def lifetime_points(shape) -> np.ndarray:
    """(F, N, 6): the shape's points on every frame of its lifetime (keys interpolated)."""
    return shape.points_over(range(shape.frames[0], shape.frames[1] + 1))


def anchor_paths(shape) -> np.ndarray:
    """(F, N, 2) anchors on every frame of the shape's lifetime."""
    return lifetime_points(shape)[..., :2]


def path_jitter(paths: np.ndarray) -> np.ndarray:
    """|second difference| (px/frame^2) of (F, N, 2) paths: (F-2, N)."""
    return np.linalg.norm(np.diff(paths, 2, axis=0), axis=-1)


def jitter(shapes) -> float:
    """Mean second-difference magnitude over every anchor and frame of every shape (>= 3 frames)."""
    values = [path_jitter(anchor_paths(s)).ravel() for s in shapes if s.frames[1] - s.frames[0] >= 2]
    return float(np.concatenate(values).mean()) if values else 0.0


def key_ratio(shape) -> float:
    return len(shape.keys) / (shape.frames[1] - shape.frames[0] + 1)


def stacked_anchors(shapes, within: float = 0.5) -> float:
    """Share of anchors, over every frame of every shape, within ``within`` px of the next one."""
    gaps = [np.hypot(*(np.roll(p[:, :2], -1, axis=0) - p[:, :2]).T)
            for s in shapes for p in lifetime_points(s) if len(p) > 1]
    return float((np.concatenate(gaps) < within).mean()) if gaps else 0.0


def shape_frames(shapes):
    """Every (shape, frame, points (N, 6)) where a shape is drawn (its lifetime less its hidden frames)."""
    for s in shapes:
        frames = s.drawn_frames()
        yield from ((s, int(f), p) for f, p in zip(frames, s.points_over(frames)))


def crosses_itself(points: np.ndarray, spacing: float = 0.5) -> bool:
    """Whether the closed curve of ``points`` (N, 6) crosses or touches itself anywhere."""
    from shapely.geometry import LinearRing

    xy = sample_spaced(points, spacing)
    return len(xy) >= 3 and not LinearRing(xy).is_simple


def self_crossings(shapes, spacing: float = 0.5) -> list[tuple[str, int]]:
    """(name, frame) of every shape-frame whose outline crosses itself, however small the loop."""
    return [(s.name, f) for s, f, p in shape_frames(shapes) if crosses_itself(p, spacing)]


def crossing_share(shapes, spacing: float = 0.5) -> float:
    """Share of shape-frames whose outline crosses itself (see :func:`self_crossings`)."""
    total = sum(len(s.drawn_frames()) for s in shapes)
    return len(self_crossings(shapes, spacing)) / total if total else 0.0


def leaps(shapes, spacing: float = 0.5, touch: float = 0.05, like: float = 0.25) -> list[tuple[str, int]]:
    """(name, frame) of every outer shape-frame whose outline, drawn on the frame before too,
    overlaps it by under ``touch`` of the smaller area while one area is under ``like`` of the
    other: a region handed from one piece to another, not one that moved fast (a leg in a
    sparse shot may clear its old place, but keeps its size)."""
    from shapely.geometry import Polygon

    found, before = [], {}
    for s, f, p in shape_frames([s for s in shapes if not s.hole]):
        now = Polygon(sample_spaced(p, spacing)).buffer(0)
        last = before.get(s.name)
        if last is not None and last[0] == f - 1:
            small, big = sorted((now.area, last[1].area))
            if now.intersection(last[1]).area < touch * small and small < like * big:
                found.append((s.name, f))
        before[s.name] = (f, now)
    return found


def hole_crossings(shapes, spacing: float = 0.5) -> list[tuple[str, int]]:
    """(name, frame) of every hole-frame whose outline crosses its parent's or lies outside it."""
    from shapely.geometry import LinearRing, Polygon

    parents = {s.name: s for s in shapes if not s.hole}
    bad = []
    for s, f, p in shape_frames([s for s in shapes if s.hole and s.parent in parents]):
        parent = parents[s.parent]
        if not parent.alive(f):
            bad.append((s.name, f))
            continue
        outer = sample_spaced(parent.points_at(f), spacing)
        hole = LinearRing(sample_spaced(p, spacing))
        if LinearRing(outer).intersects(hole) or not Polygon(outer).buffer(0).contains(hole):
            bad.append((s.name, f))
    return bad


@dataclass
class Region:
    """One (person, part) region of one frame measured against its shapes (pixel counts)."""

    person: int  # the id in the frame's person map
    part: str
    area: int
    inter: int  # pixels both in the region and in the union of its shapes
    union: int

    @property
    def iou(self) -> float:
        return self.inter / self.union if self.union else 1.0


@dataclass
class ShapeFit:
    """One shape on one frame: IoU with its region (the components it covers most; nan where
    it covers none), the same IoU of the reference shapes that cover those components (the
    per-frame vectorizer's, when given), the share of its area on its own person's pixels and
    the share on other people's: background lowers only the first; a swap, or an edge out
    onto a neighbour, raises the second."""

    name: str
    frame: int
    area: int
    iou: float
    own_person: float
    other_person: float
    reference_iou: float = float("nan")


def _raster(outer: np.ndarray, holes, shape) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixel-centre raster of one outer shape minus its holes, on the crop of its bounding box."""
    xy = flatten(outer)
    h, w = shape
    x0, y0 = np.clip(np.floor(xy.min(0)).astype(int) - 1, 0, [w, h])
    x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int) + 1, 0, [w, h])
    box = (slice(y0, y1), slice(x0, x1))
    size = (max(y1 - y0, 0), max(x1 - x0, 0))
    if min(size) <= 0:
        return box, np.zeros(size, bool)
    mask = fill_polygons([xy - [x0, y0]], size)
    for p in holes:
        mask &= ~fill_polygons([flatten(p) - [x0, y0]], size)
    return box, mask


def shape_rasters(shapes, frame: int, hw, owner=lambda p: p) -> dict:
    """{(person in the frame's map, part): [(shape, box, mask), ...]} of the outer shapes alive
    at ``frame``, each with its own holes cut."""
    alive = [s for s in shapes if s.alive(frame)]
    holes: dict = {}
    for s in alive:
        if s.hole:
            holes.setdefault(s.parent, []).append(s.points_at(frame))
    out: dict = {}
    for s in alive:
        if not s.hole:
            box, mask = _raster(s.points_at(frame), holes.get(s.name, ()), hw)
            out.setdefault((owner(s.person), s.part), []).append((s, box, mask))
    return out


def _window(box, boxes, hw) -> tuple[tuple[int, int], tuple[int, int]]:
    """(size, (top, left)) of the window holding a region's ``box`` (y0, y1, x0, x1) grown by
    one pixel and every one of ``boxes`` (slice pairs), within a frame of ``hw``."""
    top, bottom, left, right = max(box[0] - 1, 0), min(box[1] + 1, hw[0]), max(box[2] - 1, 0), min(box[3] + 1, hw[1])
    for rows, cols in boxes:
        top, bottom = min(top, rows.start), max(bottom, rows.stop)
        left, right = min(left, cols.start), max(right, cols.stop)
    return (bottom - top, right - left), (top, left)


def _shift(box, top: int, left: int) -> tuple[slice, slice]:
    """A box of slices on the frame as the same box on a window whose corner is (top, left)."""
    rows, cols = box
    return slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left)


def _assign(items, labels: np.ndarray, n: int):
    """Per item (box, mask): its pixel count on each component (K, n), and each component's
    item (n,) - the one covering most of it, -1 where none covers it."""
    overlap = np.array([np.bincount(labels[box][m], minlength=n) for box, m in items]).reshape(-1, n)
    best = np.where(overlap.max(0, initial=0) > 0, np.argmax(overlap, axis=0) if len(items) else -1, -1)
    best[0] = -1
    return overlap, best


def frame_regions(shapes, parsing, min_area: float = 0.0, owner=None, reference=None,
                  rasters=None) -> tuple[list[Region], list[ShapeFit]]:
    """Every region of ``parsing`` (a ``Parsing``: the truth of one frame) against ``shapes``.

    Regions lose their islands and holes under ``min_area`` px (what the vectorizer is asked
    to draw). A shape's region is the set of the region's connected components it covers more
    of than any other shape of the same person and part does. ``owner(person)`` gives the id
    in this frame's person map of a shape's person (default: the same number). ``reference``:
    other shapes of the same frame (the per-frame vectorizer's) whose IoU on each shape's
    region is reported beside it. ``rasters``: ``shape_rasters(shapes, frame, hw, owner)``
    where the caller has made them already.
    """
    import cv2

    frame, hw = parsing.frame, parsing.parts.shape
    names = get_label_set(parsing.label_set).parts
    owner = owner or (lambda p: p)
    by_region = dict(shape_rasters(shapes, frame, hw, owner) if rasters is None else rasters)
    by_reference = shape_rasters(reference, frame, hw) if reference is not None else {}
    regions, fits = [], {}
    for region in parsing.regions():
        person, part = region.person, names[region.part]
        mine, ref = by_region.pop((person, part), []), by_reference.get((person, part), [])
        # Everything below happens on a window holding the region (one pixel of background
        # round it, so its outside stays outside) and its shapes: the same components, counts
        # and holes as on the whole frame, at the cost of the region's size.
        window, (top, left) = _window(region.box, [box for _, box, _ in mine + ref], hw)
        mask = np.zeros(window, bool)
        y0, y1, x0, x1 = region.box
        mask[y0 - top:y1 - top, x0 - left:x1 - left] = region.mask
        mask = remove_specks(mask, min_area)[0] if min_area else mask
        if not mask.any():
            continue
        n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4)
        sizes = np.bincount(labels.ravel(), minlength=n)
        local = [(_shift(box, top, left), m) for _, box, m in mine]
        covered = np.zeros(window, bool)
        for box, m in local:
            covered[box] |= m
        regions.append(Region(person, part, int(sizes[1:].sum()), int(np.count_nonzero(covered & mask)),
                              int(np.count_nonzero(covered | mask))))
        if not mine:
            continue
        overlap, best = _assign(local, labels, n)
        ref_overlap, ref_best = _assign([(_shift(box, top, left), m) for _, box, m in ref], labels, n)
        for k, (s, box, m) in enumerate(mine):
            own = best == k
            area, size = int(m.sum()), int(sizes[own].sum())
            fit = ShapeFit(s.name, frame, area, _iou(int(overlap[k][own].sum()), area, size),
                           *person_shares(parsing.people[box][m], person, area))
            users = np.unique(ref_best[own & (ref_best >= 0)])
            if reference is not None and size:
                inter = int(sum(ref_overlap[j][own].sum() for j in users))
                ref_area = int(sum(ref[j][2].sum() for j in users))
                fit.reference_iou = _iou(inter, ref_area, size)
            fits[s.name] = fit
    for shapes_left in by_region.values():  # shapes of a (person, part) absent from this frame
        for s, box, m in shapes_left:
            area = int(m.sum())
            fits[s.name] = ShapeFit(s.name, frame, area, float("nan"),
                                    *person_shares(parsing.people[box][m], owner(s.person), area))
    return regions, list(fits.values())


def _iou(inter: int, a: int, b: int) -> float:
    return inter / (a + b - inter) if a + b - inter > 0 else float("nan")


def person_shares(people: np.ndarray, person: int, area: int) -> tuple[float, float]:
    """(share of ``area`` on ``person``'s pixels, share on other people's)."""
    if not area:
        return 1.0, 0.0
    mine = np.count_nonzero(people == person)
    return mine / area, (np.count_nonzero(people) - mine) / area


def pooled_iou(regions) -> float:
    """Area-weighted IoU: all intersections over all unions."""
    union = sum(r.union for r in regions)
    return sum(r.inter for r in regions) / union if union else 1.0


def naive_outline(mask: np.ndarray, n_points: int = 32) -> np.ndarray:
    """The largest outline of ``mask`` resampled to ``n_points`` by arc length, from angle 0.

    Starts at the outline point whose direction from the region's centroid is closest to the
    +x axis, and runs in the outline's own order (clockwise on screen).
    """
    rings = [r for r in trace_rings(mask.astype(np.float32)) if not r.hole]
    ring = max(rings, key=lambda r: r.area).xy
    dense = resample_ring(ring, 0.25)
    c = dense.mean(0)
    angle = np.abs(np.arctan2(dense[:, 1] - c[1], dense[:, 0] - c[0]))
    start = int(np.argmin(angle + (dense[:, 0] < c[0]) * 10.0))
    return resample_ring(np.roll(dense, -start, axis=0), count=n_points)


def naive_outline_paths(masks, n_points: int = 32) -> np.ndarray:
    """(F, n_points, 2): :func:`naive_outline` of every mask in order."""
    return np.stack([naive_outline(m, n_points) for m in masks])
