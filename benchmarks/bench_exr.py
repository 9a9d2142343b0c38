"""Matte EXR export speed and size: 1080p, 2 people x 15 parts, with and without Cryptomatte.

    .venv/bin/python benchmarks/bench_exr.py [--frames 8] [--threads N]

The shot is synthetic but shaped like parser output: per person, 15 part blobs of 16 Bezier
anchors laid out over a 900 px tall figure, neighbours touching, all moving over the shot.
Prints seconds per frame (wall clock over the whole shot, so threads count; and CPU seconds,
summed over threads, which other jobs on the machine disturb less) and the mean file size per
frame for each configuration, then how exact the coverage is.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from m2fp_roto.bezier import fill_polygons, flatten
from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto.geometry import polygon_area
from m2fp_roto_exporters import exr
from m2fp_roto_exporters.exr.coverage import part_coverages

# part: (centre x, centre y, radius x, radius y) in a 900 px figure, origin at the figure's top centre
LAYOUT = {
    "hat": (0, 40, 70, 35), "hair": (0, 95, 80, 55), "sunglasses": (0, 130, 55, 15), "face": (0, 160, 60, 55),
    "scarf": (0, 235, 70, 25), "upper_clothes": (0, 340, 120, 100), "coat": (0, 360, 150, 130),
    "torso_skin": (0, 250, 40, 20), "left_arm": (-170, 360, 35, 140), "right_arm": (170, 360, 35, 140),
    "glove": (-175, 515, 30, 30), "pants": (0, 560, 110, 90), "left_leg": (-55, 720, 45, 130),
    "right_leg": (55, 720, 45, 130), "left_shoe": (-60, 870, 50, 25),
}


def blob(cx, cy, rx, ry, rng, n=16):
    """A wobbly closed Bezier with smooth (Catmull-Rom) handles, as document points."""
    th = np.arange(n) * 2 * np.pi / n
    r = 1 + 0.08 * rng.standard_normal(n)
    xy = np.c_[cx + rx * r * np.cos(th), cy + ry * r * np.sin(th)]
    tangent = (np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)) / 6
    return np.c_[xy, -tangent, tangent]


def shot(frames: int, people: int = 2, seed: int = 0) -> RotoDocument:
    rng = np.random.default_rng(seed)
    doc = RotoDocument(width=1920, height=1080, first_frame=1001, last_frame=1000 + frames,
                       source="benchmark", pixel_aspect=1.0)
    for person in range(1, people + 1):
        x0 = 1920 * person / (people + 1)
        for part, (cx, cy, rx, ry) in LAYOUT.items():
            keys = []
            for frame in range(doc.first_frame, doc.last_frame + 1, 4):
                drift = 6 * (frame - doc.first_frame)
                keys.append(Key(frame, blob(x0 + cx + drift, 90 + cy, rx, ry, rng)))
            if keys[-1].frame != doc.last_frame:
                keys.append(Key(doc.last_frame, blob(x0 + cx + 6 * (frames - 1), 90 + cy, rx, ry, rng)))
            doc.shapes.append(Shape(f"p{person}_{part}", person, part, (doc.first_frame, doc.last_frame), keys))
    return doc.validate()


def accuracy(doc, frame: int, k: int = 16):
    """Per part: |sum - polygon area| / area, and the largest and mean |difference| from a
    k x k point-sampled fill (``bezier.fill_polygons``) of the same curve on the part's box."""
    rows = []
    for (person, part), tile in part_coverages(doc, frame).items():
        (shape,) = [s for s in doc.shapes if (s.person, s.part) == (person, part)]
        xy = flatten(shape.points_at(frame))
        y0, x0, y1, x1 = tile.bbox
        h, w = y1 - y0, x1 - x0
        ref = fill_polygons([(xy - (x0, y0)) * k], (h * k, w * k)).reshape(h, k, w, k).mean(axis=(1, 3))
        edge = (ref > 0) & (ref < 1) | (tile.data > 0) & (tile.data < 1)
        diff = np.abs(tile.data - ref)
        area = abs(polygon_area(xy))
        rows.append((abs(float(tile.data.sum()) - area) / area, diff.max(), diff[edge].mean()))
    return np.array(rows)


def run(doc, folder: Path, label: str, **options):
    start, cpu = time.perf_counter(), time.process_time()
    files = exr.write_to_file(doc, folder / label / "shot.####.exr", **options)
    seconds = (time.perf_counter() - start) / len(doc.frames)
    cpu = (time.process_time() - cpu) / len(doc.frames)
    size = sum(f.stat().st_size for f in files) / len(doc.frames)
    return seconds, cpu, size, len(files)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="default: one per core")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    doc = shot(args.frames)
    threads = args.threads or os.cpu_count()

    start, cpu = time.perf_counter(), time.process_time()
    for frame in doc.frames:
        part_coverages(doc, frame)
    n = len(doc.frames)
    rows = [("coverage only (30 layers, 1 thread)", (time.perf_counter() - start) / n,
             (time.process_time() - cpu) / n, 0.0, 0)]
    configs = [
        ("layers, zips", {"cryptomatte": False}),
        ("layers + Cryptomatte, zips", {}),
        ("layers + Cryptomatte, zip", {"compression": "zip"}),
        ("layers + Cryptomatte, piz", {"compression": "piz"}),
        ("layers + Cryptomatte, zips, 2 ranks", {"ranks": 2}),
        ("layers + Cryptomatte, rle (not offered)", {"compression": "rle"}),
        ("layers + Cryptomatte, none (not offered)", {"compression": "none"}),
        ("layers, rle", {"cryptomatte": False, "compression": "rle"}),
        ("layers, none", {"cryptomatte": False, "compression": "none"}),
        ("layers + Cryptomatte split, zips", {"split": True}),
        ("Cryptomatte only, zips", {"layers": False}),
    ]
    # What the codecs the exporter refuses for Cryptomatte IDs would cost, for comparison only.
    offered, exr.CRYPTO_COMPRESSIONS = exr.CRYPTO_COMPRESSIONS, exr.COMPRESSIONS
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in configs:
            for n in sorted({1, threads}):
                result = run(doc, Path(tmp), f"{label}-{n}".replace(" ", "_"), threads=n, **options)
                rows.append((f"{label} ({n} thread{'s' * (n > 1)})", *result))
    exr.CRYPTO_COMPRESSIONS = offered

    print(f"matte EXR export, {doc.width}x{doc.height}, {len(doc.people)} people x {len(LAYOUT)} parts, "
          f"{len(doc.frames)} frames, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"load average at start: {load:.1f} (wall times grow with it; CPU times much less)")
    print(f"{'configuration':<56} {'s/frame':>8} {'cpu s/fr':>9} {'MB/frame':>9} {'files':>6}")
    for label, s, cpu, size, count in rows:
        print(f"{label:<56} {s:8.3f} {cpu:9.3f} {size / 1e6:9.2f} {count:6d}")

    acc = accuracy(doc, doc.first_frame)
    print(f"\ncoverage accuracy over {len(acc)} parts (frame {doc.first_frame}), against a 16x16 point-sampled fill")
    print(f"{'measure':<48} {'worst':>10} {'mean':>10}")
    print(f"{'|sum - polygon area| / area':<48} {acc[:, 0].max():10.2e} {acc[:, 0].mean():10.2e}")
    print(f"{'max |coverage - supersampled| per part':<48} {acc[:, 1].max():10.4f} {acc[:, 1].mean():10.4f}")
    print(f"{'mean |coverage - supersampled| on edge pixels':<48} {acc[:, 2].max():10.4f} {acc[:, 2].mean():10.4f}")


if __name__ == "__main__":
    main()
