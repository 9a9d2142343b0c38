"""Parsed frames -> RotoDocument: vectorize every frame, then (optionally) track over the shot."""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict

from . import __version__
from .document import Key, RotoDocument, Shape, shape_name
from .errors import FrameSkipped, InputError
from .progress import Progress
from .sources.frames import format_frames
from .vectorize import VectorizeOptions, vectorize_parsing

log = logging.getLogger("m2fp_roto")


def vectorize_source(source, options: VectorizeOptions = VectorizeOptions(), progress: Progress | None = None):
    """{frame: [Contour, ...]} for every frame of ``source`` (any parsing backend); a frame the
    source skips (:class:`FrameSkipped`, e.g. unreadable under ``--skip-missing``) is left out.

    Frames are vectorized in a second thread while the next one is parsed: the network (and a
    label map's decoding) runs in C without the GIL, so a parse that takes longer than the
    vectorizing hides it. The result is the same as one frame after the other.
    """
    per_frame: dict = {}
    behind: deque = deque()  # (frame, its vectorizing, or None where the frame was skipped)

    def collect(keep: int) -> None:
        while len(behind) > keep:
            frame, job = behind.popleft()
            if job is not None:
                per_frame[frame] = job.result()
            if progress:
                progress.advance()

    with side_thread("m2fp-roto vectorize") as pool:
        for frame in source.frames:
            try:
                behind.append((frame, pool.submit(vectorize_parsing, source.parse(frame), options)))
            except FrameSkipped as exc:
                log.warning("%s; skipped", exc)
                behind.append((frame, None))
            collect(keep=1)
        collect(keep=0)
    if not per_frame:
        raise InputError("no frame could be read")
    return per_frame


@contextmanager
def side_thread(name: str):
    """One worker thread; on the way out (an error or an interrupt too) work not yet started is
    dropped and the running piece is waited for."""
    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def untracked_shapes(per_frame) -> list[Shape]:
    """Each frame's contours as separate one-key shapes, named with their frame."""
    shapes = []
    for frame, contours in per_frame.items():
        for c in contours:
            base = shape_name(c.person, c.part, c.component)
            name = shape_name(c.person, c.part, c.component, c.hole)
            shapes.append(Shape(f"{name}_f{frame}", c.person, c.part, (frame, frame), [Key(frame, c.points)],
                                component=c.component, hole=bool(c.hole),
                                parent=f"{base}_f{frame}" if c.hole else None))
    return shapes


def build_document(source, *, options: VectorizeOptions = VectorizeOptions(), track: bool = True,
                   track_options=None, progress: bool | Progress = False, workers: int = 1,
                   client=None, temporal_window: int = 1) -> RotoDocument:
    """Vectorize and track ``source``'s frames; return the validated document.

    ``track=False`` keeps every frame's shapes separate (one key each, named ``..._f{frame}``).
    ``workers`` > 1 solves tracks in that many processes (spawned: call it from a standalone
    Python whose main module has an ``if __name__ == "__main__"`` guard, not from inside Nuke).
    ``client`` (a ``distributed.Client``) runs the per-frame work and the track solves on its
    Dask cluster instead (see :mod:`m2fp_roto.farm.cluster`); the document is the same.

    ``temporal_window`` > 1 cleans the parse up in time first (each pixel's part the majority
    over that many frames, see :mod:`m2fp_roto.sources.temporal`): a parser's flicker does not
    become shapes.

    ``source`` is any parsing backend (``LabelMapSource``, ``PlateParsingSource``): it has
    ``frames``, ``width``, ``height``, ``fps``, ``pixel_aspect``, ``source``, a ``LabelSet``
    as ``label_set``, and ``parse(frame) -> Parsing``.
    """
    if temporal_window > 1:
        from .sources.temporal import Majority

        source = Majority(source, temporal_window)
    bar = progress if isinstance(progress, Progress) else Progress(len(source.frames), "vectorize",
                                                                    enabled=bool(progress))
    with bar:
        if client is None:
            per_frame = vectorize_source(source, options, bar)
        else:
            from .farm.cluster import run_frames

            per_frame = run_frames(client, source, options, bar)
    frames = sorted(per_frame)
    skipped = sorted(set(range(frames[0], frames[-1] + 1)) - set(frames))
    settings = {**asdict(options), "track": track, **({"temporal_window": temporal_window} if temporal_window > 1 else {})}
    if track:
        from .tracking.track import TrackOptions, track_contours

        topts = track_options or TrackOptions()
        mapper = None
        if client is not None:
            from .farm.cluster import cluster_map

            mapper = cluster_map(client)
        shapes = track_contours(per_frame, topts, progress=bar.enabled, workers=workers, mapper=mapper)
        settings.update(asdict(topts))
    else:
        shapes = untracked_shapes(per_frame)
    doc = RotoDocument(
        width=source.width, height=source.height, first_frame=frames[0], last_frame=frames[-1],
        pixel_aspect=source.pixel_aspect, fps=source.fps, label_set=source.label_set.name,
        source=source.source, plate=getattr(source, "plate", None), shapes=shapes,
        metadata={"tool": f"m2fp-roto {__version__}", "settings": settings, "source_frames": format_frames(frames),
                  **({"skipped_frames": format_frames(skipped)} if skipped else {})})
    return doc.validate()
