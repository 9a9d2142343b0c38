"""Tracking speed and quality on real mattes: one table.

    .venv/bin/python benchmarks/bench_track.py [--smoothing S] [--key-tolerance K]

For each DAVIS sequence in ../shared/data/davis (whole-person masks, label set ``matte``):
vectorize and track times per frame, the median and minimum per-frame IoU of the tracked,
smoothed, key-reduced shapes against each frame's mask, the share of shapes with a constant
point count, jitter (mean |second difference| of every point's path, px/frame^2) against the
naive baseline (each frame's outline resampled to 32 points from angle 0), keys per frame
of the longest shape and on average over all shapes, the share of anchors stacked on the next
one (within 0.5 px) and the share of shape-frames whose outline folds into a loop (> 4 px^2).

A second table shows what keys cost in fit, from one track kept on every frame: keys reduced
at several tolerances, and keys every h frames regardless of error (h = 2.5 is 40 % of frames),
each with the median IoU of the interpolated shapes against the masks.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from m2fp_roto.pipeline import vectorize_source
from m2fp_roto.qa.track_metrics import (
    constant_counts,
    frame_iou,
    jitter,
    key_ratio,
    looped_frames,
    naive_outline_paths,
    path_jitter,
    stacked_anchors,
)
from m2fp_roto.sources.labelmaps import LabelMapSource
from m2fp_roto.tracking.keys import reduce_keys
from m2fp_roto.tracking.track import TrackOptions, track_contours

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis" / "Annotations"


TOLERANCES = (0.5, 1.0, 2.0, 4.0)
SPACINGS = (2.0, 2.5, 3.0, 4.0)


def load(name: str):
    source = LabelMapSource(str(DATA / name / "#####.png"), label_set="matte")
    return source, {f: source.parse(f).parts > 0 for f in source.frames}


def longest(shapes):
    return max(shapes, key=lambda s: s.frames[1] - s.frames[0])


def median_iou(shapes, masks: dict) -> float:
    return float(np.median([frame_iou(shapes, f, m) for f, m in masks.items()]))


def measure(name: str, options: TrackOptions) -> dict:
    source, masks = load(name)
    n = len(source.frames)
    t0 = time.perf_counter()
    per_frame = vectorize_source(source)
    t1 = time.perf_counter()
    shapes = track_contours(per_frame, options)
    t2 = time.perf_counter()
    ious = [frame_iou(shapes, f, m) for f, m in masks.items()]
    main = longest(shapes)
    return {
        "sequence": name, "frames": n, "shapes": len(shapes),
        "vec ms/f": 1000 * (t1 - t0) / n, "track ms/f": 1000 * (t2 - t1) / n,
        "IoU med": float(np.median(ious)), "IoU min": float(np.min(ious)),
        "const N": constant_counts(shapes), "N main": main.n_points,
        "jitter": jitter(shapes),
        "naive": float(path_jitter(naive_outline_paths(list(masks.values()), 32)).mean()),
        "keys main": key_ratio(main), "keys mean": float(np.mean([key_ratio(s) for s in shapes])),
        "stacked": stacked_anchors(shapes), "loops": looped_frames(shapes),
    }


def rekeyed(shapes, pick):
    """``shapes`` (keyed on every frame) keeping only the keys ``pick(points (F, N, 6))`` indexes."""
    return [dataclasses.replace(s, keys=[s.keys[i] for i in pick(np.stack([k.points for k in s.keys]))])
            for s in shapes]


def every(h: float):
    return lambda points: sorted({*np.round(np.arange(0, len(points) - 1, h)).astype(int).tolist(), len(points) - 1})


def trade_off(name: str, options: TrackOptions) -> dict:
    """Keys (share of frames, longest shape) and median IoU per key tolerance and per key spacing."""
    source, masks = load(name)
    dense = track_contours(vectorize_source(source), dataclasses.replace(options, key_tolerance=0.0))
    row = {"sequence": name, "every frame": f"1.00 {median_iou(dense, masks):.3f}"}
    for tol in TOLERANCES:
        shapes = rekeyed(dense, lambda p, tol=tol: reduce_keys(p, tol, options.key_measure))
        row[f"tol {tol:g} px"] = f"{key_ratio(longest(shapes)):.2f} {median_iou(shapes, masks):.3f}"
    for h in SPACINGS:
        shapes = rekeyed(dense, every(h))
        row[f"every {h:g}"] = f"{key_ratio(longest(shapes)):.2f} {median_iou(shapes, masks):.3f}"
    return row


def print_table(rows: list[dict]):
    print(" | ".join(f"{c:>11}" for c in rows[0]))
    for r in rows:
        cells = [f"{v:11.3f}" if isinstance(v, float) else f"{v!s:>11}" for v in r.values()]
        print(" | ".join(cells))


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
    print(f"smoothing {options.smoothing}, key tolerance {options.key_tolerance} px ({options.key_measure})")
    print_table(rows)
    print("jitter/naive: " + ", ".join(f"{r['sequence']} {r['jitter'] / r['naive']:.3f}" for r in rows))
    print("\nkeys (share of frames, longest shape) and median IoU: reduced at a tolerance, or every h frames")
    print_table([trade_off(n, options) for n in names])


if __name__ == "__main__":
    main()
