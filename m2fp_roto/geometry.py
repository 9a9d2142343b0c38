"""Closed polylines in image space: signed area, arc-length resampling, unit vectors.

Image space is y down, so a positive shoelace area means clockwise on screen (the winding of
outer shapes; holes wind the other way).
"""

from __future__ import annotations

import numpy as np


def polygon_area(xy: np.ndarray) -> float:
    """Signed shoelace area; positive for clockwise on screen (image space, y down)."""
    x, y = xy[:, 0], xy[:, 1]
    x1, y1 = np.concatenate((x[1:], x[:1])), np.concatenate((y[1:], y[:1]))  # np.roll(-1), faster
    return 0.5 * float(np.dot(x, y1) - np.dot(x1, y))


def ring_length(xy: np.ndarray) -> float:
    """Length of the closed polyline ``xy``, its closing segment included."""
    return float(np.linalg.norm(np.diff(xy, axis=0, append=xy[:1]), axis=1).sum())


def resample_ring(xy: np.ndarray, spacing: float = 0.5, count: int | None = None) -> np.ndarray:
    """Uniform arc-length samples of a closed polyline, from its first point on.

    ``count`` samples if given, else one every ``spacing`` px (at least 8).
    """
    closed = np.vstack([xy, xy[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = count if count is not None else max(int(np.ceil(s[-1] / spacing)), 8)
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` (..., D) scaled to unit length along its last axis; zero vectors stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-12)


def bridge_rings(a: np.ndarray, b: np.ndarray, width: float = 1.0, spacing: float = 0.5) -> np.ndarray:
    """One outer ring around rings ``a`` and ``b`` (outer boundaries, image space) and a
    corridor ``width`` px wide joining them where they are closest, resampled every ``spacing``
    px from the sample nearest ``a``'s first; ``a`` itself when the union is not one piece.

    A part seen split for a frame or two (a wrist hidden, a limb touching the frame edge) keeps
    one outline: the corridor costs a sliver of area, a new shape would cost an artist a shape.
    """
    from scipy.spatial import cKDTree
    from shapely.geometry import LineString, Polygon

    p, q, gap = closest_pair(a, b)
    # The corridor reaches ``width`` px into both rings: ending exactly on them, it would touch
    # each at one point and the union would stay in pieces.
    step = unit(q - p) * width if gap > 0 else np.zeros(2)
    corridor = LineString([p - step, q + step]).buffer(width / 2.0, cap_style="flat")
    union = Polygon(a).buffer(0).union(Polygon(b).buffer(0)).union(corridor)
    if union.geom_type != "Polygon":
        return a
    xy = np.asarray(union.exterior.coords)[:-1]
    if polygon_area(xy) < 0:  # outer rings wind clockwise on screen
        xy = xy[::-1]
    xy = np.roll(xy, -int(cKDTree(xy).query(a[0])[1]), axis=0)
    return resample_ring(xy, spacing)


def closest_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(the sample of ``a``, the sample of ``b``) closest to each other, and their distance."""
    from scipy.spatial import cKDTree

    d, j = cKDTree(a).query(b)
    k = int(np.argmin(d))
    return a[j[k]], b[k], float(d[k])


def simple_ring(xy: np.ndarray, spacing: float = 0.5) -> np.ndarray:
    """``xy`` itself when it is a simple closed ring; otherwise the outline of the region it
    encloses, resampled every ``spacing`` px, in its winding, from the sample nearest its first.

    A traced boundary can touch itself where two lobes of a mask meet at one pixel corner,
    and smoothing then folds it over; no curve that follows such a ring is simple. Lobes that
    only touch are joined by closing the region a quarter pixel.
    """
    from scipy.spatial import cKDTree
    from shapely.geometry import LinearRing, Polygon

    if len(xy) < 4 or LinearRing(xy).is_simple:
        return xy
    region = Polygon(xy).buffer(0)
    if region.geom_type != "Polygon":
        region = region.buffer(0.25).buffer(-0.25)
    if region.geom_type != "Polygon":
        region = max(region.geoms, key=lambda g: g.area)
    out = np.asarray(region.exterior.coords)[:-1]
    if (polygon_area(out) > 0) != (polygon_area(xy) > 0):
        out = out[::-1]
    out = resample_ring(np.roll(out, -int(cKDTree(out).query(xy[0])[1]), axis=0), spacing)
    return out if LinearRing(out).is_simple else xy
