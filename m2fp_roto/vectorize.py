"""Regions of a parsed frame -> closed cubic Bezier shapes (outer boundaries and holes).

The stages, per (person, part) region:

1. ``trace_rings`` - the sub-pixel 0.5 iso-line of the region (marching squares on a crop; on
   the soft part margin when the parser kept logits), split into outer rings and holes, after
   ``remove_specks`` drops islands and holes below ``min_area`` px. On hard labels,
   ``straighten_staircase`` replaces every staircase step by its midpoint.
2. ``smooth_ring`` - arc-length resampling and a wrap-around Gaussian: removes what is left of
   the pixel grid without moving the boundary by more than a fraction of a pixel.
3. ``find_corners`` - turning angle over a few pixels, non-maximum suppressed;
   ``sharpen_corners`` moves each corner to the intersection of its straight sides (undoing the
   rounding of steps 1-2). Real corners stay sharp, everything else is fitted with G1 joins.
4. ``fit_rings`` - Schneider's error-bounded least-squares fit between corners, within
   ``tolerance`` px of the smoothed boundary, with as few anchors as that allows; handles at
   corners are free. All rings of a frame are fitted in one batch. Steps 3 (detection) and 4
   live in :mod:`m2fp_roto.fitting`, which tracking shares.

Outer rings wind clockwise on screen (positive ``geometry.polygon_area``), holes anticlockwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .bezier import flatten
from .fitting import CORNER_ANGLE, find_corners, fit_rings
from .geometry import polygon_area, resample_ring
from .labelsets import get_label_set
from .parsing import Parsing

log = logging.getLogger("m2fp_roto")

PAD = 2


@dataclass(frozen=True)
class VectorizeOptions:
    """tolerance: max distance (px) of the curve from the smoothed boundary (less on rings
        under 400 px of area, see ``ring_tolerance``).
    min_area: regions and holes smaller than this (px) are dropped as specks.
    smooth: Gaussian sigma (px) along the boundary, after hard-label staircase steps have been
        straightened; 0 fits the straightened iso-line as it is.
    corner_angle: turning angle (degrees) above which an anchor stays a sharp corner.
    """

    tolerance: float = 0.5
    min_area: float = 64.0
    smooth: float = 0.4
    corner_angle: float = CORNER_ANGLE


@dataclass
class Ring:
    """A closed sub-pixel boundary in image space; ``xy`` (M, 2), without the closing repeat."""

    xy: np.ndarray
    hole: bool

    @property
    def area(self) -> float:
        return abs(polygon_area(self.xy))


@dataclass
class Contour:
    """One fitted shape of one frame, before tracking gives it a lifetime."""

    person: int
    part: str
    component: int
    hole: int  # 0 for an outer boundary, j >= 1 for the j-th hole of its component
    points: np.ndarray  # (N, 6) document points
    ring: np.ndarray  # (M, 2) smoothed boundary samples it was fitted to (tracking snaps to them)
    area: float


def trace_rings(field: np.ndarray, origin=(0.0, 0.0), level: float = 0.5) -> list[Ring]:
    """Closed iso-lines of ``field`` (high inside) in image space.

    ``origin`` is the image-space position of ``field[0, 0]``'s top-left corner. The field is
    padded so that every ring closes.
    """
    from skimage.measure import find_contours

    # Outside the array the field is as far below the level as a hard mask's 1 is above it, so
    # a region touching the border ends exactly on the frame edge.
    low = min(float(field.min()), 2 * level - 1.0)
    padded = np.pad(field, 1, constant_values=low)
    rings = []
    for c in find_contours(padded, level, positive_orientation="high"):
        if len(c) < 4:
            continue
        xy = np.column_stack([c[:-1, 1] - 1 + 0.5 + origin[0], c[:-1, 0] - 1 + 0.5 + origin[1]])
        signed = polygon_area(xy)
        if signed == 0:
            continue
        # positive_orientation="high" keeps the inside on the left: anticlockwise on screen around
        # an outer boundary, clockwise around a hole; reversed, outer rings wind clockwise
        # (positive area) and holes anticlockwise.
        rings.append(Ring(xy[::-1], hole=signed > 0))
    return rings


def straighten_staircase(xy: np.ndarray) -> np.ndarray:
    """Replace each staircase step of a hard mask's iso-line by its midpoint.

    The 0.5 iso-line of a binary mask runs along pixel edges, with a 45 degree cut at every
    turn. A run between two cuts of the same direction is one step of a staircase: the edge it
    digitises passes through the run's midpoint, so the run becomes that one point, and a
    shallow slope turns into a straight line instead of a +-0.5 px sawtooth that no smoothing
    of a few pixels removes. A run between cuts of different directions (a corner, the flat top
    of a curve, a one-pixel spike) keeps both ends.
    """
    step = np.roll(xy, -1, axis=0) - xy
    cut = np.flatnonzero((np.abs(step[:, 0]) > 1e-6) & (np.abs(step[:, 1]) > 1e-6))
    if len(cut) < 4:
        return xy
    first = xy[(cut + 1) % len(xy)]  # run j runs from just after cut j to cut j+1
    last = xy[np.roll(cut, -1)]
    stair = np.all(np.abs(step[cut] - np.roll(step[cut], -1, axis=0)) < 1e-6, axis=1)
    pairs = np.stack([np.where(stair[:, None], (first + last) / 2, first), last], axis=1)
    keep = np.column_stack([np.ones(len(cut), bool), ~stair & np.any(np.abs(first - last) > 1e-6, axis=1)])
    return pairs[keep]


def smooth_ring(xy: np.ndarray, sigma: float, spacing: float = 0.5) -> np.ndarray:
    """Resample at ``spacing`` px and smooth with a wrap-around Gaussian of ``sigma`` px."""
    r = resample_ring(xy, spacing)
    if sigma <= 0:
        return r
    return gaussian_filter1d(r, sigma / spacing, axis=0, mode="wrap")


def sharpen_corners(xy: np.ndarray, corners: np.ndarray, rounding: float, spacing: float = 0.5,
                    reach: float = 8.0, straight: float = 0.45) -> np.ndarray:
    """Undo the rounding that tracing and smoothing leave at corners.

    Each side of a corner is a least-squares line through the samples from ``rounding`` to
    ``rounding + reach`` px away from it; the corner sample moves to the lines' intersection and
    the samples within ``rounding`` px are projected onto their side's line (the vertex
    adjustment of potrace, restricted to real corners). Corners whose sides are too short, not
    straight within ``straight`` px, nearly parallel, or meet implausibly far away stay as they are.
    """
    m = len(xy)
    corners = np.unique(np.asarray(corners, np.int64) % m)
    if not len(corners):
        return xy
    out = xy.copy()
    r = max(int(np.ceil(rounding / spacing)), 1)
    gaps = np.diff(np.concatenate([corners, corners[:1] + m]))
    room = np.minimum(gaps, np.roll(gaps, 1)) // 2  # each corner owns half of its sides
    for c, space in zip(corners, room):
        span = min(int(reach / spacing), int(space) - r)
        if span * spacing < 3.0:  # too little side to fit a line to
            continue
        lines = []
        for side in (-1, 1):
            pts = xy[(c + side * np.arange(r, r + span + 1)) % m]
            centre = pts.mean(0)
            direction = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
            lines.append((centre, direction))
        if any(np.abs((xy[(c + side * np.arange(r, r + span + 1)) % m] - p0) @ [-d[1], d[0]]).max() > straight
               for side, (p0, d) in zip((-1, 1), lines)):
            continue  # a curved side: its line would misplace the corner
        (pa, da), (pb, db) = lines
        cross = da[0] * db[1] - da[1] * db[0]
        if abs(cross) < np.sin(np.radians(20)):
            continue
        t = ((pb - pa)[0] * db[1] - (pb - pa)[1] * db[0]) / cross
        x = pa + t * da
        if np.hypot(*(x - xy[c])) > rounding + 0.5:
            continue
        for side, (p0, d) in zip((-1, 1), lines):
            idx = (c + side * np.arange(1, r)) % m
            out[idx] = p0 + ((xy[idx] - p0) @ d)[:, None] * d
        out[c] = x
    return out


def region_field(parsing: Parsing, person: int, part_id: int, mask: np.ndarray, box) -> np.ndarray:
    """The field whose 0.5 iso-line is the region's boundary, on the crop ``box``.

    With part logits: the sigmoid of the part's margin over every other part, upsampled to the
    frame and kept off other people's pixels (so a person's outline stays theirs). Without: the
    hard mask itself.
    """
    y0, y1, x0, x1 = box
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    logits = parsing.part_logits
    if logits is None:
        return crop
    c, h, w = logits.shape
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

    out = (np.asarray(mask) != 0).astype(np.uint8)  # any non-zero value is inside
    dropped = 0
    for value, connectivity in ((1, 4), (0, 8)):
        n, labels, stats, _ = cv2.connectedComponentsWithStats((out == value).view(np.uint8), connectivity=connectivity)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1  # label 0: the other value
        if value == 0:
            small = np.setdiff1d(small, np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        if len(small):
            out[np.isin(labels, small)] = 1 - value
            dropped += len(small)
    return out.astype(bool), dropped


def vectorize_region(mask: np.ndarray, options: VectorizeOptions = VectorizeOptions(), *,
                     field_fn=None, pad: int = PAD) -> tuple[list[tuple[Ring, list[Ring]]], int]:
    """Trace one region's mask into outer rings, each with its holes (not yet smoothed).

    Returns ``([(outer, [holes...]), ...] largest first, number of specks dropped)``. Islands
    and holes of fewer than ``options.min_area`` pixels are specks (see ``remove_specks``).
    ``field_fn(box) -> crop field`` replaces the hard mask crop (soft logits); its rings are
    filtered by enclosed area instead, and ``pad`` px around the mask's bounding box leave room
    for a soft boundary that lies outside the hard one.
    """
    import cv2

    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask, dtype=np.uint8))
    if not bw:
        return [], 0
    h, w = mask.shape
    box = (max(y - pad, 0), min(y + bh + pad, h), max(x - pad, 0), min(x + bw + pad, w))
    crop, dropped = remove_specks(mask[box[0]:box[1], box[2]:box[3]], options.min_area)
    if not crop.any():
        return [], dropped
    if field_fn is None:
        rings = trace_rings(crop.astype(np.float32), origin=(box[2], box[0]))
        rings = [Ring(straighten_staircase(r.xy), r.hole) for r in rings]
    else:
        rings = trace_rings(field_fn(box), origin=(box[2], box[0]))
        dropped += sum(1 for r in rings if r.area < options.min_area)
        rings = [r for r in rings if r.area >= options.min_area]
    outers = sorted((r for r in rings if not r.hole), key=lambda r: -r.area)
    holes = sorted((r for r in rings if r.hole), key=lambda r: -r.area)
    groups = [(o, []) for o in outers]
    for hole in holes:
        enclosing = [g for g in groups if _inside(hole.xy[0], g[0].xy)]
        if enclosing:  # the innermost enclosing outer ring owns the hole
            min(enclosing, key=lambda g: g[0].area)[1].append(hole)
    return groups, dropped


def _inside(p: np.ndarray, poly: np.ndarray) -> bool:
    """Even-odd ray cast of one point against a closed polygon."""
    a, b = poly, np.roll(poly, -1, axis=0)
    cond = (a[:, 1] > p[1]) != (b[:, 1] > p[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        x = a[:, 0] + (p[1] - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return bool(np.count_nonzero(cond & (p[0] < x)) % 2)


def ring_tolerance(tolerance: float, area: float) -> float:
    """The fit tolerance of a ring: ``tolerance`` from 400 px of area up, down to half of it at
    100 px and below, since half a pixel is a large part of a shape a few pixels wide."""
    return tolerance * float(np.clip(np.sqrt(area) / 20.0, 0.5, 1.0))


def fit_smoothed_rings(rings: list[Ring], options: VectorizeOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    """Smooth traced rings and fit them in one batch: [(points (N, 6), smoothed samples (M, 2))]."""
    # Never smooth a small ring away: sigma stays below a fraction of its size.
    sigmas = [min(options.smooth, np.sqrt(r.area) / 6.0) for r in rings]
    smoothed = [smooth_ring(r.xy, sigma) for r, sigma in zip(rings, sigmas)]
    corners = [find_corners(xy, options.corner_angle) for xy in smoothed]
    # What tracing (half a pixel) and smoothing (two sigmas) take off a corner.
    smoothed = [sharpen_corners(xy, c, 2 * sigma + 0.5) for xy, c, sigma in zip(smoothed, corners, sigmas)]
    # The fit sees every other sample (1 px apart; corners always kept): half the work, and a
    # cubic cannot stray between samples that close.
    sub, sub_corners = [], []
    for xy, c in zip(smoothed, corners):
        keep = np.zeros(len(xy), bool)
        keep[::2] = True
        keep[c] = True
        idx = np.flatnonzero(keep)
        sub.append(xy[idx])
        sub_corners.append(np.searchsorted(idx, c))
    fitted = fit_rings(sub, [ring_tolerance(options.tolerance, r.area) for r in rings], sub_corners)
    # A ring of a few pixels can come out of the fit folded over itself; it is drawn as the
    # straight polygon it was traced as instead, so every shape keeps its winding.
    for i, (pts, ring) in enumerate(zip(fitted, rings)):
        if (polygon_area(flatten(pts)) > 0) == ring.hole:
            fitted[i] = polygon_points(ring.xy)
    return list(zip(fitted, smoothed))


def polygon_points(xy: np.ndarray) -> np.ndarray:
    """A closed polygon as (N, 6) document points: straight segments, zero handles."""
    return np.hstack([xy, np.zeros((len(xy), 4))])


def fit_smoothed(ring: Ring, options: VectorizeOptions) -> tuple[np.ndarray, np.ndarray]:
    """Smooth a traced ring and fit it: returns (points (N, 6), smoothed samples (M, 2))."""
    return fit_smoothed_rings([ring], options)[0]


def vectorize_parsing(parsing: Parsing, options: VectorizeOptions = VectorizeOptions()) -> list[Contour]:
    """Every (person, part) region of one frame -> fitted contours (components and holes).

    Contours come per region (person, then part id), each component's outer boundary followed
    by its holes, components largest first. All rings of the frame are fitted in one batch.
    """
    names = get_label_set(parsing.label_set).parts
    found = []  # (person, part name, component, hole, Ring)
    specks = 0
    pad = PAD
    if parsing.part_logits is not None:  # the soft boundary may lie up to a logit cell outside
        pad += int(np.ceil(max(parsing.shape[0] / parsing.part_logits.shape[1],
                               parsing.shape[1] / parsing.part_logits.shape[2])))
    for person, part_id, mask in parsing.regions():
        field_fn = None
        if parsing.part_logits is not None:
            field_fn = lambda box, p=person, k=part_id, m=mask: region_field(parsing, p, k, m, box)  # noqa: E731
        groups, dropped = vectorize_region(mask, options, field_fn=field_fn, pad=pad)
        specks += dropped
        for component, (outer, holes) in enumerate(groups):
            found += [(person, names[part_id], component, j, ring) for j, ring in enumerate([outer, *holes])]
    fitted = fit_smoothed_rings([f[-1] for f in found], options)
    if specks:
        log.info("frame %d: dropped %d speck(s) smaller than %g px", parsing.frame, specks, options.min_area)
    return [Contour(person, part, component, hole, pts, xy, ring.area)
            for (person, part, component, hole, ring), (pts, xy) in zip(found, fitted)]
