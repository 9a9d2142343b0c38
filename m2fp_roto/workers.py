"""Worker processes that stop cleanly: results in order, and no hang, orphan or leak on any
interrupt.

Tracks are solved in spawned processes (not forked: the parent may hold BLAS or OpenCV threads,
which a fork can deadlock). Each worker has a pipe of its own, so no queue lock or semaphore is
shared: a killed worker cannot leave one held or leaked. Workers ignore SIGINT and SIGTERM (they
start with both blocked, so a Ctrl-C to the process group during their start-up cannot reach
them either); the parent alone decides when they stop. On any exception or interrupt it kills
them (SIGKILL) and waits for them, and a worker whose parent was killed outright ends itself
within half a second.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from .errors import RotoError

_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_alive: set = set()  # started workers not yet reaped (killed at exit should a caller leak them)


def ordered_map(fn: Callable, jobs: Iterable[tuple], workers: int) -> Iterator:
    """``fn(*job)`` for every job, computed in ``workers`` spawned processes, yielded in job order.

    ``fn`` must be a module-level function (it travels to the workers by name). An exception in
    a worker is raised here, with the worker's traceback as a note.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    jobs = list(jobs)
    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    try:
        # Started first on its own: it unblocks SIGINT and SIGTERM after starting itself, which
        # would open the door inside the block below.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        for _ in range(max(1, min(int(workers), len(jobs)))):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(there, fn, os.getpid()), name="m2fp-roto worker")
            with _blocked(_SIGNALS):
                proc.start()
            _alive.add(proc)
            there.close()
            procs.append(proc)
            conns.append(here)
        queue = iter(enumerate(jobs))
        busy: dict = {}  # connection -> index of the job it is working on
        results: dict = {}

        def feed(conn) -> None:
            nxt = next(queue, None)
            if nxt is not None:
                busy[conn] = nxt[0]
                try:
                    conn.send(nxt[1])
                except OSError:
                    raise _lost() from None

        for conn in conns:
            feed(conn)
        for want in range(len(jobs)):
            while want not in results:
                for conn in wait(list(busy)):
                    try:
                        ok, value = conn.recv()
                    except (EOFError, OSError):
                        raise _lost() from None
                    index = busy.pop(conn)
                    if not ok:
                        raise value
                    results[index] = value
                    feed(conn)
            yield results.pop(want)
        for conn in conns:
            conn.send(None)  # done: the workers return
    finally:
        _stop(procs, conns)


def _lost() -> RotoError:
    return RotoError("a worker process ended unexpectedly (killed, or out of memory?); "
                     "run with fewer --workers")


def _stop(procs, conns) -> None:
    for proc in procs:
        if proc.exitcode is None:
            proc.join(0.05 if proc.is_alive() else 0)
        if proc.exitcode is None:
            proc.kill()
        proc.join()
        _alive.discard(proc)
    for conn in conns:
        conn.close()


@atexit.register
def _kill_leftovers() -> None:
    """Registered after multiprocessing's own exit handler, so it runs first: that one joins every
    child, which would wait for a worker a caller forgot to close."""
    for proc in list(_alive):
        proc.kill()
        proc.join()
    _alive.clear()


@contextmanager
def _blocked(signals):
    """Block ``signals`` in this thread (children inherit the mask); pending ones arrive after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _serve(conn, fn, parent: int) -> None:
    """A worker: ignore interrupts, follow the parent, run jobs until told to stop."""
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # pending ones are discarded: ignored
    end_with_parent(parent)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            reply = (True, fn(*job))
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note("in a worker process:\n" + traceback.format_exc())
            reply = (False, exc)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception:  # an exception that does not pickle
            conn.send((False, RuntimeError("in a worker process:\n" + traceback.format_exc())))


def end_with_parent(parent: int) -> None:
    """End this worker within half a second of its parent ending (POSIX: an orphan is handed to
    another parent), so an export killed outright (SIGKILL) leaves no process behind."""
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
