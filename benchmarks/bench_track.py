"""Tracked shapes against the masks they came from, on every kind of input: one table.

    .venv/bin/python benchmarks/bench_track.py [--smoothing S] [--key-tolerance K] [--key-measure M]
        [--set FIELD=VALUE ...] [--only NAMES] [--temporal-window W] [--known-motion] [--bent]

Rows: the demo shot (24 frames, two people), the CIHP known motions (a real CIHP part map moved
by a known rotation, scale, bend and translation, people renumbered at random on every frame of
the last; written by ``tests/test_track_motion.py``'s generator), the ViViD DensePose part clip
``upper1`` (decoded to part ids as ``tests/test_track_real.py`` does), and every DAVIS sequence
in ../shared/data/davis (whole-person mattes). With ``--known-motion``, each CIHP row is
followed by a ``known`` row: the first frame's per-frame shapes carried by the known motion and
keyed at the same tolerance, the reference a tracker that ignores each frame's pixel staircase
would reach. Measured as an outsider would
(``m2fp_roto.qa.track_metrics``, which shares nothing with the code that fixes outlines):

- ``cross %``: shape-frames whose outline crosses itself (curve sampled every <= 0.5 px,
  shapely ``LinearRing.is_simple``); ``hole x``: hole-frames crossing or leaving their parent.
- ``own min``: the least share of a shape's area on its own person's pixels, over shapes and
  frames; ``other max``: the largest share on other people's pixels (a swap, or an edge out
  onto a neighbour; ``own min`` also counts background under an edge).
- ``split``: shapes per (person, part) present in the shot, at most; ``short``: shapes alive
  fewer than 3 frames; ``leaps``: shape-frames where a shape lands on another piece (overlaps
  its outline of the frame before by under 5 %, one a quarter the other's size or less).
- ``IoU area``: all regions' intersections over all unions (pixel-centre rasterization; islands
  and holes under ``--min-area`` left out); ``gap`` the worst shape's median IoU below what the
  per-frame vectorizer (``--no-track``) gets on the same frames; ``min5`` the least IoU of a
  shape alive >= 5 frames on any frame; ``IoU p10`` the 10th percentile over regions.
- ``bd mean`` / ``bd p95``: distance (px) between the curves and each frame's mask iso-line: the
  mean, and the mean over frames of each frame's 95th percentile.
- ``keys``: keys per frame of lifetime, mean over shapes alive >= 5 frames; ``bent`` (with
  ``--bent``: the shot tracked once more, keyed on every frame): the median over their frames
  of how far the outline is, at its farthest point, from the blend of its outlines on the
  frames either side (px). Where it exceeds the key tolerance, the motion itself needs a key on
  most frames.
- ``jit/naive``: jitter of the anchors' paths over that of the naive per-frame outline (DAVIS).
- ``const``: share of shapes with one point count; ``points``: anchors per shape, the mean;
  ``s/f``: tracking CPU seconds per frame.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from m2fp_roto.cli.demo import write_label_maps
from m2fp_roto.pipeline import untracked_shapes, vectorize_source
from m2fp_roto.qa.metrics import boundary_error, drop_specks
from m2fp_roto.qa.track_metrics import (
    constant_counts,
    crossing_share,
    frame_regions,
    hole_crossings,
    jitter,
    key_ratio,
    leaps,
    naive_outline_paths,
    path_jitter,
    pooled_iou,
)
from m2fp_roto.sources.labelmaps import LabelMapSource
from m2fp_roto.sources.temporal import Majority
from m2fp_roto.tracking.track import TrackOptions, track_contours
from m2fp_roto.vectorize import VectorizeOptions

ROOT = Path(__file__).resolve().parents[1]
DAVIS = ROOT.parent / "shared" / "data" / "davis" / "Annotations"
MIN_AREA = VectorizeOptions().min_area
MOTIONS = ("rotation", "scale", "bend", "translation")  # the CIHP rows


def _tests():
    sys.path.insert(0, str(ROOT / "tests"))
    import test_track_motion
    import test_track_real

    return test_track_motion, test_track_real


def davis_sequences() -> list[str]:
    """The DAVIS rows: every sequence in ../shared/data/davis."""
    return sorted(p.name for p in DAVIS.iterdir()) if DAVIS.is_dir() else []


def row_names() -> list[str]:
    """The names of ``sources``' rows, in order (``--only`` picks among them)."""
    return ["demo", *(f"cihp-{kind}" for kind in MOTIONS), "vivid-upper1", *davis_sequences()]


def sources(tmp: Path, only):
    """(name, source, truth) of every benchmark input: truth is None where the person maps do
    not say who is who, else ``{frame: {id in the map: true id}}`` (empty: the ids are true)."""
    def wanted(name):
        return not only or name in only

    if wanted("demo"):
        labels, people = write_label_maps(tmp / "demo", 24)
        yield "demo", LabelMapSource(labels, people), {}
    motion, real = _tests()
    for kind in MOTIONS:
        if wanted(f"cihp-{kind}"):
            folder = tmp / kind
            folder.mkdir()
            labels, people, _, truth, _ = motion._write_sequence(folder, kind, permute=kind == "translation")
            yield f"cihp-{kind}", LabelMapSource(labels, people, label_set="cihp"), truth
    if wanted("vivid-upper1"):
        folder = tmp / "vivid"
        folder.mkdir()
        yield "vivid-upper1", LabelMapSource(real._densepose_label_maps(folder, step=1), label_set="cihp"), None
    for seq in davis_sequences():
        if wanted(seq):
            yield seq, LabelMapSource(str(DAVIS / seq / "#####.png"), label_set="matte"), None


def true_people(parsing, truth: dict):
    """``parsing`` with its person ids replaced by the true ones."""
    lut = np.arange(max(int(parsing.people.max()), max(truth.get(parsing.frame, {0: 0}))) + 1)
    for new, old in truth.get(parsing.frame, {}).items():
        lut[new] = old
    return dataclasses.replace(parsing, people=lut[parsing.people])


def owners(shapes, parsing) -> dict:
    """{tracked person: the true person under most of their shapes on ``parsing``'s frame}."""
    from m2fp_roto.bezier import rasterize

    out = {}
    for p in {s.person for s in shapes}:
        drawn = rasterize([s.points_at(parsing.frame) for s in shapes if s.person == p and not s.hole
                           and s.alive(parsing.frame)], [], parsing.parts.shape)
        ids = parsing.people[drawn]
        ids = ids[ids > 0]
        if len(ids):
            out[p] = int(np.bincount(ids).argmax())
    return out


def known_motion_shapes(per_frame: dict, kind: str, hw, options: TrackOptions) -> list:
    """The per-frame vectorizer's shapes of the first frame carried over the shot by the known
    motion of a CIHP sequence (anchors and handle tips alike), keyed as the tracker keys
    (``reduce_keys`` at its tolerance): what a tracker that follows the motion exactly, blind to
    the staircase of each frame's pixels, would give."""
    from m2fp_roto.document import Key, Shape
    from m2fp_roto.tracking.keys import reduce_keys

    motion, _ = _tests()
    frames = sorted(per_frame)
    first, span = frames[0], frames[-1] - frames[0]
    out = []
    for s in untracked_shapes({first: per_frame[first]}):
        p = s.points_at(first)
        moved = []
        for f in frames:
            t = (f - first) / span
            xy = motion._move(p[:, :2], kind, 0.0, t, hw)
            tips = [motion._move(p[:, :2] + p[:, k:k + 2], kind, 0.0, t, hw) - xy for k in (2, 4)]
            moved.append(np.hstack([xy, *tips]))
        moved = np.stack(moved)
        kept = reduce_keys(moved, options.key_tolerance, options.key_measure)
        name = s.name.removesuffix(f"_f{first}")
        out.append(Shape(name, s.person, s.part, (first, frames[-1]), [Key(frames[k], moved[k]) for k in kept],
                         hole=s.hole, parent=s.parent.removesuffix(f"_f{first}") if s.parent else None))
    return out


def measure(name, source, truth, options: TrackOptions, tracked=None, shapes=None, bent=False) -> dict:
    """One row: ``tracked`` (default ``source``) vectorized and tracked (or ``shapes`` as given),
    measured against ``source``; ``bent``: add the ``bent`` column (tracks once more)."""
    per_frame = vectorize_source(tracked or source)
    t0 = time.process_time()
    shapes = track_contours(per_frame, options) if shapes is None else shapes
    spf = (time.process_time() - t0) / len(per_frame)
    reference = untracked_shapes(per_frame)
    fits, regions, bd = collections.defaultdict(list), [], []
    who: dict = {}  # tracked person -> true person, from the first frame they are seen on
    for f in sorted(per_frame):
        parsing = source.parse(f)
        if truth:
            parsing = true_people(parsing, truth)
        if truth is not None:
            who = {**owners(shapes, parsing), **who}
        alive = [s for s in reference if s.alive(f)]
        got, shape_fits = frame_regions(shapes, parsing, MIN_AREA, owner=lambda p: who.get(p, p), reference=alive)
        regions += got
        for fit in shape_fits:
            fits[fit.name].append(fit)
        if name not in ("demo",) and not name.startswith(("cihp", "vivid")):
            mask = drop_specks(parsing.parts > 0, MIN_AREA)
            bd.append(boundary_error(mask, [s.points_at(f) for s in shapes if s.alive(f)]))
    lives = {s.name: s.frames[1] - s.frames[0] + 1 for s in shapes}
    gaps, min5 = [], []
    for n, v in fits.items():
        iou = np.array([x.iou for x in v])
        ref = np.array([x.reference_iou for x in v])
        if np.isfinite(iou).any() and np.isfinite(ref).any():
            gaps.append(np.nanmedian(ref) - np.nanmedian(iou))
        if lives.get(n, 0) >= 5 and np.isfinite(iou).any():
            min5.append(np.nanmin(iou))
    per_part = collections.Counter((s.person, s.part) for s in shapes if not s.hole)
    long_lived = [s for s in shapes if lives[s.name] >= 5]
    row = {
        "sequence": name, "frames": len(per_frame), "shapes": len(shapes),
        "cross %": 100 * crossing_share(shapes), "hole x": len(hole_crossings(shapes)),
        "own min": min(x.own_person for v in fits.values() for x in v) if truth is not None else float("nan"),
        "other max": max(x.other_person for v in fits.values() for x in v) if truth is not None else float("nan"),
        "split": max(per_part.values()), "short": sum(v < 3 for v in lives.values()), "leaps": len(leaps(shapes)),
        "IoU area": pooled_iou(regions), "gap": max(gaps), "min5": min(min5) if min5 else float("nan"),
        "IoU p10": float(np.percentile([r.iou for r in regions], 10)),
        "bd mean": float(np.mean([b[0] for b in bd])) if bd else float("nan"),
        "bd p95": float(np.mean([b[1] for b in bd])) if bd else float("nan"),
        "keys": float(np.mean([key_ratio(s) for s in long_lived])) if long_lived else float("nan"),
        "bent": float("nan"), "jit/naive": float("nan"), "const": constant_counts(shapes),
        "points": float(np.mean([len(s.keys[0].points) for s in shapes])), "s/f": spf,
    }
    if bent:  # the motion the keys follow: every frame a key
        dense = track_contours(per_frame, dataclasses.replace(options, key_tolerance=1e-9))
        row["bent"] = float(np.median(np.concatenate([bends(s) for s in dense if s.frames[1] - s.frames[0] >= 4])))
    if bd:
        masks = [source.parse(f).parts > 0 for f in sorted(per_frame)]
        row["jit/naive"] = jitter(shapes) / float(path_jitter(naive_outline_paths(masks, 32)).mean())
    return row


def bends(shape) -> np.ndarray:
    """Per inner frame of ``shape``'s lifetime: how far (px) its outline is, at its farthest
    point, from the blend of its outlines on the frames either side - what a key on every
    other frame would leave; over ``key_tolerance``, a frame needs a key of its own."""
    from m2fp_roto.tracking.keys import curve_positions

    pos = curve_positions(shape.points_over(np.arange(shape.frames[0], shape.frames[1] + 1)))
    return np.linalg.norm(pos[1:-1] - 0.5 * (pos[:-2] + pos[2:]), axis=-1).max(-1)


def print_table(rows: list[dict]):
    print(" | ".join(f"{c:>9}" for c in rows[0]))
    for r in rows:
        print(" | ".join(f"{v:9.3f}" if isinstance(v, float) else f"{v!s:>9}" for v in r.values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoothing", type=float, default=TrackOptions.smoothing)
    parser.add_argument("--key-tolerance", type=float, default=TrackOptions.key_tolerance)
    parser.add_argument("--key-measure", default=TrackOptions.key_measure, choices=("max", "rms"))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any TrackOptions field (repeatable), e.g. anchor_tolerance=0.75")
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--bent", action="store_true", help="add the bent column (tracks every row twice)")
    parser.add_argument("--known-motion", action="store_true",
                        help="after each CIHP row, the first frame's shapes moved by the known motion")
    parser.add_argument("--temporal-window", type=int, default=1,
                        help="clean the parse up in time first (sources.temporal.Majority; 1: off)")
    args = parser.parse_args()
    fields = {f.name: f.type for f in dataclasses.fields(TrackOptions)}
    extra = dict(item.split("=", 1) for item in args.set)
    unknown = set(extra) - set(fields)
    if unknown:
        parser.error(f"no TrackOptions field {sorted(unknown)}; fields: {', '.join(fields)}")
    typed = {k: type(getattr(TrackOptions, k))(v) for k, v in extra.items()}
    flags = dict(smoothing=args.smoothing, key_tolerance=args.key_tolerance, key_measure=args.key_measure)
    options = TrackOptions(**{**flags, **typed})  # --set smoothing=2 is --smoothing 2
    only = {s for s in args.only.split(",") if s}
    if only - set(row_names()):
        parser.error(f"no row {sorted(only - set(row_names()))}; rows: {', '.join(row_names())}")
    others = "".join(f", {k} {v}" for k, v in typed.items() if k not in flags)
    print(f"smoothing {options.smoothing}, key tolerance {options.key_tolerance} px ({options.key_measure}), "
          f"edge tolerance {options.edge_tolerance} px{others}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, truth in sources(Path(tmp), only):
            tracked = Majority(source, args.temporal_window) if args.temporal_window > 1 else source
            rows.append(measure(name, source, truth, options, tracked, bent=args.bent))
            if args.known_motion and name.startswith("cihp-"):
                per_frame = vectorize_source(source)
                hw = source.parse(min(per_frame)).parts.shape
                moved = known_motion_shapes(per_frame, name.removeprefix("cihp-"), hw, options)
                rows.append(measure(f"{name} known", source, truth, options, shapes=moved))
            print(f"  {name} done", file=sys.stderr, flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
