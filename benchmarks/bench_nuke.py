"""Speed and size of the Nuke target on a 2-person x 20-part x 100-frame shot.

    .venv/bin/python benchmarks/bench_nuke.py

Prints one row per (document, option) case: best-of-N wall time of ``write_to_string`` and of
``write_to_file`` (atomic, fsync'd), the script size, and the number of point keys written.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto_exporters import nuke

PEOPLE, PARTS, FRAMES, POINTS = 2, 20, 100, 24


def shot(key_every: int) -> RotoDocument:
    """Moving, breathing Bezier rings: 2 people x 20 parts, keys every ``key_every`` frames."""
    doc = RotoDocument(width=3840, height=2160, first_frame=1001, last_frame=1000 + FRAMES)
    rng = np.random.default_rng(0)
    a = np.linspace(0, 2 * np.pi, POINTS, endpoint=False)
    frames = list(range(1001, 1001 + FRAMES, key_every))
    if frames[-1] != 1000 + FRAMES:
        frames.append(1000 + FRAMES)
    for person in range(1, PEOPLE + 1):
        for part in range(PARTS):
            cx, cy, r = rng.uniform(200, 3600), rng.uniform(200, 1900), rng.uniform(20, 200)
            keys = []
            for f in frames:
                t = f - 1001
                rr = r * (1 + 0.1 * np.sin(0.2 * t + a * 3))
                x, y = cx + 2.5 * t + rr * np.cos(a), cy + 0.7 * t + rr * np.sin(a)
                k = 4 / 3 * np.tan(np.pi / (2 * POINTS)) * rr
                keys.append(Key(f, np.stack([x, y, k * np.sin(a), -k * np.cos(a), -k * np.sin(a), k * np.cos(a)], 1)))
            doc.shapes.append(Shape(f"p{person}_part{part}", person, f"part{part}", (1001, 1000 + FRAMES), keys))
    return doc.validate()


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    docs = {"keys every frame": shot(1), "keys every 10th frame": shot(10)}
    print(f"{PEOPLE} people x {PARTS} parts x {FRAMES} frames, {POINTS} points per shape, 3840x2160")
    print(f"{'document':<22} {'group':<11} {'bake':<7} {'string s':>9} {'file s':>8} {'MB':>7} {'keys':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "shot.nk"
        for label, doc in docs.items():
            for group in ("per-person", "all"):
                for bake in ("frames", "keys"):
                    text = nuke.write_to_string(doc, group=group, bake=bake)
                    t_str = best(lambda: nuke.write_to_string(doc, group=group, bake=bake))
                    t_file = best(lambda: nuke.write_to_file(doc, out, group=group, bake=bake))
                    keys = text.count(" -}")
                    print(f"{label:<22} {group:<11} {bake:<7} {t_str:9.3f} {t_file:8.3f} "
                          f"{len(text.encode()) / 1e6:7.2f} {keys:9d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
