"""Stage 1 of the vectorizer: a region's mask (or soft field) -> closed sub-pixel rings.

- ``trace_rings`` / ``trace_many``: the 0.5 iso-line of a padded crop by marching squares
  (:mod:`m2fp_roto.isolines`, every field of a frame in one batch), split into outer rings
  (clockwise on screen) and holes;
- ``remove_specks``: islands and holes below ``min_area`` px go before tracing;
- ``straighten_staircase(s)``: on hard labels, each staircase step becomes its midpoint;
- ``region_field``: the soft field of a region when the parser kept part scores;
- ``padded_crop`` and ``trace_regions``: a frame's regions, cropped, cleaned and traced.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .geometry import polygon_area
from .isolines import closed_isolines_many
from .parsing import Parsing


@dataclass
class Ring:
    """A closed sub-pixel boundary in image space; ``xy`` (M, 2), without the closing repeat."""

    xy: np.ndarray
    hole: bool

    @cached_property
    def area(self) -> float:
        return abs(polygon_area(self.xy))


def trace_rings(field: np.ndarray, origin=(0.0, 0.0), level: float = 0.5) -> list[Ring]:
    """Closed iso-lines of ``field`` (high inside) in image space.

    ``origin`` is the image-space position of ``field[0, 0]``'s top-left corner. The field is
    padded so that every ring closes. A bool ``field`` is a hard mask (level 0.5).
    """
    return trace_many([field], [origin], level)[0]


def trace_many(fields, origins, level: float = 0.5) -> list[list[Ring]]:
    """``trace_rings`` of several fields, traced in one batch (:mod:`m2fp_roto.isolines`)."""
    padded = []
    for field in fields:
        # Outside the array the field is as far below the level as a hard mask's 1 is above it,
        # so a region touching the border ends exactly on the frame edge.
        low = False if field.dtype == bool else min(float(field.min()), 2 * level - 1.0)
        out = np.full((field.shape[0] + 2, field.shape[1] + 2), low, field.dtype)  # np.pad, faster
        out[1:-1, 1:-1] = field
        padded.append(out)
    out = []
    for lines, origin in zip(closed_isolines_many(padded, level), origins):
        rings = []
        for c in lines:
            if len(c) < 4:
                continue
            xy = np.column_stack([c[:-1, 1] - 1 + 0.5 + origin[0], c[:-1, 0] - 1 + 0.5 + origin[1]])
            signed = polygon_area(xy)
            if signed == 0:
                continue
            # The higher values lie on the left: anticlockwise on screen around an outer
            # boundary, clockwise around a hole; reversed, outer rings wind clockwise (positive
            # area) and holes anticlockwise.
            rings.append(Ring(xy[::-1], hole=signed > 0))
        out.append(rings)
    return out


def straighten_staircase(xy: np.ndarray) -> np.ndarray:
    """Replace each staircase step of a hard mask's iso-line by its midpoint.

    The 0.5 iso-line of a binary mask runs along pixel edges, with a 45 degree cut at every
    turn. A run between two cuts of the same direction is one step of a staircase: the edge it
    digitises passes through the run's midpoint, so the run becomes that one point, and a
    shallow slope turns into a straight line instead of a +-0.5 px sawtooth that no smoothing
    of a few pixels removes. A run between cuts of different directions (a corner, the flat top
    of a curve, a one-pixel spike) keeps both ends.
    """
    return straighten_staircases([xy])[0]


def straighten_staircases(rings: list[np.ndarray]) -> list[np.ndarray]:
    """``straighten_staircase`` of many rings at once (the same arithmetic, ring by ring)."""
    if not rings:
        return []
    counts = np.array([len(r) for r in rings])
    xy = np.concatenate(rings)
    ring = np.repeat(np.arange(len(rings)), counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    nxt = np.arange(len(xy)) + 1
    nxt[np.cumsum(counts) - 1] = start[np.cumsum(counts) - 1]  # each ring wraps onto its start
    step = xy[nxt] - xy
    cut = np.flatnonzero((np.abs(step[:, 0]) > 1e-6) & (np.abs(step[:, 1]) > 1e-6))
    per_ring = np.bincount(ring[cut], minlength=len(rings))
    cut = cut[per_ring[ring[cut]] >= 4]  # rings with fewer than four cuts stay as they are
    cut_ring = ring[cut]
    first_cut = np.searchsorted(cut_ring, cut_ring)  # a ring's cuts wrap onto its first cut
    next_cut = np.arange(1, len(cut) + 1)
    last_of_ring = np.r_[cut_ring[1:] != cut_ring[:-1], True]
    next_cut[last_of_ring] = first_cut[last_of_ring]
    first = xy[nxt[cut]]  # run j runs from just after cut j to cut j+1
    last = xy[cut[next_cut]]
    stair = np.all(np.abs(step[cut] - step[cut[next_cut]]) < 1e-6, axis=1)
    pairs = np.stack([np.where(stair[:, None], (first + last) / 2, first), last], axis=1)
    keep = np.column_stack([np.ones(len(cut), bool), ~stair & np.any(np.abs(first - last) > 1e-6, axis=1)])
    kept = pairs[keep]
    sizes = np.bincount(cut_ring, weights=keep.sum(1), minlength=len(rings)).astype(np.int64)
    pieces = np.split(kept, np.cumsum(sizes)[:-1])
    return [piece if per_ring[i] >= 4 else r for i, (r, piece) in enumerate(zip(rings, pieces))]


def region_field(parsing: Parsing, person: int, part_id: int, crop: np.ndarray, box) -> np.ndarray:
    """The field whose 0.5 iso-line is the region's boundary, on the crop ``box``
    (``(y0, y1, x0, x1)``, whose mask is ``crop``).

    With part logits: the sigmoid of the part's margin over every other part, upsampled to the
    frame and kept off other people's pixels (so a person's outline stays theirs). Without: the
    hard mask itself.
    """
    y0, y1, x0, x1 = box
    crop = np.asarray(crop).astype(np.float32)
    logits = parsing.part_logits
    if logits is None:
        return crop
    _, h, w = logits.shape
    H, W = parsing.shape
    sy, sx = h / H, w / W
    # The logit cells the crop's pixel centres fall between (plus one for the interpolation).
    ys = (np.arange(y0, y1) + 0.5) * sy - 0.5
    xs = (np.arange(x0, x1) + 0.5) * sx - 0.5
    yi0, yi1 = int(np.clip(np.floor(ys[0]), 0, h - 1)), int(np.clip(np.floor(ys[-1]) + 2, 1, h))
    xi0, xi1 = int(np.clip(np.floor(xs[0]), 0, w - 1)), int(np.clip(np.floor(xs[-1]) + 2, 1, w))
    sub = logits[:, yi0:yi1, xi0:xi1].astype(np.float32)
    margin = sub[part_id] - np.delete(sub, part_id, axis=0).max(0)
    up = _bilinear_rows(_bilinear_rows(margin, ys - yi0).T, xs - xi0).T
    soft = 1.0 / (1.0 + np.exp(-up))
    people = parsing.people[y0:y1, x0:x1]
    # Other people keep their own pixels; elsewhere (this person, background) the soft
    # boundary decides, so the outline is sub-pixel on the silhouette too.
    return np.where((people != person) & (people != 0) & (crop == 0), 0.0, soft).astype(np.float32)


def _bilinear_rows(grid: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rows of ``grid`` linearly interpolated at fractional row positions ``pos`` (edge-clamped)."""
    pos = np.clip(pos, 0, grid.shape[0] - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), max(grid.shape[0] - 2, 0))
    i1 = np.minimum(i0 + 1, grid.shape[0] - 1)
    f = (pos - i0)[:, None]
    return grid[i0] * (1 - f) + grid[i1] * f


def remove_specks(mask: np.ndarray, min_area: float) -> tuple[np.ndarray, int]:
    """The mask without islands and holes of fewer than ``min_area`` pixels, and how many went.

    Islands are 4-connected and holes 8-connected, the connectivity the 0.5 iso-line of a binary
    mask gives (marching squares joins background diagonals); background touching the border of
    the array is outside, not a hole. Islands go first, so a hole inside a dropped island is not
    counted twice.
    """
    import cv2

    mask = np.asarray(mask)
    out = (mask if mask.dtype == bool else mask != 0).astype(np.uint8)  # any non-zero value is inside
    dropped = 0
    for value, connectivity in ((1, 4), (0, 8)):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(out if value else out ^ 1, connectivity=connectivity)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1  # label 0: the other value
        if value == 0 and len(small):
            small = np.setdiff1d(small, np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        if len(small):
            out[np.isin(labels, small)] = 1 - value
            dropped += len(small)
    return out.view(bool), dropped


def padded_crop(mask, pad: int, box=None, frame_shape=None):
    """``(crop, padded box)``: the region's bool mask on its box grown by ``pad`` px inside the
    frame (``mask`` as in ``vectorize_region``), or None for an empty mask."""
    import cv2

    mask = np.asarray(mask)
    if box is None:  # a whole-frame mask: find its box
        frame_shape = mask.shape
        x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask != 0, dtype=np.uint8))
        if not bw:
            return None
        box = (y, y + bh, x, x + bw)
        mask = mask[y:y + bh, x:x + bw]
    elif not mask.size:
        return None
    h, w = frame_shape
    y0, y1, x0, x1 = box
    padded = (max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w))
    crop = np.zeros((padded[1] - padded[0], padded[3] - padded[2]), bool)
    crop[y0 - padded[0]:y1 - padded[0], x0 - padded[2]:x1 - padded[2]] = mask != 0
    return crop, padded


def trace_regions(crops, boxes, field_fns, min_area: float) -> list[tuple[list[Ring], int]]:
    """``(rings, specks dropped)`` of every region's padded crop on its ``boxes`` entry; the
    rings of hard masks have their staircases straightened.

    A hard mask is traced as it is first: marching squares gives one outer ring per 4-connected
    island and one ring per (8-connected) hole, so a region of one island of ``min_area`` px or
    more and no hole has no specks and its rings are final. Only the others go through
    ``remove_specks``, and are traced again if it dropped anything. A soft field
    (``field_fns[i](box, crop)``, not None) is traced once, where the crop without its specks
    is not empty. Every batch of tracing covers all regions at once.
    """
    out: list = [None] * len(crops)
    origins = [(b[2], b[0]) for b in boxes]
    hard = [i for i, fn in enumerate(field_fns) if fn is None]
    again, fields = [], []
    for i, rings in zip(hard, trace_many([crops[i] for i in hard], [origins[i] for i in hard])):
        if len(rings) == 1 and not rings[0].hole and np.count_nonzero(crops[i]) >= min_area:
            out[i] = (rings, 0)
            continue
        clean, dropped = remove_specks(crops[i], min_area)
        if not dropped:
            out[i] = (rings, 0)
        elif clean.any():
            again.append((i, dropped))
            fields.append(clean)
        else:
            out[i] = ([], dropped)
    for i, fn in enumerate(field_fns):
        if fn is not None:
            clean, dropped = remove_specks(crops[i], min_area)
            if clean.any():
                again.append((i, dropped))
                fields.append(fn(boxes[i], crops[i]))
            else:
                out[i] = ([], dropped)
    for (i, dropped), rings in zip(again, trace_many(fields, [origins[i] for i, _ in again])):
        out[i] = (rings, dropped)
    soft = [fn is not None for fn in field_fns]
    straight = _straighten([rings for rings, _ in out], soft)
    return [(rings, dropped) for rings, (_, dropped) in zip(straight, out)]


def _straighten(traced: list[list[Ring]], soft: list[bool]) -> list[list[Ring]]:
    """Every hard mask's rings with their staircases straightened (one batch for all)."""
    hard = [r for rings, s in zip(traced, soft) if not s for r in rings]
    straight = iter(straighten_staircases([r.xy for r in hard]))
    return [rings if s else [Ring(next(straight), r.hole) for r in rings] for rings, s in zip(traced, soft)]


__all__ = ["Ring", "padded_crop", "region_field", "remove_specks", "straighten_staircase", "straighten_staircases",
           "trace_many", "trace_regions", "trace_rings"]
