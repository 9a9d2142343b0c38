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


@contextmanager
def interrupts():
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (once) in the main thread.

    The previous handlers come back afterwards (the CLI also runs inside test processes and
    inside other tools' Python). Outside the main thread this does nothing.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"raised": False}

    def handler(signum, frame):
        if state["raised"]:
            print(f"{signal.Signals(signum).name}: already stopping, cleaning up", file=sys.stderr, flush=True)
            return
        state["raised"] = True
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)
