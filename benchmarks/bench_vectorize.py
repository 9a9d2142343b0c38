"""Single-frame vectorizer against potrace and the pixel polygon, on real label maps.

    .venv/bin/python benchmarks/bench_vectorize.py [--repeat 3] [--tolerance 0.5] [--smooth 0.4]

Data (read from ../shared/data, never copied): the 20 CIHP ground-truth images of
``cihp_train_slice`` (multi-person, 163x210 to 515x421) and the SCHP model outputs of
``schp_single`` (2000x1333, LIP / ATR / Pascal label sets).

Every method draws the same (person, part) regions; every region of at least ``min_area`` px is
scored by :mod:`m2fp_roto.qa.metrics` against the mask without the specks below ``min_area``:

- m2fp-roto: ``vectorize_parsing`` with the given options (all regions of a frame in one batch).
- potrace: the ``potracer`` package (pure-Python potrace, Selinger 2003) per region crop, with
  turdsize = min_area - 1, alphamax 1, and opttolerance 0.2 (potrace's default) or 0.5;
  its paths are converted to the document's point form (coordinates on pixel corners, which is
  image space already).
- pixel polygon: OpenCV's boundary-pixel-centre chain with collinear runs merged (zero
  handles), the trivial reference for both error and point count. Its IoU is low by
  construction: the centres of the boundary pixels lie on it, so sampling at pixel centres
  keeps about half of them.

Time is wall-clock per frame (best of ``--repeat``), excluding reading the images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from m2fp_roto.bezier import flatten
from m2fp_roto.geometry import polygon_area
from m2fp_roto.labelsets import get_label_set
from m2fp_roto.parsing import Parsing
from m2fp_roto.qa.metrics import drop_specks, shapes_quality, summarize
from m2fp_roto.sources.labelmaps import read_index_image
from m2fp_roto.vectorize import PAD, VectorizeOptions, polygon_points, vectorize_parsing

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def cihp_frames():
    root = DATA / "cihp_train_slice"
    for i, path in enumerate(sorted((root / "Category_ids").glob("*.png"))):
        parts = read_index_image(path).astype(np.uint8)
        people = read_index_image(root / "Human_ids" / path.name)
        yield Parsing(i, parts, np.where(parts > 0, people, 0).astype(np.int32), "cihp")


def schp_frames():
    for i, label_set in enumerate(("lip", "atr", "pascal")):
        parts = read_index_image(DATA / "schp_single" / f"demo_{label_set}.png").astype(np.uint8)
        yield Parsing(i, parts, (parts > 0).astype(np.int32), label_set)


def crop_box(mask):
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (max(ys.min() - PAD, 0), min(ys.max() + PAD + 1, h), max(xs.min() - PAD, 0), min(xs.max() + PAD + 1, w))


def potrace_points(curve) -> np.ndarray:
    """A potracer curve -> (N, 6) document points: CORNER segments give two sharp anchors."""
    anchors, first_out = [], None
    prev = np.array([curve.start_point.x, curve.start_point.y])
    for seg in curve.segments:
        end = np.array([seg.end_point.x, seg.end_point.y])
        if seg.is_corner:
            anchors += [np.r_[seg.c.x, seg.c.y, 0, 0, 0, 0], np.r_[end, 0, 0, 0, 0]]
        else:
            out = np.array([seg.c1.x, seg.c1.y]) - prev
            if anchors:
                anchors[-1][4:6] = out
            else:
                first_out = out
            anchors.append(np.r_[end, np.array([seg.c2.x, seg.c2.y]) - end, 0, 0])
        prev = end
    if first_out is not None:  # the path closes on its start, which is the last anchor
        anchors[-1][4:6] = first_out
    return np.array(anchors)


def trace_potrace(mask, min_area, opttolerance):
    import potrace

    y0, y1, x0, x1 = crop_box(mask)
    bitmap = potrace.Bitmap(~mask[y0:y1, x0:x1])  # potracer traces the dark (False) pixels
    outers, holes = [], []
    for curve in bitmap.trace(turdsize=max(int(min_area) - 1, 0), alphamax=1.0, opticurve=True,
                              opttolerance=opttolerance):
        pts = potrace_points(curve)
        pts[:, :2] += (x0, y0)
        (outers if polygon_area(flatten(pts)) > 0 else holes).append(pts)
    return outers, holes


def trace_pixel_polygon(mask, min_area):
    import cv2

    clean = drop_specks(mask, min_area).astype(np.uint8)
    contours, hierarchy = cv2.findContours(clean, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outers, holes = [], []
    for c, (_, _, _, parent) in zip(contours, hierarchy[0] if hierarchy is not None else []):
        (holes if parent >= 0 else outers).append(polygon_points(c[:, 0].astype(np.float64) + 0.5))
    return outers, holes


def best_time(fn, repeat):
    best, result = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run(frames, method, options, repeat):
    rows, times = [], []
    for parsing in frames:
        names = get_label_set(parsing.label_set).parts
        regions = [(r.person, r.part, r.frame_mask(parsing.shape)) for r in parsing.regions()]
        if method == "m2fp-roto":
            dt, contours = best_time(lambda: vectorize_parsing(parsing, options), repeat)
            shapes = {}
            for c in contours:
                shapes.setdefault((c.person, c.part), ([], []))[bool(c.hole)].append(c.points)
        else:
            def trace_all():
                out = {}
                for p, k, m in regions:
                    if method == "pixel polygon":
                        out[(p, names[k])] = trace_pixel_polygon(m, options.min_area)
                    else:
                        out[(p, names[k])] = trace_potrace(m, options.min_area, float(method.split()[-1]))
                return out
            dt, shapes = best_time(trace_all, repeat)
        times.append(dt)
        for p, k, m in regions:
            if np.count_nonzero(m) >= options.min_area:
                outers, holes = shapes.get((p, names[k]), ([], []))
                rows.append(shapes_quality(m, outers, holes, options.min_area))
    return summarize(rows), float(np.mean(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="time each frame this many times, keep the best")
    ap.add_argument("--tolerance", type=float, default=VectorizeOptions.tolerance)
    ap.add_argument("--smooth", type=float, default=VectorizeOptions.smooth)
    ap.add_argument("--min-area", type=float, default=VectorizeOptions.min_area)
    args = ap.parse_args(argv)
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    options = VectorizeOptions(tolerance=args.tolerance, smooth=args.smooth, min_area=args.min_area)
    print(f"m2fp-roto options: {options}")
    header = (f"{'data':<14} {'method':<22} {'regions':>7} {'ms/frame':>9} {'pts/shape':>9} {'pts/pixel':>9} "
              f"{'IoU':>7} {'err mean':>8} {'err p95':>8}")
    print(header)
    print("-" * len(header))
    methods = ["m2fp-roto", "potrace opttol 0.2", "potrace opttol 0.5", "pixel polygon"]
    for data, frames in (("CIHP 20", cihp_frames), ("SCHP 2000x1333", schp_frames)):
        for method in methods:
            s, t = run(list(frames()), method, options, args.repeat if not method.startswith("potrace") else 1)
            print(f"{data:<14} {method:<22} {s['regions']:>7} {1000 * t:>9.1f} {s['points_per_shape']:>9.1f} "
                  f"{s['points_ratio']:>9.3f} {s['iou']:>7.4f} {s['boundary_mean']:>8.3f} {s['boundary_p95']:>8.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
