"""A plate parsed and vectorized frame after frame, against the same with the decode and the
vectorizing overlapped with the parse (read-ahead and vectorize-behind threads).

    .venv/bin/python benchmarks/bench_overlap.py                                # tiny model, 1 torch thread
    .venv/bin/python benchmarks/bench_overlap.py --model-size full --device cuda  # on a GPU

The plate is the first frames of the real clip ../shared/data/clips/bedroom.mp4, scaled to
--size and written as half-float EXRs (ZIP, scene-linear, so the default colour transform
runs), as ``bench_plate.py`` writes them. The parser is M2FP with random weights (the tiny
model by default: its parse on a CPU is short enough for the other stages to matter, as they do
on a GPU; ``--threads 1`` leaves the second core to the threads, as a GPU leaves the CPU).

``one after another`` is the loop without threads (``Plate.read``, ``M2FPParser.parse``, the
parse cache's ``put``, ``vectorize_parsing`` in turn; each stage's wall time is timed apart).
``overlapped`` is ``vectorize_source`` on a ``PlateParsingSource`` writing a fresh parse cache,
as ``m2fp-roto export PLATE`` runs it (``--no-cache``: neither writes one). Both give the same
contours (checked). The two alternate, ``--repeat`` times; each figure is the smallest of its
runs. ``bound`` is the slowest stage alone: what a perfect overlap would give; the cache is
written in the parse's thread, so its bound counts the two together.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plate import source_frames, write_sequences  # noqa: E402


def one_after_another(plate, parser, options, cache) -> tuple[dict, dict]:
    from m2fp_roto.sources.parse_cache import storable
    from m2fp_roto.vectorize import vectorize_parsing

    stages, out = {"decode": 0.0, "parse": 0.0, "cache write": 0.0, "vectorize": 0.0}, {}
    for frame in plate.frames:
        t0 = time.perf_counter()
        rgb = plate.read(frame)
        t1 = time.perf_counter()
        parsing = parser.parse(rgb, frame)
        t2 = time.perf_counter()
        if cache is not None:
            parsing = storable(parsing)  # as PlateParsingSource hands it on
            cache.put(parsing)
        t3 = time.perf_counter()
        out[frame] = vectorize_parsing(parsing, options)
        t4 = time.perf_counter()
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name] += dt
    return stages, out


def overlapped(plate, parser, options, cache) -> dict:
    from m2fp_roto.pipeline import vectorize_source
    from m2fp_roto.sources.plate_parsing import PlateParsingSource

    return vectorize_source(PlateParsingSource(plate, parser, cache), options)


def fresh_cache(root: Path | None, plate, parser):
    from m2fp_roto.sources.parse_cache import ParseCache

    if root is None:
        return None
    cache = ParseCache.for_plate(root, plate, parser.settings)
    cache.clear()
    return cache


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        len(a[f]) == len(b[f]) and all(np.array_equal(x.points, y.points) for x, y in zip(a[f], b[f])) for f in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="1920x1080", help="frame WIDTHxHEIGHT")
    ap.add_argument("--model-size", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-cache", action="store_true", help="write no parse cache (export --no-cache)")
    args = ap.parse_args()

    import bench_plate

    from m2fp_roto.m2fp import M2FPParser
    from m2fp_roto.m2fp.random_model import write_random_model
    from m2fp_roto.sources.plate import open_plate
    from m2fp_roto.vectorize import VectorizeOptions

    width, height = (int(v) for v in args.size.lower().split("x"))
    bench_plate.N, bench_plate.W, bench_plate.H = args.frames, width, height
    options = VectorizeOptions()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plate = open_plate(write_sequences(tmp, source_frames())["exr"])
        model = write_random_model(tmp / "model", args.model_size, seed=0)
        parser = M2FPParser(model, device=args.device, threads=args.threads)
        parser.parse(plate.read(plate.frames[0]), plate.frames[0])  # load and warm up
        root = None if args.no_cache else tmp / "cache"
        seq, lap, stages = [], [], None
        for _ in range(args.repeat):
            cache = fresh_cache(root, plate, parser)
            t = time.perf_counter()
            run_stages, first = one_after_another(plate, parser, options, cache)
            seq.append(time.perf_counter() - t)
            stages = run_stages if stages is None else {k: min(v, run_stages[k]) for k, v in stages.items()}
            cache = fresh_cache(root, plate, parser)
            t = time.perf_counter()
            second = overlapped(plate, parser, options, cache)
            lap.append(time.perf_counter() - t)
            if not same(first, second):
                sys.exit("the overlapped run gave other contours")
    n = args.frames
    contours = sum(len(c) for c in first.values()) / n
    print(f"{width}x{height} EXR plate, {n} frames, M2FP {args.model_size} (random weights) on {args.device}, "
          f"{args.threads} torch thread(s), {'no parse cache' if root is None else 'parse cache written'}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {contours:.0f} contours a frame; "
          f"best of {args.repeat}\n")
    print("| run | " + " | ".join(stages) + " | s/frame | speed-up |")
    print("|---" * (len(stages) + 3) + "|")
    one = min(seq) / n
    blank = "| " * len(stages)
    print("| one after another | " + " | ".join(f"{v / n:.3f}" for v in stages.values()) + f" | {one:.3f} | 1.00x |")
    print(f"| overlapped {blank}| {min(lap) / n:.3f} | {one / (min(lap) / n):.2f}x |")
    bound = max(stages["decode"], stages["parse"] + stages["cache write"], stages["vectorize"]) / n
    print(f"| bound (slowest stage; parse + cache write together) {blank}| {bound:.3f} | {one / bound:.2f}x |")


if __name__ == "__main__":
    main()
