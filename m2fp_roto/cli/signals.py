"""SIGINT and SIGTERM as one clean interrupt.

A farm stops a job with SIGTERM, an artist with Ctrl-C (SIGINT to the whole process group).
Both become :class:`Interrupted` in the main thread, so the command unwinds like any error: the
atomic writers remove their temporary files, worker pools stop their processes, and the command
says what it had written and exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
Only the first signal interrupts: a second one while unwinding (a repeated Ctrl-C) would
otherwise break off that clean-up and leave litter behind, so it is noted and ignored.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The command was stopped by ``signum``; a KeyboardInterrupt, so clean-up code sees one."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class _Handler:
    """Raises :class:`Interrupted` on the first signal; ignores any later one, and every signal
    once the command is over (:meth:`finish`), when there is nothing left to stop."""

    def __init__(self):
        self.raised = self.over = False

    def __call__(self, signum, frame):
        if self.over:
            return
        if self.raised:
            print(f"{signal.Signals(signum).name}: already stopping, cleaning up", file=sys.stderr, flush=True)
            return
        self.raised = True
        raise Interrupted(signum)

    def finish(self) -> None:
        self.over = True


@contextmanager
def interrupts(restore: bool = True):
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (once) in the main thread;
    yields the handler, whose ``finish()`` says the command's work is over.

    ``restore``: put the previous handlers back afterwards (the CLI also runs inside test
    processes and inside other tools' Python); a process about to exit ignores both signals
    instead, so that one arriving as it exits changes nothing (Python's shutdown puts the
    default action back in place of any handler of ours, which would end it killed after its
    work was done). Outside the main thread this does nothing.
    """
    import threading

    handler = _Handler()
    if threading.current_thread() is not threading.main_thread():
        yield handler
        return
    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield handler
    finally:
        handler.finish()
        for s, old in previous.items():
            signal.signal(s, (signal.SIG_DFL if old is None else old) if restore else signal.SIG_IGN)
