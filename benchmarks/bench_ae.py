"""Size and speed of the After Effects target on a big shot: 2 people x 20 parts x 300 frames.

Prints one row per case: the generated .jsx size, the time to write it (best of 3), and, when
Node.js and the test harness are installed (``npm ci --prefix tests/jsx``), the time to run it
against the AE object-model mock (parse + build every mask; AE's own time will differ).

    .venv/bin/python benchmarks/bench_ae.py [--points 32] [--frames 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from m2fp_roto.document import Key, RotoDocument, Shape, shape_name
from m2fp_roto.labelsets import get_label_set
from m2fp_roto_exporters import ae

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "jsx"


def big_document(people=2, parts=20, frames=300, points=32, key_step=1) -> RotoDocument:
    """Smooth moving closed shapes; keys every ``key_step`` frames (1 = every frame)."""
    names = list(get_label_set("cihp").parts[1:])
    first = 1001
    doc = RotoDocument(width=1920, height=1080, first_frame=first, last_frame=first + frames - 1, fps=24.0)
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    key_frames = np.arange(first, first + frames, key_step)
    if key_frames[-1] != doc.last_frame:
        key_frames = np.append(key_frames, doc.last_frame)
    for p in range(1, people + 1):
        for j in range(parts):
            part, component = names[j % len(names)], j // len(names)
            r = 30 + 2 * j
            phase = (key_frames - first)[:, None] * 0.02
            cx = 300 + 700 * (p - 1) + 25 * j + 40 * np.sin(phase)
            cy = 200 + 30 * j + 20 * np.cos(phase)
            x, y = cx + r * np.cos(t + phase * 0.1), cy + r * np.sin(t + phase * 0.1)
            h = r * 2 * np.pi / points / 3
            dx, dy = -h * np.sin(t + phase * 0.1), h * np.cos(t + phase * 0.1)
            pts = np.stack([x, y, -dx, -dy, dx, dy], axis=-1)  # (K, N, 6)
            keys = [Key(int(f), pts[i]) for i, f in enumerate(key_frames)]
            doc.shapes.append(Shape(shape_name(p, part, component), p, part, (first, doc.last_frame), keys,
                                    component=component))
    return doc


def run_in_mock(script: Path, workdir: Path) -> float | None:
    node = shutil.which("node")
    if node is None or not (HARNESS / "node_modules" / "acorn").exists():
        return None
    job = workdir / "job.json"
    job.write_text(json.dumps({"scripts": [{"file": str(script)}]}))
    start = time.perf_counter()
    proc = subprocess.run([node, str(HARNESS / "run_jsx.js"), str(job)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or json.loads(proc.stdout)["error"] is not None:
        raise RuntimeError(f"the script failed in the mock: {proc.stderr[-500:] or proc.stdout[-500:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=32, help="points per shape")
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    cases = [("keys every frame", 1, 2), ("keys every frame", 1, 3), ("keys every 4th frame", 4, 2)]
    print(f"After Effects target: 2 people x 20 parts x {args.frames} frames, {args.points} points per shape")
    print(f"{'case':<22} {'decimals':>8} {'masks':>6} {'path keys':>10} {'size MB':>8} {'write s':>8} {'mock run s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, step, decimals in cases:
            doc = big_document(frames=args.frames, points=args.points, key_step=step)
            out = tmp / "shot_masks.jsx"
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                ae.write_to_file(doc, out, decimals=decimals)
                best = min(best, time.perf_counter() - start)
            mock = run_in_mock(out, tmp)
            keys = sum(len(s.keys) for s in doc.shapes)
            print(f"{label:<22} {decimals:>8} {len(doc.shapes):>6} {keys:>10} {out.stat().st_size / 1e6:>8.2f} "
                  f"{best:>8.2f} {'n/a' if mock is None else f'{mock:.2f}':>10}")


if __name__ == "__main__":
    main()
