"""Quality figures of fitted shapes against the masks they came from.

- ``iou``: the re-rasterized shapes (pixel-centre sampling, holes cut) against the mask.
- ``boundary_error``: symmetric distance (px) between the fitted curves and the mask's
  sub-pixel boundary (its 0.5 iso-line), both densified to 0.25 px: mean and 95th percentile.
- ``pixel_polygon_points``: the vertex count of the pixel-exact polygon of the same boundary
  (OpenCV's chain with collinear runs merged), the trivial reference for point counts.
"""

from __future__ import annotations

import numpy as np

from .bezier import flatten, rasterize


def iou(mask: np.ndarray, outers, holes=()) -> float:
    drawn = rasterize(outers, holes, mask.shape)
    union = np.count_nonzero(drawn | mask)
    return np.count_nonzero(drawn & mask) / union if union else 1.0


def densify(xy: np.ndarray, spacing: float = 0.25) -> np.ndarray:
    from .vectorize import resample_ring

    return resample_ring(xy, spacing)


def boundary_error(mask: np.ndarray, shapes) -> tuple[float, float]:
    """(mean, p95) symmetric distance in px between the shapes' curves and the mask's iso-line."""
    from scipy.spatial import cKDTree

    from .vectorize import trace_rings

    ref = [densify(r.xy) for r in trace_rings(mask.astype(np.float32))]
    fit = [densify(flatten(p, 0.02)) for p in shapes]
    if not ref or not fit:
        return float("nan"), float("nan")
    ref, fit = np.vstack(ref), np.vstack(fit)
    d = np.concatenate([cKDTree(ref).query(fit)[0], cKDTree(fit).query(ref)[0]])
    return float(d.mean()), float(np.percentile(d, 95))


def pixel_polygon_points(mask: np.ndarray) -> int:
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return int(sum(len(c) for c in contours))


def drop_specks(mask: np.ndarray, min_area: float) -> np.ndarray:
    """The mask as the vectorizer is asked to draw it: islands and holes below ``min_area`` gone."""
    import cv2

    out = mask.astype(np.uint8)
    for value, connectivity in ((1, 4), (0, 8)):  # islands, then holes (background components)
        n, labels, stats, _ = cv2.connectedComponentsWithStats((out == value).astype(np.uint8), connectivity=connectivity)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        if value == 0:  # a background component touching the border is outside, not a hole
            h, w = out.shape
            border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
            small = np.setdiff1d(small, border)
        small = small[small > 0] if value == 1 else small
        if len(small):
            out[np.isin(labels, small) & (out == value)] = 1 - value
    return out.astype(bool)


def region_quality(mask: np.ndarray, contours, min_area: float = 0.0) -> dict:
    """All figures for one region's fitted contours (``vectorize.Contour`` items).

    The reference is the mask without the specks below ``min_area`` that the vectorizer drops.
    """
    mask = drop_specks(mask, min_area) if min_area else mask
    outers = [c.points for c in contours if not c.hole]
    holes = [c.points for c in contours if c.hole]
    mean, p95 = boundary_error(mask, outers + holes)
    return {
        "area": int(np.count_nonzero(mask)),
        "iou": iou(mask, outers, holes),
        "boundary_mean": mean,
        "boundary_p95": p95,
        "points": int(sum(len(c.points) for c in contours)),
        "shapes": len(contours),
        "pixel_points": pixel_polygon_points(mask),
    }
