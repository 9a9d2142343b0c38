"""Everything after parsing, per stage, against the code before the speed work: one table.

    .venv/bin/python benchmarks/bench_pipeline.py [--frames 6] [--sizes 540,1080,2160]
        [--people 2,8] [--repeat 2] [--baseline 2c9dfae] [--core 1]

The shot is the demo's (``m2fp_roto.cli.demo.render_frame``): two walking figures drawn as CIHP
label maps, zoomed to 960x540, 1920x1080 or 3840x2160 (the same shot at a higher resolution:
outlines twice as long per step, areas four times), with 2 people or a crowd of 8 (the pair
repeated, shifted, farther back, out of step). Label maps are made once per configuration and
handed to both versions, so the parse is not measured.

Per frame, each version runs: ``vectorize_parsing``; ``track_contours`` (the default
``TrackOptions``, one process); the matte EXR target with Cryptomatte (default options, ZIPS,
one thread; ``write`` is the part spent inside OpenEXR's ``File.write``, i.e. compressing and
writing the file); the ``.nk`` and ``.jsx`` writers (``write_to_string``). Times are CPU seconds
per frame of one process pinned to one core (``--core``) with ``OMP_NUM_THREADS=1`` and the other
BLAS thread counts at 1: on a machine shared with other work, CPU time moves much less than wall
time, which the table also gives for the whole pipeline. ``peak MB`` is the process's peak
resident memory, ``+MB`` its growth over what the label maps and imports took.

One-time costs stay out of the per-frame figures: the libraries the stages import lazily (SciPy's
optimize, sparse, spatial and linalg modules, shapely, threadpoolctl, OpenEXR, mmh3; ``import
m2fp_roto`` stays light, so these load on first use) are imported before the clock starts, in
both versions. A process pays them once (about 0.4 s for ``scipy.optimize`` alone), however long
the shot: on the 6-frame shot here they would add some 0.06 s to every frame of ``track``.

The baseline is the code before the post-parse speed work (commit ``--baseline``), extracted
with ``git archive`` into a temporary folder and run in its own process beside the current
checkout, configuration by configuration, alternating which goes first; each pair runs
``--repeat`` times and every figure is the smallest of its runs (other work on the machine only
ever adds time). The load average is printed before and after: wall times grow with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "2c9dfae"  # main before the post-parse speed work
SIZES = {540: 1.0, 1080: 2.0, 2160: 4.0}
STAGES = ("vectorize", "track", "exr", "write", "nk", "jsx")
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


# -- the worker: one version, one configuration --------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


#: Imported lazily by the stages (paid once per process, not per frame): imported before timing.
LAZY_IMPORTS = ("scipy.linalg", "scipy.optimize", "scipy.sparse", "scipy.sparse.linalg", "scipy.spatial",
                "shapely", "shapely.geometry", "shapely.ops", "threadpoolctl", "OpenEXR", "mmh3")


def worker(maps: str, core: int | None) -> dict:
    """Run every post-parse stage on the label maps in ``maps`` (.npz); return the figures."""
    import importlib
    import resource

    if core is not None:
        os.sched_setaffinity(0, {core})
    import cv2

    cv2.setNumThreads(1)
    for module in LAZY_IMPORTS:
        importlib.import_module(module)
    from m2fp_roto.document import RotoDocument
    from m2fp_roto.parsing import Parsing
    from m2fp_roto.tracking.track import TrackOptions, track_contours
    from m2fp_roto.vectorize import vectorize_parsing
    from m2fp_roto_exporters import ae, exr, nuke
    from m2fp_roto_exporters.exr import frame as exr_frame

    data = np.load(maps)
    parts, people = data["parts"], data["people"]
    frames = [Parsing(1001 + i, parts[i], people[i]) for i in range(len(parts))]
    n = len(frames)
    before = rss_mb()
    cpu, wall, out = {}, {}, {}

    def timed(stage, fn):
        c, w = time.process_time(), time.perf_counter()
        result = fn()
        cpu[stage] = (time.process_time() - c) / n
        wall[stage] = (time.perf_counter() - w) / n
        return result

    per_frame = timed("vectorize", lambda: {p.frame: vectorize_parsing(p) for p in frames})
    shapes = timed("track", lambda: track_contours(per_frame, TrackOptions()))
    h, w = frames[0].shape
    doc = RotoDocument(width=w, height=h, first_frame=1001, last_frame=1000 + n, source="benchmark",
                       shapes=shapes).validate()
    write, spent = exr_frame._write, [0.0, 0.0]

    def timed_write(*args, **kwargs):  # the part inside OpenEXR: compress and write the file
        c, t = time.process_time(), time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            spent[0] += time.process_time() - c
            spent[1] += time.perf_counter() - t

    exr_frame._write = timed_write
    with tempfile.TemporaryDirectory() as tmp:
        timed("exr", lambda: exr.write_to_file(doc, Path(tmp) / "mattes.####.exr", threads=1))
    cpu["write"], wall["write"] = spent[0] / n, spent[1] / n
    timed("nk", lambda: nuke.write_to_string(doc))
    timed("jsx", lambda: ae.write_to_string(doc))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update(cpu=cpu, wall=wall, shapes=len(shapes), contours=sum(len(c) for c in per_frame.values()) / n,
               peak_mb=peak, grew_mb=peak - before)
    return out


# -- the driver ------------------------------------------------------------------------------------

def baseline_tree(ref: str, folder: Path) -> Path:
    """The code at ``ref`` as an importable folder (packages named as installed)."""
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for package, path in (("m2fp_roto_exporters", "exporters"), ("m2fp_roto_nuke", "nuke_scripts"),
                          ("m2fp_roto_ae", "ae_jsx")):
        (tree / package).symlink_to(path)
    return tree


def run_worker(maps: Path, path: Path | None, core: int | None) -> dict:
    env = {**os.environ, **ONE_THREAD}
    if path is not None:  # ahead of the installed (editable) checkout
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(maps)]
    if core is not None:
        cmd += ["--core", str(core)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir(), check=False)
    if proc.returncode:
        raise SystemExit(f"worker failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(a: dict | None, b: dict) -> dict:
    """The smaller of two runs' figures, figure by figure."""
    if a is None:
        return b
    out = {k: {s: min(a[k][s], b[k][s]) for s in a[k]} for k in ("cpu", "wall")}
    return {**b, **out, "peak_mb": min(a["peak_mb"], b["peak_mb"]), "grew_mb": min(a["grew_mb"], b["grew_mb"])}


def render(folder: Path, size: int, people: int, frames: int) -> Path:
    from m2fp_roto.cli.demo import render_frame

    maps = [render_frame(i, frames, SIZES[size], people) for i in range(frames)]
    path = folder / f"maps_{size}_{people}.npz"
    np.savez(path, parts=np.stack([m[0] for m in maps]), people=np.stack([m[1] for m in maps]))
    return path


def row(label: str, version: str, r: dict) -> str:
    c = r["cpu"]
    total = sum(c[s] for s in ("vectorize", "track", "exr", "nk", "jsx"))
    wall = sum(r["wall"][s] for s in ("vectorize", "track", "exr", "nk", "jsx"))
    return (f"{label:<16} {version:<9} {r['shapes']:>6} {c['vectorize']:>9.3f} {c['track']:>7.3f} "
            f"{c['exr']:>7.3f} {c['write']:>7.3f} {c['nk']:>7.4f} {c['jsx']:>7.4f} {total:>7.3f} {wall:>7.3f} "
            f"{r['peak_mb']:>8.0f} {r['grew_mb']:>7.0f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6, help="frames of the shot (per configuration)")
    ap.add_argument("--sizes", default="540,1080,2160", help="frame heights: 540, 1080, 2160")
    ap.add_argument("--people", default="2,8", help="people in the shot (even numbers)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per version and configuration (the fastest counts)")
    ap.add_argument("--baseline", default=BASELINE, help="git ref of the code to compare with ('none': skip)")
    ap.add_argument("--core", type=int, default=None, help="CPU core the workers run on (default: the last)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.core)))
        return
    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    sizes = [int(s) for s in args.sizes.split(",")]
    crowds = [int(p) for p in args.people.split(",")]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        versions = [("current", None)]
        if args.baseline != "none":
            versions.insert(0, (f"{args.baseline[:8]}", baseline_tree(args.baseline, tmp)))
        print(f"post-parse pipeline, CPU s/frame on core {core} (OMP_NUM_THREADS=1), {args.frames} frames per "
              f"configuration, best of {args.repeat}, python {sys.version.split()[0]}, {os.cpu_count()} cores")
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        header = (f"{'shot':<16} {'version':<9} {'shapes':>6} {'vectorize':>9} {'track':>7} {'exr':>7} {'(write)':>7} "
                  f"{'nk':>7} {'jsx':>7} {'total':>7} {'wall':>7} {'peak MB':>8} {'+MB':>7}")
        print(header)
        print("-" * len(header))
        results = {}
        for i, size in enumerate(sizes):
            for j, people in enumerate(crowds):
                maps = render(tmp, size, people, args.frames)
                label = f"{round(960 * SIZES[size])}x{size} {people}p"
                got = {}
                for k in range(args.repeat):
                    order = versions if (i + j + k) % 2 == 0 else versions[::-1]
                    for name, path in order:
                        got[name] = best(got.get(name), run_worker(maps, path, core))
                for name, _ in versions:
                    print(row(label, name, got[name]), flush=True)
                results[(size, people)] = got
                maps.unlink()
        load = os.getloadavg()
        print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if len(versions) == 2:
        base = versions[0][0]
        print("\nspeed-up (baseline CPU / current CPU) per stage")
        print(f"{'shot':<16} " + " ".join(f"{s:>9}" for s in ("vectorize", "track", "exr", "nk", "jsx")))
        for (size, people), got in results.items():
            label = f"{round(960 * SIZES[size])}x{size} {people}p"
            ratios = [got[base]["cpu"][s] / max(got["current"]["cpu"][s], 1e-9) for s in ("vectorize", "track", "exr", "nk", "jsx")]
            print(f"{label:<16} " + " ".join(f"{r:>9.2f}" for r in ratios))
    current = {k: v["current"]["cpu"] for k, v in results.items()}
    print("\ncurrent, growth of CPU time per frame")
    for people in crowds:
        if 1080 in sizes and 2160 in sizes:
            print(f"  {people} people, 1080p -> UHD: " + ", ".join(
                f"{s} x{current[(2160, people)][s] / max(current[(1080, people)][s], 1e-9):.2f}"
                for s in ("vectorize", "track", "exr", "nk", "jsx")))
    for size in sizes:
        if 2 in crowds and 8 in crowds:
            shapes = results[(size, 8)]["current"]["shapes"] / max(results[(size, 2)]["current"]["shapes"], 1)
            print(f"  {size}p, 2 -> 8 people (shapes x{shapes:.2f}): " + ", ".join(
                f"{s} x{current[(size, 8)][s] / max(current[(size, 2)][s], 1e-9):.2f}"
                for s in ("vectorize", "track", "exr", "nk", "jsx")))


if __name__ == "__main__":
    main()
