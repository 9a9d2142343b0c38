"""Per-frame contours -> shot-long roto shapes with a fixed point count, identity and few keys.

The stages (see :mod:`.association`, :mod:`.spacetime`, :mod:`.keys`):

1. ``identify_people`` - shot-wide person ids, whatever the per-frame numbering.
2. ``component_tracks`` - per (person, part), connected components linked frame to frame
   (IoU and centroid, Hungarian); which links become shapes (``_k`` names for a part's second
   piece) and which are the parse's fragments, joined or left out, is :mod:`.fragments`'.
   Holes are linked the same way inside their shape's main piece.
3. ``track_shape`` - per track, with tolerances closer on narrow parts (``for_width``): the
   point count most frames need (``point_count``), anchors followed from the reference frame
   (the largest sighting) and spread along each outline (:mod:`.placement`), their paths
   smoothed in spacetime and put back on each outline (``_on_outline``, :mod:`.outline`),
   handles fitted per frame; where spans stay worse than ``refine_error`` on many frames the
   shape gets more anchors (on every frame); every frame made simple and, where the smoothing
   pulled it off its outline (0.5 px on average, or IoU under 0.8), fitted on its own instead;
   where it still overlaps its outline less than 0.9, its anchors placed again on that frame,
   and where a corridor joining pieces is drawn as a wedge, rearranged (:mod:`.frame_repair`).
4. keys reduced (:mod:`.keys`), holes kept inside their parents (:mod:`.holes`); a shape is
   hidden on the frames of its lifetime where its region is not seen (``Shape.hidden``).

Over 400 lines: the stages share TrackOptions and the per-track data layout, and splitting
``track_shape``'s helpers from it would scatter one algorithm over two modules.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from contextlib import closing

import numpy as np

from ..crossings import untangle
from ..document import Key, Shape, shape_name
from ..fitting import CORNER_ANGLE, find_corners, fit_ring, fit_rings
from ..geometry import polygon_area, ring_length, simple_ring, unit
from ..progress import Progress
from ..vectorize import ring_tolerance
from .association import associate, blob, grid_width, identify_people
from .corridors import Corridors, narrowed
from .fragments import TOUCH, joins, ring_gap, settle, within
from .frame_repair import nearest_samples, repair_frame
from .holes import keep_inside
from .keys import keep_faithful, keep_simple, reduce_keys
from .outline import cast_on_ring, curves, increasing, ring_at, take_corners
from .placement import even, follow, ring_motions, ring_sample_normals, ring_trees
from .spacetime import ordered_positions, person_motions, ring_normals, smooth_series, snap, spacetime_solve

log = logging.getLogger("m2fp_roto")

#: Handles are smoothed in time with this share of the anchors' smoothing: enough to keep the curve
#: between anchors from flickering with the label staircase, little enough to follow a limb.
HANDLE_SMOOTHING = 0.2
#: Tangential data weight of a corner anchor: held along the outline as firmly as across it.
CORNER_SLIDE = 1.0
#: px: parts at least this wide get the anchor and edge tolerances in full; thinner ones (a
#: hand, a strap, a kite line) get them in proportion, since half a pixel off is a large share
#: of a part a few pixels across - down to half the anchor tolerance (more points) and a tenth
#: of the edge tolerance (anchors on the edge).
FULL_WIDTH = 40.0


@dataclasses.dataclass
class TrackOptions:
    """key_tolerance: px a shape's outline may stray from its tracked self between keys (linear blend).
    key_measure: "max" (every point along the outline within key_tolerance) or "rms" (over them).
    key_floor: least IoU the blend between two keys keeps with each frame's outline in between,
        where the tracked frame itself overlaps it more (a part a few px across needs a key
        where 1 px of blend costs it a quarter of its area; 0: off).
    smoothing: weight of the temporal second-difference term on the anchors' paths; the anchors
        stay on each frame's outline whatever it is (0 follows every frame's correspondence).
    min_frames: the temporal clean-up of the parse: a region seen on fewer frames than this is
        flicker, not a shape - joined to another piece of its part seen on the same frame, or
        left out - unless its person's part is seen that briefly in the whole shot (1: off).
    min_share: a component of a part is a shape of its own only where it covers at least this
        share of the part's area (median over the frames it is seen); smaller ones are the
        parse's slivers, joined to the part's shape where they touch it (0: off). A brief piece
        of a matte joins a shape it touches only where it has this share of the shape's area.
    robust: px/frame^2 above which an acceleration counts as real motion, not flicker (Huber knee;
        0 smooths every acceleration alike).
    edge_tolerance: px an anchor may sit off its frame's outline, towards its smooth path: the
        mask's flicker below it is ridden over (fewer keys, steadier points), above it followed
        (less on parts narrower than ``FULL_WIDTH``, as is ``anchor_tolerance``).
    max_gap: frames a person, part or hole may be missing and still keep its shape track; a
        part split for fewer frames than this stays one shape (the pieces joined).
    slide: weight of the tangential data term; small lets anchors slide along the edge.
    iterations: spacetime solve / re-projection rounds.
    anchor_tolerance: px tolerance of the per-frame fits that set a shape's point count (the
        count most frames need; fewer anchors when larger).
    corner_angle: turning angle (degrees) above which the per-frame fits keep a sharp corner.
    refine_error: px; when some spans are worse than this on more than a tenth of the frames,
        the shape gets that many more anchors (on every frame).
    refine_rounds: at most this many rounds of adding anchors per shape.
    """

    key_tolerance: float = 1.0
    key_measure: str = "max"
    key_floor: float = 0.9
    smoothing: float = 0.5
    min_frames: int = 3
    min_share: float = 0.15
    robust: float = 2.0
    edge_tolerance: float = 0.5
    max_gap: int = 5
    slide: float = 0.05
    iterations: int = 2
    anchor_tolerance: float = 1.0
    corner_angle: float = CORNER_ANGLE
    refine_error: float = 1.5
    refine_rounds: int = 1


@dataclasses.dataclass
class RingTrack:
    """The rings of one region on the frames where it is seen, and the shape it will become."""

    person: int
    part: str
    component: int
    hole: int
    rings: dict  # {frame: (M, 2) smoothed ring}
    # {frame: [corridors.Corridor, ...]}: frames whose ring joins pieces (``geometry.bridge_rings``)
    joined: dict = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return shape_name(self.person, self.part, self.component, self.hole)

    @property
    def parent(self) -> str | None:
        return shape_name(self.person, self.part, self.component) if self.hole else None


def component_tracks(per_frame: dict, people: dict, max_gap: int, min_frames: int = 1,
                     min_share: float = 0.0) -> list[RingTrack]:
    """Link every (person, part) component and hole over the shot into ring tracks.

    The linked components of each region are sorted by ``fragments.settle``: lasting ones,
    large or apart from the person's other parts, are shapes (one seen beside a shape's for
    fewer than ``max_gap`` frames, near it, continues that shape); on the frames a shape has
    several pieces, its outline is their union by thin corridors (``corridors.Corridors``).
    Fragments (seen on fewer than ``min_frames`` frames, or under ``min_share`` of the region's
    area amid the person's other parts) are joined to the nearest shape where they nearly touch
    it and left out elsewhere; their holes are dropped, as are holes seen on fewer than
    ``min_frames`` frames of a shape that lives longer.
    """
    width = grid_width(per_frame)
    regions: dict = {}  # (person, part) -> {frame: {component: {hole: ring}}}
    for frame, contours in per_frame.items():
        for c in contours:
            who = people[frame].get(c.person, c.person)
            ring = simple_ring(c.ring)  # no simple curve can follow a ring that touches itself
            regions.setdefault((who, c.part), {}).setdefault(frame, {}).setdefault(c.component, {})[c.hole] = ring
    outers, blobs = {}, {}
    for region, frames in regions.items():
        outers[region] = {f: {k: h[0] for k, h in comp.items() if 0 in h} for f, comp in frames.items()}
        blobs[region] = {f: [blob(k, [r], width) for k, r in rings.items()] for f, rings in outers[region].items()}
    body: dict = {}  # (person, frame) -> (cells of all their parts, the part of each cell)
    for (who, p), by_frame in blobs.items():
        for f, found in by_frame.items():
            body.setdefault((who, f), []).extend((b.cells, np.full(len(b.cells), p, object)) for b in found)
    body = {k: tuple(np.concatenate(v) for v in zip(*pieces)) for k, pieces in body.items()}
    corridors = Corridors(outers)
    tracks = []
    for (person, part), frames in sorted(regions.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        outer, comps = outers[(person, part)], blobs[(person, part)]
        cells = {f: {b.key: b.cells for b in found} for f, found in comps.items()}
        others = {f: body[person, f][0][body[person, f][1] != part] for f in comps}  # the person's other parts
        shapes, pieces = settle(associate(comps, max_gap, width), outer, cells, max_gap, min_frames, min_share,
                                others, width)
        # per shape: {frame: outer ring}, {frame: component its holes come from}, {frame: corridors}
        drawn, main, joined = [], [], []
        for shape in shapes:
            seen = {}
            for t in shape:
                for f, c in t.members.items():
                    seen.setdefault(f, []).append(c)
            main.append({f: max(cs, key=lambda c: abs(polygon_area(outer[f][c]))) for f, cs in seen.items()})
            rings, corridors_of = {}, {}
            for f, cs in seen.items():
                ring = outer[f][main[-1][f]]
                for c in sorted(cs, key=lambda c: -abs(polygon_area(outer[f][c]))):
                    if c != main[-1][f]:
                        ring, drawn_corridors = corridors.bridge(ring, outer[f][c], f, person)
                        corridors_of.setdefault(f, []).extend(drawn_corridors)
                rings[f] = ring
            drawn.append(rings)
            joined.append(corridors_of)
        for piece in pieces:
            # A piece with little of the person's other parts around it (a matte's) is joined
            # only where it touches a shape and has ``min_share`` of its area: a piece beside
            # two pieces of a foot is the foot; a speck apart or along the body's edge, joined,
            # would change the silhouette where the mask has none, or make it boil.
            apart = not within(piece, cells, others, width, 0.2)
            for f, c in piece.members.items():
                hosts = [k for k, rings in enumerate(drawn) if f in rings]
                if hosts:
                    gaps = {k: ring_gap(drawn[k][f], outer[f][c]) for k in hosts}
                    host = min(gaps, key=gaps.get)
                    if apart and (gaps[host] > TOUCH or abs(polygon_area(outer[f][c]))
                                  < min_share * abs(polygon_area(drawn[host][f]))):
                        continue
                    holes = [r for j, r in frames[f][main[host][f]].items() if j]
                    if joins(outer[f][c], drawn[host][f], holes):
                        drawn[host][f], drawn_corridors = corridors.bridge(drawn[host][f], outer[f][c], f, person)
                        joined[host].setdefault(f, []).extend(drawn_corridors)
        for k, rings in enumerate(drawn):
            tracks.append(RingTrack(person, part, k, 0, rings, joined[k]))
            holes = {f: [blob(j, [r], width) for j, r in frames[f][c].items() if j] for f, c in main[k].items()}
            # A hole may leap: between kite lines one closes as another opens beside it, and
            # either way it is cut from its shape (held to LEAP, such holes ended and blinked out).
            for ht in associate(holes, max_gap, width, leap=0.0):
                if len(ht.members) < min_frames <= len(rings):
                    continue  # a hole that blinks open is flicker too
                hole_rings = {f: frames[f][main[k][f]][j] for f, j in ht.members.items()}
                tracks.append(RingTrack(person, part, k, ht.label, hole_rings))
    return tracks


def track_shape(rings: dict, options: TrackOptions, prior=None,
                joined=None) -> tuple[int, np.ndarray, np.ndarray]:
    """(first frame, points (F, N, 6) on every frame of the lifetime, observed (F,) bool) of one
    ring track.

    ``prior(a, b)``: optional motion of the whole person from frame a to b (see ``track_start``).
    ``joined``: {frame: [corridors.Corridor, ...]} of the frames whose ring joins pieces: its
    anchors are rearranged where a corridor would be drawn as a wedge
    (``frame_repair.close_corridor``), and each is drawn as a hairline (``corridors.narrowed``).
    Frames without a ring (a part hidden, a frame with no label map) get the linear blend of
    their observed neighbours, so the points go on smoothly; ``track_contours`` hides the shape
    on those frames, except where the shot has no parse.
    """
    seen = sorted(rings)
    first, last = seen[0], seen[-1]
    n_frames = last - first + 1
    observed = np.zeros(n_frames, bool)
    observed[np.array(seen) - first] = True
    reference = max(seen, key=lambda f: abs(polygon_area(rings[f])))
    ring = rings[reference]
    options = for_width(options, [rings[f] for f in seen])
    if len(seen) == 1:  # a one-frame sighting: nothing to follow or smooth
        fitted = fit_ring(ring, options.anchor_tolerance, find_corners(ring, options.corner_angle))
        return first, untangle(fitted)[0][None], observed
    top = int(np.lexsort((ring[:, 0], ring[:, 1]))[0])  # where the per-frame fit starts too
    n = point_count([rings[f] for f in seen], options)
    # Whatever the anchors: made once.
    motions, trees, normals = ring_motions(rings, reference, prior), ring_trees(rings), ring_sample_normals(rings)
    for round_ in range(options.refine_rounds + 1):
        u = follow(rings, reference, even(top, n, len(ring)), motions=motions, trees=trees, normals=normals)
        anchors, on, corner, idx = _on_outline(rings, u, first, n_frames, observed, options, trees)
        corner = np.broadcast_to(corner, (n_frames, n))
        points, errors = curves(rings, idx, anchors, corner, first, observed, HANDLE_SMOOTHING * options.smoothing)
        bad = int(((errors > options.refine_error).mean(0) > 0.1).sum())
        if not bad or round_ == options.refine_rounds:
            break
        n += bad
    joined = joined or {}
    for f in seen:
        i = f - first
        points[i] = repair_frame(points[i], rings[f], idx[f], on[i], corner[i], options.anchor_tolerance,
                                 options.corner_angle, joined.get(f, ()))
        if joined.get(f):
            points[i] = narrowed(points[i], joined[f])
    points = _blend_gaps(points, observed)
    seen_at = np.flatnonzero(observed)
    for i in np.flatnonzero(~observed):  # a blend that crosses itself holds the nearest sighting
        points[i], simple = untangle(points[i])
        if not simple:
            points[i] = points[seen_at[np.argmin(np.abs(seen_at - i))]]
    return first, points, observed


def _on_outline(rings, u, first, n_frames, observed, options, trees):
    """(anchors (F, N, 2), the same exactly on the outline, corner flags (N,), their nearest
    sample indices {frame: (N,)}): the anchors' paths smoothed in spacetime and put back on each
    observed frame's outline in order, then let off it by at most ``edge_tolerance`` towards
    the paths. ``u`` {frame: (N,)} are where they start (continuous sample positions).

    An anchor that sits nearest one of the outline's corners on most frames is a corner
    anchor: its data on every frame is the corner nearest it, held along the outline as firmly
    as across it, so it stays on the corner, smoothly; the others never take a corner (no
    anchor hops between corners that come and go). ``trees``: ``placement.ring_trees(rings)``.
    """
    n = len(next(iter(u.values())))
    placed, u = u, dict(u)
    corners = {f: find_corners(ring, options.corner_angle) for f, ring in rings.items()}
    found = np.array([take_corners(u[f], corners[f], len(ring))[1] for f, ring in rings.items()])
    corner = found.mean(0) > 0.5
    slide = np.where(corner, CORNER_SLIDE, options.slide)
    for _ in range(max(options.iterations, 1)):
        q = np.zeros((n_frames, n, 2))
        normals = np.zeros((n_frames, n, 2))
        for f, ring in rings.items():
            at = take_corners(u[f], corners[f], len(ring), corner)[0]
            q[f - first] = ring_at(ring, at)
            normals[f - first] = ring_normals(ring, np.round(at).astype(np.int64))
        paths = spacetime_solve(q, normals, observed, options.smoothing, slide, options.robust)
        # Back across the outline along the paths' own (smoothed) normals.
        across = unit(smooth_series(normals, observed, options.smoothing))
        for f, ring in rings.items():
            expected = ordered_positions(ring, paths[f - first], u[f] / len(ring), tree=trees[f])
            idx = snap(ring, paths[f - first], expected)
            u[f] = cast_on_ring(ring, paths[f - first], idx, across[f - first])
    u = _towards_placed(u, placed, {f: len(r) for f, r in rings.items()}, first, n_frames, observed)
    on = np.zeros((n_frames, n, 2))
    for f, ring in rings.items():
        on[f - first] = ring_at(ring, u[f])
    # Within edge_tolerance of the outline, the smooth path wins: flicker smaller than that is
    # ridden over, anything larger followed.
    off = ((paths - on) * across).sum(-1, keepdims=True)
    anchors = on + np.clip(off, -options.edge_tolerance, options.edge_tolerance) * across
    return anchors, on, corner, {f: nearest_samples(v, len(rings[f])) for f, v in u.items()}


#: Temporal smoothing of the pull back towards the followed places (see ``_towards_placed``):
#: strong, so it corrects the paths' slow drift along the outline without adding the followed
#: places' frame-to-frame noise.
DRIFT_SMOOTHING = 10.0


def _towards_placed(u: dict, placed: dict, sizes: dict, first: int, n_frames: int, observed) -> dict:
    """``u`` {frame: positions (N,)} (where the smooth paths meet each frame's outline) moved along
    the outline by the slowly varying part of their distance to ``placed`` (the same anchors as
    followed and evenly spread, ``placement.follow``), in units of the local spacing.

    Left to the paths, anchors drift along the outline where a part moves fast or deforms (their
    along-edge data term is weak), bunch up and leave a stretch of outline to one cubic; pulled
    onto the followed places frame by frame, they would crawl with those places' noise.
    """
    n = len(next(iter(u.values())))
    share = np.zeros((n_frames, n, 1))
    for f, m in sizes.items():
        spacing = np.diff(np.append(placed[f], placed[f][0] + m))
        local = 0.5 * (spacing + np.roll(spacing, 1))
        share[f - first, :, 0] = np.clip(((placed[f] - u[f] + m / 2) % m - m / 2) / np.maximum(local, 1.0), -1, 1)
    share = smooth_series(share, observed, DRIFT_SMOOTHING)
    out = {}
    for f, m in sizes.items():
        spacing = np.diff(np.append(placed[f], placed[f][0] + m))
        local = 0.5 * (spacing + np.roll(spacing, 1))
        out[f] = increasing(u[f] + share[f - first, :, 0] * np.maximum(local, 1.0), m)
    return out


def width(rings: list) -> float:
    """px across a shape seen as ``rings``: twice its median area over its median perimeter (a
    strip's width, a disc's radius)."""
    area = np.median([abs(polygon_area(r)) for r in rings])
    return 2.0 * float(area) / max(float(np.median([ring_length(r) for r in rings])), 1e-9)


def for_width(options: TrackOptions, rings: list) -> TrackOptions:
    """``options`` for a shape seen as ``rings``: anchor and edge tolerances scaled down on
    parts narrower than ``FULL_WIDTH``."""
    scale = float(np.clip(width(rings) / FULL_WIDTH, 0.1, 1.0))
    return dataclasses.replace(options, anchor_tolerance=options.anchor_tolerance * max(scale, 0.5),
                               edge_tolerance=options.edge_tolerance * scale)


def point_count(rings: list, options: TrackOptions) -> int:
    """Anchors for a shape seen as ``rings``: what nine frames in ten need, fitted on their own
    (Schneider, within ``anchor_tolerance``, less on small parts as the vectorizer does, see
    ``vectorize.ring_tolerance``), at least 4."""
    step = max(1, len(rings) // 24)  # a sample of the frames is enough to know the count
    sample = rings[::step]
    tolerance = ring_tolerance(options.anchor_tolerance, float(np.median([abs(polygon_area(r)) for r in sample])))
    fits = fit_rings(sample, tolerance, [find_corners(r, options.corner_angle) for r in sample])
    return max(4, int(np.ceil(np.percentile([len(p) for p in fits], 90))))


def _blend_gaps(points: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Frames not observed get the linear blend of the observed frames around them."""
    if observed.all():
        return points
    seen = np.flatnonzero(observed)
    frames = np.arange(len(points))
    out = points.copy()
    flat = points.reshape(len(points), -1)
    for k in range(flat.shape[1]):
        out.reshape(len(points), -1)[:, k] = np.interp(frames, seen, flat[seen, k])
    return out


def frame_runs(frames) -> list[tuple[int, int]]:
    """``[(first, last), ...]``: the runs of consecutive numbers in ``frames``, in order."""
    frames = sorted(frames)
    starts = [f for i, f in enumerate(frames) if not i or frames[i - 1] != f - 1]
    ends = [f for i, f in enumerate(frames) if i == len(frames) - 1 or frames[i + 1] != f + 1]
    return list(zip(starts, ends))


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
    per_frame = {int(f): c for f, c in per_frame.items()}
    frames = sorted(per_frame)
    per_frame = {f: per_frame[f] for f in frames if per_frame[f]}  # in frame order, however it arrived
    if not per_frame:
        return []
    skipped = set(range(frames[0], frames[-1] + 1)) - set(frames)
    if skipped:
        log.warning("%d frame(s) between %d and %d have no parse: shapes are interpolated through them, "
                    "not keyed there", len(skipped), frames[0], frames[-1])
    people = identify_people(per_frame, options.max_gap)
    tracks = component_tracks(per_frame, people, options.max_gap, options.min_frames, options.min_share)
    priors = _person_priors(tracks)
    shapes = []
    solved = _solve_tracks([(t.rings, priors[t.person], skipped, t.joined) for t in tracks], options, workers, mapper)
    # closing: the pool stops here, not whenever the suspended generator is collected
    with Progress(sum(len(t.rings) for t in tracks), "track", enabled=progress) as bar, closing(solved):
        holes, hidden = {}, {}
        for t, (first, points, observed, kept) in zip(tracks, solved):
            keys = [Key(first + int(k), points[k]) for k in kept]
            last = first + len(points) - 1
            hidden[t.name] = {first + int(i) for i in np.flatnonzero(~observed)} - skipped
            if t.hole:  # a hole drawn without its shape would cut whatever lies below
                hidden[t.name] |= {f for f in hidden[t.parent] if first <= f <= last}
            shapes.append(Shape(t.name, t.person, t.part, (first, last), keys, component=t.component,
                                hole=bool(t.hole), parent=t.parent, hidden=frame_runs(hidden[t.name])))
            if t.hole:
                holes[t.name] = (first, points, observed)
            bar.advance(len(t.rings))
    keep_inside(shapes, holes, options, skipped)
    return shapes


# Below this many track-frames, starting worker processes costs more than it saves.
_PARALLEL_FROM = 200


def _solve_tracks(jobs: list, options: TrackOptions, workers: int, mapper=None):
    """``_solve_track`` of every ``(rings, person motions, skipped frames, corridors by frame)`` job, in
    order (see :func:`..workers.ordered_map` for how the worker processes start and stop)."""
    if mapper is not None and jobs:
        yield from mapper(_solve_track, *zip(*jobs), [options] * len(jobs))
        return
    if workers <= 1 or len(jobs) < 2 or sum(len(job[0]) for job in jobs) < _PARALLEL_FROM:
        yield from (_solve_track(*job, options) for job in jobs)
        return
    from ..workers import ordered_map

    yield from ordered_map(_solve_track, [(*job, options) for job in jobs], workers)


def _solve_track(rings: dict, motions: dict, skipped: set, joined: dict, options: TrackOptions):
    """(first frame, points (F, N, 6), observed frames (F,), key indices) of one track.

    Keys are reduced over the frames the shape was seen on; where the blend between two keys
    would overlap a frame's outline less than ``options.key_floor`` (``keep_faithful``), that
    frame becomes a key too, and where it would cross itself, a frame of the shot that has a
    parse (``skipped`` frames, which have none, never are).

    The rings are copied first: delivered by a Dask worker as views into its network buffer,
    the same values gave outlines up to 0.05 px apart. BLAS runs on one thread: its sums come
    out in a thread-count dependent order (Dask workers run one thread, a process as many as
    it likes), and a last-bit difference may flip a discrete choice. So the result is the same
    anywhere."""
    from threadpoolctl import threadpool_limits

    rings = {f: np.array(r, dtype=np.float64) for f, r in rings.items()}
    with threadpool_limits(1, user_api="blas"):
        first, points, observed = track_shape(rings, options, lambda a, b: motions.get((a, b)), joined)
        kept = reduce_keys(points, options.key_tolerance, options.key_measure, observed)
        kept = keep_faithful(points, kept, rings, first, options.key_floor)
    may_key = np.array([first + i not in skipped for i in range(len(points))])
    return first, points, observed, keep_simple(points, kept, may_key | observed)
