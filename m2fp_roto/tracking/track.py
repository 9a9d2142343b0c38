"""Per-frame contours -> shot-long roto shapes with a fixed point count, identity and few keys.

The stages (see :mod:`.association`, :mod:`.spacetime`, :mod:`.keys`):

1. ``identify_people`` - shot-wide person ids, whatever the per-frame numbering.
2. ``component_tracks`` - per (person, part), connected components linked frame to frame
   (IoU and centroid, Hungarian); a split starts a new track for the smaller piece (``_k``
   names), a merge ends the smaller one, a track unseen for more than ``max_gap`` frames ends.
   Holes are linked the same way inside their component's track.
3. ``track_shape`` - per track: anchors fitted once on the reference frame (the largest
   sighting), propagated over the shot, smoothed in spacetime, handles refitted per frame;
   where one span stays worse than ``refine_error`` on many frames an anchor is added on every
   frame (the count changes shot-wide, never per frame); then keys are reduced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..document import Key, Shape, shape_name
from ..fitting import CORNER_ANGLE, find_corners, fit_handles, fit_ring
from ..geometry import polygon_area, unit
from ..progress import Progress
from .association import associate, blob, grid_width, identify_people
from .keys import reduce_keys
from .spacetime import (
    person_motions,
    propagate,
    ring_normals,
    ring_tangents,
    smooth_series,
    snap,
    solve_blocks,
    spacetime_solve,
)


@dataclass
class TrackOptions:
    """key_tolerance: px a shape's outline may stray from its tracked self between keys (linear blend).
    key_measure: "max" (every point along the outline within key_tolerance) or "rms" (over them).
    smoothing: weight of the temporal second-difference term on the anchors' paths (and handles).
    robust: px/frame^2 above which an acceleration counts as real motion, not flicker (Huber knee;
        0 smooths every acceleration alike).
    edge_smoothing: smoothing of the anchors' distance to each frame's outline (normal to it);
        0 hugs every frame's mask, larger values ride over its flicker (fewer keys, lower IoU).
    max_gap: frames a person, part or hole may be missing and still keep its shape track.
    slide: weight of the tangential data term; small lets anchors slide along the edge.
    iterations: spacetime solve / re-projection rounds.
    anchor_tolerance: px tolerance of the reference frame's fit (fewer anchors when larger).
    corner_angle: turning angle (degrees) above which an anchor is a sharp corner.
    refine_error: px; a span worse than this on more than a tenth of its frames gets an anchor.
    refine_rounds: at most this many rounds of anchor insertion per shape.
    """

    key_tolerance: float = 1.0
    key_measure: str = "max"
    smoothing: float = 0.5
    edge_smoothing: float = 0.0
    robust: float = 2.0
    max_gap: int = 5
    slide: float = 0.05
    iterations: int = 3
    anchor_tolerance: float = 1.0
    corner_angle: float = CORNER_ANGLE
    refine_error: float = 1.5
    refine_rounds: int = 2


@dataclass
class RingTrack:
    """The rings of one region on the frames where it is seen, and the shape it will become."""

    person: int
    part: str
    component: int
    hole: int
    rings: dict  # {frame: (M, 2) smoothed ring}

    @property
    def name(self) -> str:
        return shape_name(self.person, self.part, self.component, self.hole)

    @property
    def parent(self) -> str | None:
        return shape_name(self.person, self.part, self.component) if self.hole else None


def component_tracks(per_frame: dict, people: dict, max_gap: int) -> list[RingTrack]:
    """Link every (person, part) component and hole over the shot into ring tracks."""
    width = grid_width(per_frame)
    regions: dict = {}  # (person, part) -> {frame: {component: {hole: ring}}}
    for frame, contours in per_frame.items():
        for c in contours:
            who = people[frame].get(c.person, c.person)
            regions.setdefault((who, c.part), {}).setdefault(frame, {}).setdefault(c.component, {})[c.hole] = c.ring
    tracks = []
    for (person, part), frames in sorted(regions.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        comps = {f: [blob(k, [h[0]], width) for k, h in comp.items() if 0 in h] for f, comp in frames.items()}
        for ct in associate(comps, max_gap):
            k = ct.label - 1
            tracks.append(RingTrack(person, part, k, 0, {f: frames[f][c][0] for f, c in ct.members.items()}))
            holes = {f: [blob(j, [r], width) for j, r in frames[f][c].items() if j] for f, c in ct.members.items()}
            for ht in associate(holes, max_gap):
                rings = {f: frames[f][ct.members[f]][j] for f, j in ht.members.items()}
                tracks.append(RingTrack(person, part, k, ht.label, rings))
    return tracks


def _unwrap_increasing(idx: np.ndarray, m: int) -> np.ndarray:
    idx = np.asarray(idx, np.int64) % m
    idx = np.where(idx < idx[0], idx + m, idx)
    return np.maximum.accumulate(idx)


def reference_anchors(ring: np.ndarray, options: TrackOptions) -> tuple[np.ndarray, np.ndarray]:
    """Anchors of the reference ring as (sample indices (N,), corner flags (N,))."""
    from scipy.spatial import cKDTree

    corners = find_corners(ring, options.corner_angle)
    points = fit_ring(ring, options.anchor_tolerance, corners)
    idx = _unwrap_increasing(cKDTree(ring).query(points[:, :2])[1], len(ring))
    return idx, np.isin(idx % len(ring), corners)


def track_shape(rings: dict, options: TrackOptions, prior=None) -> tuple[int, np.ndarray]:
    """(first frame, points (F, N, 6) on every frame of the lifetime) of one ring track.

    ``prior(a, b)``: optional motion of the whole person from frame a to b (see ``propagate``).
    """
    seen = sorted(rings)
    first, last = seen[0], seen[-1]
    n_frames = last - first + 1
    observed = np.zeros(n_frames, bool)
    observed[np.array(seen) - first] = True
    reference = max(seen, key=lambda f: abs(polygon_area(rings[f])))
    if len(seen) == 1:  # a one-frame sighting: nothing to propagate or smooth
        ring = rings[reference]
        return first, fit_ring(ring, options.anchor_tolerance, find_corners(ring, options.corner_angle))[None]
    ref_idx, corner = reference_anchors(rings[reference], options)
    idx = propagate(rings, reference, ref_idx, prior)
    lam = options.smoothing
    for round_ in range(options.refine_rounds + 1):
        anchors, idx = _spacetime(rings, idx, first, n_frames, observed, options)
        n = len(corner)
        t_out = np.zeros((n_frames, n, 2))
        t_in = np.zeros((n_frames, n, 2))
        for f in seen:
            t_out[f - first], t_in[f - first] = ring_tangents(rings[f], idx[f], corner)
        t_out = unit(smooth_series(t_out, observed, lam))
        t_in = np.where(corner[None, :, None], unit(smooth_series(t_in, observed, lam)), -t_out)
        normal = np.zeros((n_frames, n, 2, 2))
        rhs = np.zeros((n_frames, n, 2))
        errors = np.zeros((len(seen), n))
        for row, f in enumerate(seen):
            i = f - first
            fit = fit_handles(rings[f], idx[f], anchors[i], t_out[i], t_in[i])
            errors[row], normal[i], rhs[i] = fit.error, fit.normal, fit.rhs
        bad = _spans_to_split(rings, idx, seen, errors, options)
        if not len(bad) or round_ == options.refine_rounds:
            break
        idx = {f: _insert_midpoints(i, bad, len(rings[f])) for f, i in idx.items()}
        corner = np.insert(corner, bad + 1, False)
    lengths = _handle_lengths(anchors, normal, rhs, observed, lam)
    return first, np.concatenate([anchors, t_in * np.roll(lengths[..., 1:2], 1, axis=1),
                                  t_out * lengths[..., 0:1]], axis=-1)


def _handle_lengths(anchors, normal, rhs, observed, strength) -> np.ndarray:
    """(F, N, 2) lengths (out of anchor i, into anchor i+1): every frame's least-squares fit,
    solved jointly with a temporal smoothness term; a weak pull towards a third of the chord
    keeps spans whose fit is ill-posed (straight runs) well defined."""
    chord = np.linalg.norm(np.roll(anchors, -1, axis=1) - anchors, axis=-1)
    # Each span's data term weighs about 1 per frame, as the anchors' does, so that one
    # smoothing strength means the same for long and short spans.
    trace = np.trace(normal, axis1=-2, axis2=-1)
    per_span = np.maximum(trace[observed].mean(0), 1e-9)[None, :, None, None]
    w = normal / per_span + 0.02 * np.eye(2)
    b = rhs / per_span[..., 0] + 0.02 * (chord / 3.0)[..., None]
    lengths = solve_blocks(w, b, strength)
    return np.clip(lengths, 0.0, chord[..., None])


def _spacetime(rings, idx, first, n_frames, observed, options) -> tuple[np.ndarray, dict]:
    """Snap, solve, re-project ``options.iterations`` times: (anchors (F, N, 2), the re-projected
    sample indices {frame: (N,)})."""
    idx = dict(idx)
    n = len(next(iter(idx.values())))
    anchors = None
    for it in range(max(options.iterations, 1)):
        q = np.zeros((n_frames, n, 2))
        normals = np.zeros((n_frames, n, 2))
        for f, ring in rings.items():
            q[f - first] = ring[idx[f] % len(ring)]
            normals[f - first] = ring_normals(ring, idx[f])
        anchors = spacetime_solve(q, normals, observed, options.smoothing, options.slide, options.robust)
        for f, ring in rings.items():
            idx[f] = snap(ring, anchors[f - first], _follow(ring, anchors[f - first], idx[f]))
    # Back onto the outline along its normal, with the offsets smoothed in time on their own
    # (as vectors: every frame's normal is itself a little noisy): the edge follows the mask as
    # closely as edge_smoothing asks, the paths stay smooth.
    offset = np.zeros((n_frames, n, 2))
    for f, ring in rings.items():
        nrm = ring_normals(ring, idx[f])
        offset[f - first] = ((ring[idx[f] % len(ring)] - anchors[f - first]) * nrm).sum(-1)[:, None] * nrm
    if options.edge_smoothing > 0:
        offset = smooth_series(offset, observed, options.edge_smoothing)
    return anchors + offset, idx


def _follow(ring: np.ndarray, points: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Expected sample positions for re-projecting ``points``: where each is closest on the ring,
    when that keeps the anchors' order and lies within a tenth of the ring of where it was;
    otherwise where it was. Re-projection then follows the smoothed paths instead of pinning
    anchors to their old windows (which would squeeze them together)."""
    from scipy.spatial import cKDTree

    m = len(ring)
    near = cKDTree(ring).query(points)[1]
    step = (near - idx + m // 2) % m - m // 2
    expected = np.where(np.abs(step) <= m // 10, idx + step, idx).astype(np.float64)
    bad = np.diff(np.append(expected, expected[0] + m)) <= 0
    bad |= np.roll(bad, 1)
    return np.where(bad, idx, expected).astype(np.float64)


def _spans_to_split(rings, idx, seen, errors, options) -> np.ndarray:
    """Spans (by their first anchor) that miss the outline on more than a tenth of the frames.

    Only spans at least 4 ring samples (2 px) long on every frame: one that shrinks to nothing
    somewhere (a gap closing, a limb detaching) would pile its new anchor onto its neighbours
    there, and stacked anchors fold the outline into loops.
    """
    spans = np.array([np.diff(np.append(idx[f], idx[f][0] + len(rings[f]))) for f in seen])
    bad = (errors > options.refine_error) & (spans >= 8)
    return np.flatnonzero((bad.mean(0) > 0.1) & (spans.min(0) >= 4))


def _insert_midpoints(idx: np.ndarray, spans: np.ndarray, m: int) -> np.ndarray:
    nxt = np.append(idx[1:], idx[0] + m)
    return np.insert(idx, spans + 1, (idx[spans] + nxt[spans]) // 2)


def _person_priors(tracks) -> dict:
    """{person: {(a, b): motion}} from the outer rings of all of a person's parts."""
    samples: dict = {}
    for t in tracks:
        if not t.hole:
            for f, ring in t.rings.items():
                samples.setdefault(t.person, {}).setdefault(f, []).append(ring[::4])
    return {p: person_motions({f: np.vstack(r) for f, r in frames.items()}) for p, frames in samples.items()}


def default_workers() -> int:
    """Processes for tracking: the CPUs this process may use, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 8))


def track_contours(per_frame: dict, options: TrackOptions = TrackOptions(), progress: bool = False,
                   workers: int = 1, mapper=None) -> list[Shape]:
    """Shot-long shapes from ``{frame: [Contour, ...]}`` (see :func:`vectorize.vectorize_parsing`).

    ``progress``: report progress ("track"), by the frames of each track solved.
    ``workers``: processes solving tracks side by side (the result is the same for any count).
    ``mapper``: ``mapper(fn, *iterables)`` yielding results in order, run instead of the
    process pool (e.g. :func:`m2fp_roto.farm.cluster.cluster_map` of a Dask client).
    """
    per_frame = {int(f): c for f, c in per_frame.items() if c}
    if not per_frame:
        return []
    people = identify_people(per_frame, options.max_gap)
    tracks = component_tracks(per_frame, people, options.max_gap)
    priors = _person_priors(tracks)
    shapes = []
    with Progress(sum(len(t.rings) for t in tracks), "track", enabled=progress) as bar:
        solved = _solve_tracks([(t.rings, priors[t.person]) for t in tracks], options, workers, mapper)
        for t, (first, points) in zip(tracks, solved):
            kept = reduce_keys(points, options.key_tolerance, options.key_measure)
            keys = [Key(first + int(k), points[k]) for k in kept]
            shapes.append(Shape(t.name, t.person, t.part, (first, first + len(points) - 1), keys,
                                component=t.component, hole=bool(t.hole), parent=t.parent))
            bar.advance(len(t.rings))
    return shapes


# Below this many track-frames, starting worker processes costs more than it saves.
_PARALLEL_FROM = 200


def _solve_tracks(jobs: list, options: TrackOptions, workers: int, mapper=None):
    """``track_shape`` of every ``(rings, person motions)`` job, in order (see :mod:`.pool` for
    how the worker processes start and stop)."""
    if mapper is not None and jobs:
        yield from mapper(_solve_track, *zip(*jobs), [options] * len(jobs))
        return
    if workers <= 1 or len(jobs) < 2 or sum(len(rings) for rings, _ in jobs) < _PARALLEL_FROM:
        yield from (_solve_track(rings, motions, options) for rings, motions in jobs)
        return
    from ..workers import ordered_map

    yield from ordered_map(_solve_track, [(rings, motions, options) for rings, motions in jobs], workers)


def _solve_track(rings: dict, motions: dict, options: TrackOptions):
    return track_shape(rings, options, lambda a, b: motions.get((a, b)))
