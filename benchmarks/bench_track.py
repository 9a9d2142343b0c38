"""Tracking speed and quality on real mattes: one table.

    .venv/bin/python benchmarks/bench_track.py [--smoothing S] [--key-tolerance K]

For each DAVIS sequence in ../shared/data/davis (whole-person masks, label set ``matte``):
vectorize and track times per frame, the median and minimum per-frame IoU of the tracked,
smoothed, key-reduced shapes against each frame's mask, the share of shapes with a constant
point count, jitter (mean |second difference| of every point's path, px/frame^2) against the
naive baseline (each frame's outline resampled to 32 points from angle 0), and keys per frame
of the longest shape and on average over all shapes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from m2fp_roto.labelmaps import LabelMapSource
from m2fp_roto.pipeline import vectorize_source
from m2fp_roto.track import TrackOptions, track_contours
from m2fp_roto.track_metrics import (constant_counts, frame_iou, jitter, key_ratio, naive_outline_paths,
                                     path_jitter)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis" / "Annotations"


def measure(name: str, options: TrackOptions) -> dict:
    source = LabelMapSource(str(DATA / name / "#####.png"), label_set="matte")
    n = len(source.frames)
    t0 = time.perf_counter()
    per_frame = vectorize_source(source)
    t1 = time.perf_counter()
    shapes = track_contours(per_frame, options)
    t2 = time.perf_counter()
    masks = [source.parse(f).parts > 0 for f in source.frames]
    ious = [frame_iou(shapes, f, m) for f, m in zip(source.frames, masks)]
    main = max(shapes, key=lambda s: s.frames[1] - s.frames[0])
    return {
        "sequence": name, "frames": n, "shapes": len(shapes),
        "vec ms/f": 1000 * (t1 - t0) / n, "track ms/f": 1000 * (t2 - t1) / n,
        "IoU med": float(np.median(ious)), "IoU min": float(np.min(ious)),
        "const N": constant_counts(shapes), "N main": main.n_points,
        "jitter": jitter(shapes), "naive": float(path_jitter(naive_outline_paths(masks, 32)).mean()),
        "keys main": key_ratio(main), "keys mean": float(np.mean([key_ratio(s) for s in shapes])),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoothing", type=float, default=TrackOptions.smoothing)
    parser.add_argument("--key-tolerance", type=float, default=TrackOptions.key_tolerance)
    parser.add_argument("--sequences", default="lucia,dance-twirl,hike,breakdance")
    args = parser.parse_args()
    options = TrackOptions(smoothing=args.smoothing, key_tolerance=args.key_tolerance)
    names = [s for s in args.sequences.split(",") if (DATA / s).is_dir()]
    if not names:
        raise SystemExit(f"no DAVIS sequences under {DATA}")
    rows = [measure(n, options) for n in names]
    cols = list(rows[0])
    print(f"smoothing {options.smoothing}, key tolerance {options.key_tolerance} px ({options.key_measure})")
    print(" | ".join(f"{c:>11}" for c in cols))
    for r in rows:
        cells = [f"{v:11.3f}" if isinstance(v, float) else f"{v!s:>11}" for v in r.values()]
        print(" | ".join(cells))
    print("jitter/naive: " + ", ".join(f"{r['sequence']} {r['jitter'] / r['naive']:.3f}" for r in rows))


if __name__ == "__main__":
    main()
