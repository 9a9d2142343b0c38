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


def _cpu_seconds() -> float:
    """This process's CPU seconds, all threads (sent to each worker with client.run)."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def timed_build(make, scratch: Path, client=None) -> dict:
    """Build one shot's document into a fresh cache: wall and CPU seconds (this process plus every
    worker; the scheduler of a local cluster runs in this process), tracking's share of them
    (one process only: on a cluster the solves run on the workers), and the shape count."""
    from m2fp_roto import pipeline
    from m2fp_roto.tracking import track

    source = make(Path(tempfile.mkdtemp(dir=scratch)))
    spent = {}
    solve = track.track_contours

    def timed_track(*args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        try:
            return solve(*args, **kwargs)
        finally:
            spent.update(track=time.perf_counter() - t, track_cpu=time.process_time() - c)

    def workers_cpu() -> float:
        return sum(client.run(_cpu_seconds).values()) if client is not None else 0.0

    track.track_contours = timed_track
    try:
        before, c, t = workers_cpu(), time.process_time(), time.perf_counter()
        doc = pipeline.build_document(source, client=client)
        wall, cpu = time.perf_counter() - t, time.process_time() - c + workers_cpu() - before
    finally:
        track.track_contours = solve
    return {"wall": wall, "cpu": cpu, "track": spent.get("track", 0.0), "track_cpu": spent.get("track_cpu", 0.0),
            "shapes": len(doc.shapes)}


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
    n_frames = len(frames)
    print(f"CPUs {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (other work on the machine slows wall "
          f"times; CPU seconds hold); {n_frames} frames of {W}x{H}; model: random weights, {args.size}", flush=True)
    rows, one = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_shot(tmp / "shot", frames)
        model = None
        if "model" in args.shots:
            from m2fp_roto.m2fp.random_model import write_random_model

            model = write_random_model(tmp / "model", args.size, seed=0)
        for shot in args.shots.split(","):
            make = sources(tmp / "shot", model if shot == "model" else None)
            # Untimed warm-up on two frames: imports, the model load and torch's first call.
            pipeline.build_document(make(None, f"{frames[0]}-{frames[1]}"))
            run = one[shot] = timed_build(make, tmp)
            rows.append((shot, "1 process", "-", run, "-"))
            print(f"  {shot}: one process {run['wall']:.1f} s", flush=True)
            for n in (1, 2):
                t = time.perf_counter()
                with connect(f"local:{n}") as client:
                    start = time.perf_counter() - t
                    cold = timed_build(make, tmp, client)
                    warm = timed_build(make, tmp, client)
                overhead = (warm["cpu"] - run["cpu"]) / n_frames
                rows.append((shot, f"cluster {n} worker{'s' * (n > 1)}", f"{start:.1f}", warm,
                             f"{overhead:+.3f} (cold: {cold['wall']:.1f} s)"))
                print(f"  {shot}: {n} worker(s) cold {cold['wall']:.1f} s, warm {warm['wall']:.1f} s", flush=True)
                if n == 1:  # a worker's start-up: imports and the model load, paid once per node
                    one[f"{shot} overhead"], one[f"{shot} load"] = overhead, max(cold["cpu"] - warm["cpu"], 0.0)

    head = ("shot", "mode", "start s", "wall s", "frames/s", "CPU s", "CPU s/frame", "cluster CPU s/frame", "shapes")
    table = [head] + [(shot, mode, start, f"{r['wall']:.2f}", f"{n_frames / r['wall']:.2f}", f"{r['cpu']:.1f}",
                       f"{r['cpu'] / n_frames:.3f}", extra, str(r["shapes"])) for shot, mode, start, r, extra in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print("Warm runs (workers already up, model loaded). CPU: this process + every worker, whole document "
          "(tracking included). Cluster CPU s/frame: CPU per frame beyond one process's (what the cluster adds).")

    if "model" in one:
        run = one["model"]
        frame = (run["cpu"] - run["track_cpu"]) / n_frames + max(one.get("model overhead", 0.0), 0.0)
        track_300 = run["track_cpu"] * 300 / n_frames
        load = one.get("model load", 0.0)
        print(f"\nProjection: 300 frames of {W}x{H}, one worker per node doing one frame at a time at the measured "
              f"{frame:.2f} CPU s/frame (per-frame part {(run['cpu'] - run['track_cpu']) / n_frames:.2f} s + "
              f"cluster overhead), {load:.1f} s worker start-up per node (cold run less warm run, CPU), tracking "
              f"{track_300 / 60:.1f} min of CPU (scaled from {run['track_cpu']:.1f} s for {n_frames} frames) "
              "spread evenly over the nodes (at best; one long track is one task):")
        for n in (int(x) for x in args.nodes.split(",")):
            total = load + np.ceil(300 / n) * frame + track_300 / n
            print(f"  {n:3d} node(s): {total / 60:6.1f} min")
        print("(A real shot's per-frame time is the published model's network at 1080p (--size full), plus the "
              "post-processing and caching measured here; tracking depends on how many shapes the shot has.)")


if __name__ == "__main__":
    main()
