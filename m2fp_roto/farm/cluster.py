"""Per-frame work and track solves on a Dask ``distributed`` cluster.

The client opens the shot as usual (plate, parser, cache key); the source then travels to every
worker once, inside a worker plugin (:class:`.worker.ShotPlugin`), so each worker process builds one
parser and loads the model once, on its first uncached frame. Tasks are batches of consecutive
frames (the parser's ``batch_size``): decode, parse (through the shared parse cache, atomic per
frame) and, for ``export``, vectorize; only contours travel back. A task whose worker dies is
run again elsewhere by the scheduler, and the frames it had already cached are read back, not
parsed again. Tracking then sends each (person, part) track solve to the cluster
(:func:`cluster_map`). Results are gathered in frame and track order, so the document is the
one a single process builds.

Paths (plate, parse cache, model) must mean the same on the client and on every worker: a
shared file system, as on any render farm.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from contextlib import contextmanager

from ..errors import InputError, RotoError
from ..progress import Progress

log = logging.getLogger("m2fp_roto")

_LOCAL = re.compile(r"local(?::(\d+))?")


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise InputError(f"--cluster needs Dask ({exc}): pip install 'm2fp-roto[dask]'") from None
    return distributed


@contextmanager
def connect(address: str):
    """A ``distributed.Client`` for ``--cluster ADDRESS``, closed (with its cluster) on exit.

    ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes on this machine,
    bound to 127.0.0.1 (``local`` alone: one per CPU, at most 8); anything else
    (``tcp://scheduler:8786``, ``scheduler:8786``) joins a running scheduler, waiting for it as
    long as Dask's ``distributed.comm.timeouts.connect`` says (30 s unless configured).
    """
    distributed = _distributed()
    address = address.strip()
    local = _LOCAL.fullmatch(address)
    cluster = None
    try:
        if local:
            from ..tracking.track import default_workers

            n = int(local.group(1)) if local.group(1) else default_workers()
            if n < 1:
                raise InputError(f"--cluster {address}: a local cluster needs at least one worker")
            # Its workers' own log lines stay quiet (a heartbeat lost while closing is no news);
            # a task's error still reaches this process and is raised here.
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                               dashboard_address=None, silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster)
        else:
            if "://" not in address:
                address = f"tcp://{address}"
            client = distributed.Client(address)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def client_for(address: str | None):
    """:func:`connect` to ``address``, or a context giving None (this process) without one."""
    if not address:
        return contextlib.nullcontext(None)
    return connect(address)


def _batches(source, frames) -> list[list[int]]:
    size = max(1, int(getattr(source, "batch_size", 1) or 1))
    return [frames[i:i + size] for i in range(0, len(frames), size)]


def run_frames(client, source, options=None, progress: Progress | None = None) -> dict:
    """Run every frame of ``source`` on the cluster of ``client``.

    ``options`` (:class:`~m2fp_roto.vectorize.VectorizeOptions`): vectorize too and return
    ``{frame: [Contour, ...]}`` in frame order (what :func:`m2fp_roto.pipeline.vectorize_source`
    returns); None: only parse into the cache and return ``{frame: None}``. Frames that could
    not be read with the plate's ``skip_missing`` are dropped from ``source.frames``; the
    frames sent to the parser are added to ``source.parsed``.
    """
    distributed = _distributed()
    frames = list(source.frames)
    from .worker import ShotPlugin, batch_task

    batches = _batches(source, frames)
    name = f"m2fp-roto-shot-{uuid.uuid4().hex}"
    client.register_plugin(ShotPlugin(name, source), name=name)
    futures = client.map(batch_task, [name] * len(batches), batches, [options] * len(batches), pure=False)
    sizes = {future.key: len(batch) for future, batch in zip(futures, batches)}
    done: dict = {}
    try:
        for future in distributed.as_completed(futures):
            try:
                results, parsed = future.result()  # a task's error (e.g. an unreadable frame) is raised here
            except distributed.KilledWorker as exc:
                raise RotoError(f"workers kept dying on frames {', '.join(map(str, batches[futures.index(future)]))}"
                                f" ({exc}); see the workers' logs (out of memory?)") from None
            if hasattr(source, "parsed"):
                source.parsed += parsed
            done.update(results)
            if progress:
                progress.advance(sizes[future.key])
    finally:
        client.cancel(futures)
        client.unregister_worker_plugin(name)
    for frame in frames:
        if frame not in done:
            log.warning("frame %d could not be read; skipped", frame)
            source.frames.remove(frame)
    if not done:
        raise InputError("no frame could be read")
    return {f: done[f] for f in frames if f in done}


def cluster_map(client):
    """A ``map(fn, *iterables)`` that runs each call as a task on ``client``'s cluster and
    yields the results in order (what :func:`m2fp_roto.tracking.track.track_contours` takes)."""

    def map_(fn, *iterables):
        import dask

        # The jobs travel inside the task graph (tens of MB on a long shot), not scattered: the
        # scheduler keeps them, so a job whose worker dies runs again elsewhere.
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GB"}):
            futures = client.map(fn, *iterables, pure=False)
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel(futures)

    return map_
