"""Post-parse outputs of the current code against an earlier commit's: contours, documents,
``.nk``, ``.jsx`` and EXR pixels, on the demo shot and real label maps. One table.

    .venv/bin/python benchmarks/compare_outputs.py [--baseline 2c9dfae] [--davis-frames 40]

Both versions run in their own process on the same label maps (the baseline extracted with
``git archive``, as in ``bench_pipeline.py``) and write their outputs to a temporary folder:

- the demo shot (24 frames, 960x540), the same shot at 1920x1080 (12 frames) and the crowd of 8
  (8 frames): per-frame contours, the tracked document, its ``.nk``, ``.jsx`` and matte EXRs;
- DAVIS ``lucia`` (whole-person mattes, the first ``--davis-frames``): the same;
- the 20 CIHP ground-truth maps, the 3 SCHP model outputs (2000x1333) and 4 CIHP maps with
  soft part scores (one-hot, area-downsampled by 4, plus noise): per-frame contours.

Contours and documents are compared point by point (largest absolute difference, px; a
document whose shapes or keys differ reads ``other``, with the first difference), the
``.nk`` and ``.jsx`` texts byte for byte, the EXRs channel by channel (matte and coverage
channels: largest absolute difference; Cryptomatte IDs: bit for bit) with their data windows
and headers. Shared data is read from ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import BASELINE, baseline_tree

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHOTS = {"demo 960x540": (1.0, 2, 24), "demo 1920x1080": (2.0, 2, 12), "crowd 960x540": (1.0, 8, 8)}


# -- the worker: one version writes its outputs --------------------------------------------------

def contours(cs):
    return [(c.person, c.part, c.component, c.hole, c.points, c.ring, c.area) for c in cs]


def worker(inputs: Path, out: Path, davis_frames: int) -> None:
    from m2fp_roto.document import RotoDocument
    from m2fp_roto.parsing import Parsing
    from m2fp_roto.sources.labelmaps import LabelMapSource, read_index_image
    from m2fp_roto.tracking.track import TrackOptions, track_contours
    from m2fp_roto.vectorize import vectorize_parsing
    from m2fp_roto_exporters import ae, exr, nuke

    res = {}

    def shot(name, frames, label_set="cihp"):
        per = {p.frame: vectorize_parsing(p) for p in frames}
        h, w = frames[0].shape
        doc = RotoDocument(width=w, height=h, first_frame=frames[0].frame, last_frame=frames[-1].frame,
                           label_set=label_set, shapes=track_contours(per, TrackOptions())).validate()
        exr.write_to_file(doc, out / name / "mattes.####.exr", threads=1)
        res[name] = {"contours": {f: contours(c) for f, c in per.items()}, "json": doc.to_json(),
                     "nk": nuke.write_to_string(doc), "jsx": ae.write_to_string(doc)}

    maps = np.load(inputs)
    for name in SHOTS:
        parts, people = maps[f"{name}/parts"], maps[f"{name}/people"]
        shot(name, [Parsing(1001 + i, parts[i], people[i]) for i in range(len(parts))])
    davis = LabelMapSource(str(DATA / "davis" / "Annotations" / "lucia" / "#####.png"), label_set="matte")
    shot("DAVIS lucia", [davis.parse(f) for f in davis.frames[:davis_frames]], "matte")
    root = DATA / "cihp_train_slice"
    cihp = sorted((root / "Category_ids").glob("*.png"))
    for i, path in enumerate(cihp):
        parts = read_index_image(path).astype(np.uint8)
        people = np.where(parts > 0, read_index_image(root / "Human_ids" / path.name), 0).astype(np.int32)
        res[f"CIHP {path.stem}"] = {"contours": {i: contours(vectorize_parsing(Parsing(i, parts, people)))}}
        if i < 4:
            logits = maps[f"logits/{i}"]
            p = Parsing(i, parts, people, part_logits=logits)
            res[f"CIHP {path.stem} soft"] = {"contours": {i: contours(vectorize_parsing(p))}}
    for i, label_set in enumerate(("lip", "atr", "pascal")):
        parts = read_index_image(DATA / "schp_single" / f"demo_{label_set}.png").astype(np.uint8)
        p = Parsing(i, parts, (parts > 0).astype(np.int32), label_set)
        res[f"SCHP {label_set}"] = {"contours": {i: contours(vectorize_parsing(p))}}
    with open(out / "outputs.pkl", "wb") as f:
        pickle.dump(res, f)


# -- the comparison --------------------------------------------------------------------------------

def tree_diff(a, b, path="") -> float:
    """Largest |a - b| over the numbers of two JSON trees; raises on any other difference."""
    if isinstance(a, dict):
        if set(a) != set(b):
            raise AssertionError(f"{path}: keys {sorted(set(a) ^ set(b))}")
        return max([tree_diff(a[k], b[k], f"{path}/{k}") for k in a] or [0.0])
    if isinstance(a, list):
        if len(a) != len(b):
            raise AssertionError(f"{path}: {len(a)} vs {len(b)} items")
        return max([tree_diff(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b))] or [0.0])
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b))
    if a != b:
        raise AssertionError(f"{path}: {a!r} vs {b!r}")
    return 0.0


def contour_diff(a: dict, b: dict) -> tuple[int, float]:
    n, worst = 0, 0.0
    for frame, old in a.items():
        if len(old) != len(b[frame]):
            raise AssertionError(f"frame {frame}: {len(old)} vs {len(b[frame])} contours")
        for x, y in zip(old, b[frame]):
            if x[:4] != y[:4] or x[4].shape != y[4].shape or x[5].shape != y[5].shape:
                raise AssertionError(f"frame {frame}: {x[:4]} {x[4].shape} vs {y[:4]} {y[4].shape}")
            worst = max(worst, float(np.abs(x[4] - y[4]).max()), float(np.abs(x[5] - y[5]).max()), abs(x[6] - y[6]))
            n += 1
    return n, worst


def exr_diff(a: Path, b: Path) -> tuple[int, float, float, bool, list]:
    import OpenEXR

    files, matte, coverage, ids, headers = 0, 0.0, 0.0, True, set()
    for fa in sorted(a.glob("*.exr")):
        with OpenEXR.File(str(fa), separate_channels=True) as x, OpenEXR.File(str(b / fa.name), separate_channels=True) as y:
            hx, hy = dict(x.header()), dict(y.header())
            cx = {k: v.pixels.copy() for k, v in x.channels().items()}
            cy = {k: v.pixels.copy() for k, v in y.channels().items()}
        if set(cx) != set(cy):
            raise AssertionError(f"{fa.name}: channels {sorted(set(cx) ^ set(cy))}")
        for key in set(hx) | set(hy):
            if str(hx.get(key)) != str(hy.get(key)):
                headers.add(key)
        for name, p in cx.items():
            p, q = _on_union(p, hx["dataWindow"], cy[name], hy["dataWindow"])
            if name.startswith("Crypto") and name[-1] in "RB":
                ids &= np.array_equal(p.view(np.uint32), q.view(np.uint32))
            elif name.startswith("Crypto"):
                coverage = max(coverage, float(np.abs(p.astype(np.float64) - q).max()))
            else:
                matte = max(matte, float(np.abs(p.astype(np.float64) - q.astype(np.float64)).max()))
        files += 1
    return files, matte, coverage, ids, sorted(headers)


def _on_union(p: np.ndarray, wp, q: np.ndarray, wq) -> tuple[np.ndarray, np.ndarray]:
    """Two channels' pixels over the union of their data windows ((x0, y0), (x1, y1)), zero
    outside each own window (an EXR's pixels outside its data window are zero)."""
    (ax, ay), (bx, by) = np.minimum(wp[0], wq[0]), np.maximum(wp[1], wq[1])
    out = []
    for pixels, (lo, _) in ((p, wp), (q, wq)):
        full = np.zeros((by - ay + 1, bx - ax + 1), pixels.dtype)
        full[lo[1] - ay:lo[1] - ay + pixels.shape[0], lo[0] - ax:lo[0] - ax + pixels.shape[1]] = pixels
        out.append(full)
    return out[0], out[1]


def soft_scores(parts: np.ndarray, seed: int) -> np.ndarray:
    import cv2

    h, w = parts.shape
    onehot = np.stack([(parts == k).astype(np.float32) for k in range(20)])
    small = np.stack([cv2.resize(c, (w // 4, h // 4), interpolation=cv2.INTER_AREA) for c in onehot])
    return (6 * small + 0.3 * np.random.default_rng(seed).standard_normal(small.shape)).astype(np.float16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=BASELINE, help="git ref of the code to compare with")
    ap.add_argument("--davis-frames", type=int, default=40)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]), args.davis_frames)
        return
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    from m2fp_roto.cli.demo import render_frame
    from m2fp_roto.sources.labelmaps import read_index_image

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        maps = {}
        for name, (zoom, people, n) in SHOTS.items():
            frames = [render_frame(i, n, zoom, people) for i in range(n)]
            maps[f"{name}/parts"] = np.stack([f[0] for f in frames])
            maps[f"{name}/people"] = np.stack([f[1] for f in frames])
        for i, path in enumerate(sorted((DATA / "cihp_train_slice" / "Category_ids").glob("*.png"))[:4]):
            maps[f"logits/{i}"] = soft_scores(read_index_image(path).astype(np.uint8), i)
        np.savez(tmp / "inputs.npz", **maps)
        outs = {}
        for name, path in (("baseline", baseline_tree(args.baseline, tmp)), ("current", None)):
            out = tmp / f"{name} outputs"
            out.mkdir()
            env = dict(os.environ)
            if path is not None:
                env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tmp / "inputs.npz"), str(out),
                   "--davis-frames", str(args.davis_frames)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp, check=False)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            with open(out / "outputs.pkl", "rb") as f:
                outs[name] = pickle.load(f)
        base, cur = outs["baseline"], outs["current"]
        print(f"current checkout against {args.baseline}: largest differences (px for contours and documents)")
        print(f"{'input':<26} {'contours':>8} {'max |d|':>9} {'document':>9} {'nk':>5} {'jsx':>5} "
              f"{'EXRs':>5} {'matte':>9} {'coverage':>9} {'IDs':>5}")
        for key, old in base.items():
            n, d = contour_diff(old["contours"], cur[key]["contours"])
            line = f"{key:<26} {n:>8} {d:>9.1e}"
            if "json" in old:
                try:
                    doc, changed = f"{tree_diff(json.loads(old['json']), json.loads(cur[key]['json'])):>9.1e}", ""
                except AssertionError as e:  # other shapes or keys: no distance to measure
                    doc, changed = f"{'other':>9}", f"  document: {e}"
                files, matte, cov, ids, headers = exr_diff(tmp / "baseline outputs" / key, tmp / "current outputs" / key)
                line += (f" {doc} {'same' if old['nk'] == cur[key]['nk'] else 'DIFF':>5} "
                         f"{'same' if old['jsx'] == cur[key]['jsx'] else 'DIFF':>5} {files:>5} {matte:>9.1e} "
                         f"{cov:>9.1e} {'same' if ids else 'DIFF':>5}")
                if headers:
                    line += f"  headers differ: {', '.join(headers)}"
                line += changed
            print(line, flush=True)


if __name__ == "__main__":
    main()
