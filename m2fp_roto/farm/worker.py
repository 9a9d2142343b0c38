"""What runs on a Dask worker: the shot's plugin and the per-frame task (imports ``distributed``)."""

from __future__ import annotations

import threading

from distributed import WorkerPlugin, get_worker


class ShotPlugin(WorkerPlugin):
    """One shot's parsing source on a worker.

    It arrives pickled (a parser without its network, a plate without open files), so each
    worker process builds one parser and loads the model once, on its first uncached frame.
    A lock lets a multi-threaded worker share them (the network uses the cores itself).
    """

    def __init__(self, name: str, source):
        self.name, self.source = name, source

    def setup(self, worker):
        self.lock = threading.Lock()

    def teardown(self, worker):
        reader = getattr(self.source, "reader", None)
        if reader is not None:
            reader.close()


def batch_task(name: str, frames: list[int], options):
    """Parse ``frames`` through the cache and (``options`` given) vectorize them.

    Returns ``([(frame, contours or None), ...], frames sent to the parser)``; a frame missing
    from the list could not be read and was skipped (the plate's ``skip_missing``).
    """
    from ..errors import FrameSkipped
    from ..vectorize import vectorize_parsing

    plugin: ShotPlugin = get_worker().plugins[name]
    with plugin.lock:
        source = plugin.source
        before = getattr(source, "parsed", 0)
        if hasattr(source, "parse_frames"):  # batches cache misses within this task only
            parses = list(source.parse_frames(frames))
        else:
            parses = []
            for frame in frames:
                try:
                    parses.append(source.parse(frame))
                except FrameSkipped:  # unreadable under --skip-missing: the client warns
                    pass
        parsed = getattr(source, "parsed", 0) - before
    if options is None:
        return [(p.frame, None) for p in parses], parsed
    return [(p.frame, vectorize_parsing(p, options)) for p in parses], parsed
