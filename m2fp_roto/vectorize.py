"""Regions of a parsed frame -> closed cubic Bezier shapes (outer boundaries and holes).

The stages, per (person, part) region:

1. ``trace_rings`` - the sub-pixel 0.5 iso-line of the region (marching squares on a crop; on
   the soft part margin when the parser kept logits), split into outer rings and holes, after
   ``remove_specks`` drops islands and holes below ``min_area`` px. On hard labels,
   ``straighten_staircase`` replaces every staircase step by its midpoint. This stage lives in
   :mod:`m2fp_roto.trace` (all regions of a frame are traced in one batch).
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
from functools import partial

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .bezier import flatten
from .fitting import CORNER_ANGLE, find_corners, fit_rings
from .geometry import polygon_area, resample_ring
from .labelsets import get_label_set
from .parsing import Parsing, Region
from .trace import (  # noqa: F401 (trace_rings, straighten_staircase, remove_specks: the vectorizer's API)
    Ring,
    padded_crop,
    region_field,
    remove_specks,
    straighten_staircase,
    trace_regions,
    trace_rings,
)

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
class Contour:
    """One fitted shape of one frame, before tracking gives it a lifetime."""

    person: int
    part: str
    component: int
    hole: int  # 0 for an outer boundary, j >= 1 for the j-th hole of its component
    points: np.ndarray  # (N, 6) document points
    ring: np.ndarray  # (M, 2) smoothed boundary samples it was fitted to (tracking snaps to them)
    area: float


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
    spans = np.minimum(int(reach / spacing), room - r)
    sides = np.array([-1, 1])
    for span in np.unique(spans[spans * spacing >= 3.0]):  # shorter: too little side to fit a line to
        at = corners[spans == span]
        # both sides' samples of every corner with this span: (corner, side, sample, xy)
        pts = xy[(at[:, None, None] + sides[None, :, None] * np.arange(r, r + span + 1)) % m]
        centre = pts.mean(axis=2)
        direction = np.linalg.svd(pts - centre[:, :, None], full_matrices=False)[2][:, :, 0]
        rel = pts - centre[:, :, None]
        off = np.abs(rel[..., 0] * -direction[:, :, None, 1] + rel[..., 1] * direction[:, :, None, 0])
        straight_sides = (off.max(axis=2) <= straight).all(axis=1)  # a curved side would misplace it
        (pa, pb), (da, db) = centre.transpose(1, 0, 2), direction.transpose(1, 0, 2)
        cross = da[:, 0] * db[:, 1] - da[:, 1] * db[:, 0]
        apart = np.abs(cross) >= np.sin(np.radians(20))
        t = ((pb - pa)[:, 0] * db[:, 1] - (pb - pa)[:, 1] * db[:, 0]) / np.where(apart, cross, 1.0)
        x = pa + t[:, None] * da
        near = np.hypot(*(x - xy[at]).T) <= rounding + 0.5
        for i in np.flatnonzero(straight_sides & apart & near):
            c = at[i]
            for side, p0, d in zip(sides, centre[i], direction[i]):
                idx = (c + side * np.arange(1, r)) % m
                out[idx] = p0 + ((xy[idx] - p0) @ d)[:, None] * d
            out[c] = x[i]
    return out


def vectorize_region(mask: np.ndarray, options: VectorizeOptions = VectorizeOptions(), *,
                     field_fn=None, pad: int = PAD, box=None, frame_shape=None
                     ) -> tuple[list[tuple[Ring, list[Ring]]], int]:
    """Trace one region's mask into outer rings, each with its holes (not yet smoothed).

    Returns ``([(outer, [holes...]), ...] largest first, number of specks dropped)``. Islands
    and holes of fewer than ``options.min_area`` pixels are specks (see ``remove_specks``).
    ``mask`` is the whole frame, or with ``box`` (``(y0, y1, x0, x1)``) the crop of a frame of
    ``frame_shape`` that holds every pixel of the region (a :class:`~m2fp_roto.parsing.Region`).
    ``field_fn(box, crop) -> field`` replaces the hard mask ``crop`` on ``box`` (soft logits);
    its rings are filtered by enclosed area instead, and ``pad`` px around the mask's bounding
    box leave room for a soft boundary that lies outside the hard one.
    """
    prepared = padded_crop(mask, pad, box, frame_shape)
    if prepared is None:
        return [], 0
    crop, padded = prepared
    ((rings, dropped),) = trace_regions([crop], [padded], [field_fn], options.min_area)
    return _group_rings(rings, field_fn is not None, options, dropped)


def _group_rings(rings: list[Ring], soft: bool, options: VectorizeOptions, dropped: int):
    """Traced (and, on hard masks, straightened) rings -> ``([(outer, [holes...]), ...]
    largest first, specks dropped)``."""
    if soft:
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
    for i in folded(fitted, [ring.hole for ring in rings]):
        fitted[i] = polygon_points(rings[i].xy)
    return list(zip(fitted, smoothed))


def folded(shapes: list[np.ndarray], holes: list[bool], tolerance: float = 0.05) -> list[int]:
    """Indices of the shapes whose outline, flattened (``bezier.flatten`` at ``tolerance``),
    winds the wrong way: ``(polygon_area(flatten(points, tolerance)) > 0) == hole``.

    The closed-form area of the Bezier curve decides wherever it is further from zero than the
    flattening can move it (twice the error bound: each chord strays at most ``eps`` from its
    arc, so the areas differ by at most ``2 eps L + chords pi eps**2``); only the shapes near
    zero area are flattened.
    """
    if not shapes:
        return []
    counts = np.array([len(p) for p in shapes])
    points = np.concatenate(shapes)
    ends = np.cumsum(counts) - 1
    nxt = np.arange(len(points)) + 1
    nxt[ends] = ends - counts + 1
    p0, p3 = points[:, :2], points[nxt, :2]
    p1, p2 = p0 + points[:, 4:6], p3 + points[nxt, 2:4]

    def cross(a, b):
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]

    starts = ends - counts + 1
    area = np.add.reduceat(6 * cross(p0, p1) + 3 * cross(p0, p2) + cross(p0, p3) + 3 * cross(p1, p2)
                           + 3 * cross(p1, p3) + 6 * cross(p2, p3), starts) / 20
    # flatten's step count and chord error per shape (its d2 is a per-component maximum)
    d2 = np.maximum.reduceat(np.maximum(np.abs(p0 - 2 * p1 + p2), np.abs(p1 - 2 * p2 + p3)).max(1), starts)
    steps = np.clip(np.ceil(np.sqrt(6 * d2 / (8 * max(tolerance, 1e-3)))), 4, 256)
    eps = 0.75 * np.sqrt(2) * d2 / steps**2
    length = np.add.reduceat(np.hypot(*(p1 - p0).T) + np.hypot(*(p2 - p1).T) + np.hypot(*(p3 - p2).T), starts)
    slack = 2 * (2 * eps * length + counts * steps * np.pi * eps**2) + 1e-9
    out = []
    for i, (a, s, hole) in enumerate(zip(area, slack, holes)):
        if abs(a) > s:
            wrong = (a > 0) == hole
        else:
            wrong = (polygon_area(flatten(shapes[i], tolerance)) > 0) == hole
        if wrong:
            out.append(i)
    return out


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
    pad = PAD
    if parsing.part_logits is not None:  # the soft boundary may lie up to a logit cell outside
        pad += int(np.ceil(max(parsing.shape[0] / parsing.part_logits.shape[1],
                               parsing.shape[1] / parsing.part_logits.shape[2])))
    regions, crops, boxes, field_fns = [], [], [], []
    for region in parsing.regions():
        prepared = padded_crop(region.mask, pad, region.box, parsing.shape)
        if prepared is None:
            continue
        regions.append(region)
        crops.append(prepared[0])
        boxes.append(prepared[1])
        field_fns.append(None if parsing.part_logits is None else partial(_soft_field, parsing, region))
    found, specks = [], 0  # found: (person, part name, component, hole, Ring)
    for region, fn, (rings, dropped) in zip(regions, field_fns, trace_regions(crops, boxes, field_fns, options.min_area)):
        groups, dropped = _group_rings(rings, fn is not None, options, dropped)
        specks += dropped
        for component, (outer, holes) in enumerate(groups):
            found += [(region.person, names[region.part], component, j, ring)
                      for j, ring in enumerate([outer, *holes])]
    fitted = fit_smoothed_rings([f[-1] for f in found], options)
    if specks:
        log.info("frame %d: dropped %d speck(s) smaller than %g px", parsing.frame, specks, options.min_area)
    return [Contour(person, part, component, hole, pts, xy, ring.area)
            for (person, part, component, hole, ring), (pts, xy) in zip(found, fitted)]


def _soft_field(parsing: Parsing, region: Region, box, crop) -> np.ndarray:
    return region_field(parsing, region.person, region.part, crop, box)
