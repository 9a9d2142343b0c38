"""Quality figures of fitted shapes against the masks they came from.

- ``iou``: the re-rasterized shapes (pixel-centre sampling, holes cut) against the mask.
- ``boundary_error``: symmetric distance (px) between the fitted curves and the mask's
  sub-pixel boundary (its 0.5 iso-line), both densified to 0.25 px: mean and 95th percentile.
- ``pixel_polygon_points``: the vertex count of the pixel-exact polygon of the same boundary
  (OpenCV's chain with collinear runs merged), the trivial reference for point counts.
"""

from __future__ import annotations

import numpy as np

from ..bezier import flatten, rasterize
from ..geometry import resample_ring
from ..labelsets import get_label_set
from ..vectorize import remove_specks, trace_rings


def iou(mask: np.ndarray, outers, holes=()) -> float:
    drawn = rasterize(outers, holes, mask.shape)
    union = np.count_nonzero(drawn | mask)
    return np.count_nonzero(drawn & mask) / union if union else 1.0


def densify(xy: np.ndarray, spacing: float = 0.25) -> np.ndarray:
    return resample_ring(xy, spacing)


def boundary_error(mask: np.ndarray, shapes) -> tuple[float, float]:
    """(mean, p95) symmetric distance in px between the shapes' curves and the mask's iso-line."""
    from scipy.spatial import cKDTree

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
    return remove_specks(mask, min_area)[0]


def region_quality(mask: np.ndarray, contours, min_area: float = 0.0) -> dict:
    """All figures for one region's fitted contours (``vectorize.Contour`` items).

    The reference is the mask without the specks below ``min_area`` that the vectorizer drops.
    """
    outers = [c.points for c in contours if not c.hole]
    holes = [c.points for c in contours if c.hole]
    return shapes_quality(mask, outers, holes, min_area)


def shapes_quality(mask: np.ndarray, outers, holes=(), min_area: float = 0.0) -> dict:
    """``region_quality`` for shapes given as (N, 6) point arrays, from any vectorizer."""
    mask = drop_specks(mask, min_area) if min_area else mask
    outers, holes = list(outers), list(holes)
    mean, p95 = boundary_error(mask, outers + holes)
    return {
        "area": int(np.count_nonzero(mask)),
        "iou": iou(mask, outers, holes),
        "boundary_mean": mean,
        "boundary_p95": p95,
        "points": int(sum(len(p) for p in outers + holes)),
        "shapes": len(outers) + len(holes),
        "pixel_points": pixel_polygon_points(mask),
    }


def frame_quality(parsing, contours, min_area: float = 0.0) -> list[dict]:
    """``region_quality`` of every (person, part) region of a ``Parsing`` with at least
    ``min_area`` pixels, against the contours ``vectorize_parsing`` fitted to it.

    Each row also names its ``person`` and ``part``.
    """
    names = get_label_set(parsing.label_set).parts
    by_region: dict[tuple[int, str], list] = {}
    for c in contours:
        by_region.setdefault((c.person, c.part), []).append(c)
    rows = []
    for region in parsing.regions():
        if np.count_nonzero(region.mask) < min_area:
            continue
        name = names[region.part]
        row = region_quality(region.frame_mask(parsing.shape), by_region.get((region.person, name), []), min_area)
        rows.append({"person": region.person, "part": name, **row})
    return rows


def summarize(rows) -> dict:
    """Means over regions: IoU, boundary error (mean, p95), points relative to the pixel polygon."""
    rows = list(rows)
    if not rows:
        return {"regions": 0}
    col = {k: np.array([r[k] for r in rows], np.float64) for k in rows[0] if k not in ("person", "part")}
    return {
        "regions": len(rows),
        "iou": float(col["iou"].mean()),
        "boundary_mean": float(np.nanmean(col["boundary_mean"])),
        "boundary_p95": float(np.nanmean(col["boundary_p95"])),
        "points_ratio": float(np.mean(col["points"] / np.maximum(col["pixel_points"], 1))),
        "points_per_shape": float(col["points"].sum() / max(col["shapes"].sum(), 1)),
    }
