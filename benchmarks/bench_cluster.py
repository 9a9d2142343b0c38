"""Frames per second of a shot on a Dask LocalCluster of 1 and 2 workers against one process,
and a projection of a 300-frame 1080p shot on N farm nodes.

Two 1920x1080 shots made from a real CIHP photo (../shared/data) panning across the frame:
``labels`` (its real part and person maps, vectorized and tracked) and ``model`` (the plate,
parsed by an M2FP model with random weights: ``--size tiny`` by default, ``full`` for the
published architecture, then vectorized and tracked). Each mode builds the whole document
(per-frame work, then tracking) into a fresh parse cache; a cluster is timed cold (its workers
load the model on their first frame) and warm (a second shot on the same workers); the one
process is timed after a warm-up on two frames. One process runs torch on every core; a worker
runs one thread (Dask's default), so the comparison is the one a user meets.

    .venv/bin/python benchmarks/bench_cluster.py [--frames 8] [--size tiny|full] [--nodes 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CIHP = ROOT.parent / "shared" / "data" / "cihp_train_slice"
W, H = 1920, 1080


def write_shot(folder: Path, frames: list[int]) -> None:
    """Plate, label and person maps of one CIHP photo scaled to 1080 px high, panning 8 px a frame."""
    for sub, path, resample in (("plate", CIHP / "Images" / "0000006.jpg", Image.BICUBIC),
                                ("labels", CIHP / "Category_ids" / "0000006.png", Image.NEAREST),
                                ("people", CIHP / "Human_ids" / "0000006.png", Image.NEAREST)):
        img = Image.open(path)
        img = img.convert("RGB") if sub == "plate" else img
        scale = H / img.size[1]
        img = np.asarray(img.resize((round(img.size[0] * scale), H), resample))
        canvas = np.zeros((H, W) + img.shape[2:], img.dtype)
        x0 = (W - img.shape[1]) // 2
        canvas[:, x0:x0 + img.shape[1]] = img
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            Image.fromarray(np.roll(canvas, 8 * i, axis=1)).save(folder / sub / f"{sub}.{f}.png")


def sources(folder: Path, model: Path | None):
    """A factory of fresh sources for one shot: ``make(cache, frames=None)`` (a new cache each call)."""
    from m2fp_roto.sources.labelmaps import LabelMapSource

    if model is None:
        return lambda cache, frames=None: LabelMapSource(folder / "labels" / "labels.####.png",
                                                         folder / "people" / "people.####.png", frames=frames)
    from m2fp_roto.m2fp import M2FPParser
    from m2fp_roto.sources.plate import open_plate
    from m2fp_roto.sources.plate_parsing import PlateParsingSource

    def make(cache, frames=None):
        parser = M2FPParser(model)  # the model's own thresholds: random weights then find a few people
        return PlateParsingSource.open(open_plate(str(folder / "plate" / "plate.####.png"), frames), parser, cache)

    return make


def timed_build(make, scratch: Path, client=None) -> tuple[float, float, int]:
    """(seconds for the whole document, seconds of it spent tracking, shapes)."""
    from m2fp_roto import pipeline
    from m2fp_roto.tracking import track

    source = make(Path(tempfile.mkdtemp(dir=scratch)))
    spent = {}
    solve = track.track_contours

    def timed_track(*args, **kwargs):
        t = time.perf_counter()
        try:
            return solve(*args, **kwargs)
        finally:
            spent["track"] = time.perf_counter() - t

    pipeline_track, track.track_contours = track.track_contours, timed_track
    try:
        t = time.perf_counter()
        doc = pipeline.build_document(source, client=client)
        return time.perf_counter() - t, spent.get("track", 0.0), len(doc.shapes)
    finally:
        track.track_contours = pipeline_track


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", choices=("tiny", "full"), default="tiny", help="random-weight model architecture")
    ap.add_argument("--nodes", default="1,2,4,8,16,32", help="node counts for the 300-frame projection")
    ap.add_argument("--shots", default="labels,model")
    args = ap.parse_args()

    from m2fp_roto import pipeline
    from m2fp_roto.farm.cluster import connect

    frames = list(range(1001, 1001 + args.frames))
    print(f"CPUs {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; {args.frames} frames of {W}x{H}; "
          f"model: random weights, {args.size} architecture", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_shot(tmp / "shot", frames)
        model = None
        if "model" in args.shots:
            from m2fp_roto.m2fp.random_model import write_random_model

            model = write_random_model(tmp / "model", args.size, seed=0)
        rows, per_frame = [], {}
        for shot in args.shots.split(","):
            make = sources(tmp / "shot", model if shot == "model" else None)
            # Untimed warm-up on two frames: imports, the model load and torch's first call.
            pipeline.build_document(make(None, f"{frames[0]}-{frames[1]}"))
            total, tracking, shapes = timed_build(make, tmp)
            single = (total - tracking) / len(frames)
            per_frame[shot] = (single, tracking)
            rows.append((shot, "1 process", "-", total, tracking, len(frames) / total, single, "-", shapes))
            print(f"  {shot}: one process {total:.1f} s", flush=True)
            for n in (1, 2):
                t = time.perf_counter()
                with connect(f"local:{n}") as client:
                    start = time.perf_counter() - t
                    cold, _, _ = timed_build(make, tmp, client)
                    warm, tracking, shapes = timed_build(make, tmp, client)
                frame = (warm - tracking) / len(frames)
                overhead = (frame * n - single) * 1000  # worker-seconds per frame beyond one process's
                rows.append((shot, f"cluster {n} worker{'s' * (n > 1)}", f"{start:.1f}", warm, tracking,
                             len(frames) / warm, frame, f"{overhead:+.0f} (cold run {cold:.1f} s)", shapes))
                print(f"  {shot}: {n} worker(s) cold {cold:.1f} s, warm {warm:.1f} s", flush=True)
                if n == 1:
                    per_frame[f"{shot} worker"] = (frame, start + cold - warm)

    head = ("shot", "mode", "start s", "total s", "track s", "frames/s", "s/frame", "overhead ms/frame", "shapes")
    table = [head] + [(r[0], r[1], r[2], f"{r[3]:.2f}", f"{r[4]:.2f}", f"{r[5]:.2f}", f"{r[6]:.3f}", r[7], str(r[8]))
                      for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print("s/frame: per-frame part (total less tracking) per frame; overhead: worker-seconds per frame on "
          "the cluster minus one process's seconds per frame (a warm run).")

    if "model" in per_frame and "model worker" in per_frame:
        frame, tracking = per_frame["model"]
        worker_frame, cold = per_frame["model worker"]
        print(f"\nProjection, 300 frames of {W}x{H}, one single-threaded worker per node at the measured "
              f"{worker_frame:.2f} s/frame (one process here: {frame:.2f} s/frame), plus {cold:.1f} s cluster "
              f"start and model load, plus tracking scaled from {tracking:.2f} s for {args.frames} frames:")
        track_300 = tracking * 300 / args.frames
        for n in (int(x) for x in args.nodes.split(",")):
            total = cold + np.ceil(300 / n) * worker_frame + track_300
            print(f"  {n:3d} node(s): {total / 60:6.1f} min  (per-frame part {np.ceil(300 / n) * worker_frame / 60:.1f}"
                  f" min, tracking {track_300 / 60:.1f} min on the client unless the cluster spreads it)")


if __name__ == "__main__":
    main()
