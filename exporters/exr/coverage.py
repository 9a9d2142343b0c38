"""Anti-aliased coverage of roto shapes: the exact area of each pixel that a shape covers.

A shape is flattened to a polyline (``m2fp_roto.bezier.flatten``) and rasterised with the
signed-area accumulation method of scanline font renderers (libart, FreeType's "smooth"
rasteriser, font-rs): every edge is cut at the pixel grid, each piece adds its signed height
``dy`` to a buffer, split between its own cell (the part of the cell right of the piece) and
the next cell, and a running sum along each row turns the buffer into the winding number
integrated over every pixel. That is the exact covered area of a simple polygon, with no
sampling noise, and it is vectorised over edge pieces (no per-pixel Python).

Coverage lives in :class:`Tile` objects, a crop of the frame plus its offset, so a small shape
costs only its bounding box. How a part's shapes combine (what the roto draws):

- a shape's own coverage is ``min(|integrated winding|, 1)``, so either orientation fills;
- a hole (``hole=True``) is subtracted from the shape named by its ``parent``, clamped at 0
  (it cuts nothing else, as in the Nuke target's ``minus`` stacking);
- the part is the clamped sum of its shapes, which is the exact union where shapes are
  disjoint or where at most one of them has an edge inside a pixel.

>>> import numpy as np
>>> square = np.array([[1.5, 1.5, 0, 0, 0, 0], [4.5, 1.5, 0, 0, 0, 0],
...                    [4.5, 3.5, 0, 0, 0, 0], [1.5, 3.5, 0, 0, 0, 0]])
>>> float(bezier_coverage(square, (6, 6)).to_array((6, 6)).sum())
6.0
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from m2fp_roto.bezier import flatten

#: Coverage below this is float noise of the running sums (a true sliver is far larger).
EPSILON = 1e-6


@dataclass
class Tile:
    """Coverage on the crop ``[y0, y0 + h) x [x0, x0 + w)`` of a frame; zero elsewhere."""

    y0: int
    x0: int
    data: np.ndarray  # (h, w) float32 in [0, 1]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)``, end-exclusive."""
        return self.y0, self.x0, self.y0 + self.data.shape[0], self.x0 + self.data.shape[1]

    def to_array(self, shape) -> np.ndarray:
        """The tile pasted into a zero (H, W) float32 frame."""
        out = np.zeros(shape, np.float32)
        self.paste(out)
        return out

    def paste(self, out: np.ndarray, origin=(0, 0)) -> None:
        """Write the tile into ``out`` (cast to its dtype), whose pixel (0, 0) is frame pixel
        ``origin`` (y, x)."""
        out[self.slices(origin)] = self.data

    def slices(self, origin=(0, 0)) -> tuple[slice, slice]:
        """Where the tile lies in an array whose pixel (0, 0) is frame pixel ``origin`` (y, x)."""
        y, x = self.y0 - origin[0], self.x0 - origin[1]
        h, w = self.data.shape
        return slice(y, y + h), slice(x, x + w)


def _trim(y0: int, x0: int, data: np.ndarray) -> Tile | None:
    """Clean float noise, then shrink to the bounding box of the non-zero pixels (None if empty)."""
    data = np.where(data > EPSILON, np.minimum(data, 1.0), 0.0).astype(np.float32)
    rows = np.flatnonzero(data.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(data.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Tile(y0 + int(r0), x0 + int(c0), np.ascontiguousarray(data[r0:r1, c0:c1]))


def _grid_params(lo, hi, n, a, b):
    """Edge parameters t in (0, 1) where the edges a->b cross integer lines 0..n strictly inside."""
    first = np.maximum(np.floor(lo) + 1, 0)
    last = np.minimum(np.ceil(hi) - 1, n)
    count = np.maximum(last - first + 1, 0).astype(np.int64)
    edge = np.repeat(np.arange(len(a)), count)
    line = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + first[edge]
    return edge, (line - a[edge]) / (b[edge] - a[edge])


def polygon_coverage(xy, shape) -> Tile | None:
    """Exact area coverage of a closed polyline inside a frame of ``shape`` (H, W).

    Returns the coverage ``min(|winding number integrated over each pixel|, 1)`` cropped to
    the pixels it touches, or None when nothing inside the frame is covered.
    """
    h, w = shape
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(xy) < 3 or not np.isfinite(xy).all():
        return None
    (xmin, ymin), (xmax, ymax) = xy.min(axis=0), xy.max(axis=0)
    r0, r1 = max(int(np.floor(ymin)), 0), min(int(np.ceil(ymax)), h)
    c0, c1 = max(int(np.floor(xmin)), 0), min(int(np.ceil(xmax)), w)
    if r0 >= r1 or c0 >= c1:
        return None
    rows, cols = r1 - r0, c1 - c0
    a = xy - (c0, r0)
    b = np.roll(a, -1, axis=0)
    keep = a[:, 1] != b[:, 1]  # horizontal edges add no height
    a, b = a[keep], b[keep]
    if not len(a):
        return None
    # Cut every edge where it crosses a grid line inside the crop: each piece then lies in one
    # cell (or wholly left/right/above/below the crop, where only its height matters).
    ex, tx = _grid_params(np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0]), cols, a[:, 0], b[:, 0])
    ey, ty = _grid_params(np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1]), rows, a[:, 1], b[:, 1])
    n = len(a)
    edge = np.concatenate([np.arange(n), np.arange(n), ex, ey])
    t = np.concatenate([np.zeros(n), np.ones(n), tx, ty])
    order = np.lexsort((t, edge))
    edge, t = edge[order], t[order]
    same = edge[:-1] == edge[1:]
    e, ta, tb = edge[:-1][same], t[:-1][same], t[1:][same]
    d = b[e] - a[e]
    pa = a[e] + ta[:, None] * d
    pb = a[e] + tb[:, None] * d
    dy = pb[:, 1] - pa[:, 1]
    xm = np.clip(0.5 * (pa[:, 0] + pb[:, 0]), 0.0, cols)  # left of the crop: winds whole rows
    row = np.floor(0.5 * (pa[:, 1] + pb[:, 1])).astype(np.int64)
    inside = (row >= 0) & (row < rows) & (dy != 0)
    xm, row, dy = xm[inside], row[inside], dy[inside]
    col = np.minimum(np.floor(xm).astype(np.int64), cols)
    frac = xm - col
    stride = cols + 2
    idx = row * stride + col
    size = rows * stride
    acc = (np.bincount(idx, dy * (1.0 - frac), minlength=size)[:size]
           + np.bincount(idx + 1, dy * frac, minlength=size + 1)[:size])
    cov = np.abs(np.cumsum(acc.reshape(rows, stride), axis=1)[:, :cols])
    return _trim(r0, c0, cov)


def bezier_coverage(points, shape, tolerance: float = 0.05) -> Tile | None:
    """Coverage of one closed Bezier shape given as (N, 6) document points."""
    return polygon_coverage(flatten(points, tolerance), shape)


def _combine(tiles, weights) -> Tile | None:
    """``clip(sum(weight * tile), 0, 1)`` over the union of the tiles' boxes."""
    pairs = [(t, wt) for t, wt in zip(tiles, weights) if t is not None]
    if not pairs:
        return None
    if len(pairs) == 1 and pairs[0][1] == 1.0:  # a tile is clean and tight already
        return pairs[0][0]
    boxes = np.array([t.bbox for t, _ in pairs])
    y0, x0 = boxes[:, :2].min(axis=0)
    y1, x1 = boxes[:, 2:].max(axis=0)
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    for t, wt in pairs:
        out[t.slices((y0, x0))] += wt * t.data
    return _trim(int(y0), int(x0), np.clip(out, 0.0, 1.0))


def region_coverage(outers, holes=(), shape=None, tolerance: float = 0.05) -> Tile | None:
    """Union of ``outers`` with ``holes`` cut out of that union; each item is (N, 6) points."""
    union = _combine([bezier_coverage(p, shape, tolerance) for p in outers], [1.0] * len(outers))
    if union is None or not len(holes):
        return union
    cut = [bezier_coverage(p, shape, tolerance) for p in holes]
    return _combine([union, *cut], [1.0] + [-1.0] * len(cut))


def shapes_coverage(shapes, frame: int, shape, tolerance: float = 0.05) -> Tile | None:
    """What the roto draws for ``shapes`` (document Shapes) at ``frame``.

    Only shapes alive at ``frame`` count. Each hole is cut from its parent shape only; a hole
    whose parent is not among the live ``shapes`` cuts nothing, as in the Nuke target.
    """
    alive = [s for s in shapes if s.alive(frame)]
    holes_of = defaultdict(list)
    for s in alive:
        if s.hole:
            holes_of[s.parent].append(s.points_at(frame))
    pieces = []
    for s in alive:
        if not s.hole:
            own = s.points_at(frame)
            pieces.append(region_coverage([own], holes_of[s.name], shape, tolerance) if holes_of[s.name]
                          else bezier_coverage(own, shape, tolerance))
    return _combine(pieces, [1.0] * len(pieces))


def part_coverages(doc, frame: int, tolerance: float = 0.05) -> dict[tuple[int, str], Tile | None]:
    """Coverage of every (person, part) of ``doc`` at ``frame``, in document order.

    Every (person, part) that has a shape anywhere in the document gets an entry, None when
    none of its shapes is alive or visible at ``frame``, so the set of keys is the same on
    every frame.
    """
    groups: dict[tuple[int, str], list] = {}
    for s in doc.shapes:
        groups.setdefault((s.person, s.part), []).append(s)
    size = (doc.height, doc.width)
    return {key: shapes_coverage(group, frame, size, tolerance) for key, group in groups.items()}


__all__ = ["EPSILON", "Tile", "polygon_coverage", "bezier_coverage", "region_coverage",
           "shapes_coverage", "part_coverages"]
