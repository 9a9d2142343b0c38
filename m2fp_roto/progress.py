"""Progress over a shot: a bar on a terminal, plain ``PROGRESS n%`` lines in farm logs."""

from __future__ import annotations

import os
import sys

# "openjd": Open Job Description's own progress and status lines (set by farm-job's templates).
PROGRESS_ENV = "M2FP_ROTO_PROGRESS"


class Progress:
    """``with Progress(total, "vectorize") as p: p.advance()``.

    On a TTY it draws a tqdm bar on stderr; otherwise it prints ``PROGRESS n% label`` lines
    (0 % when the stage starts, then each whole percent once), which farm log parsers and the
    Nuke/AE front ends read. With ``$M2FP_ROTO_PROGRESS=openjd`` the lines are
    ``openjd_status: label`` (once) and ``openjd_progress: n``, which Open Job Description
    runners show as the task's progress.
    """

    def __init__(self, total: int, label: str = "", stream=None, enabled: bool = True):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.stream = stream or sys.stderr
        self._bar = None
        self._last = -1
        self.enabled = enabled
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=label, unit="frame", file=self.stream, leave=False)
        elif enabled:  # a farm log sees the stage start, not only its first step
            self._last = 0
            self._line(0)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        pct = int(100 * self.done / self.total)
        if pct != self._last:
            self._last = pct
            self._line(pct)

    def _line(self, pct: int) -> None:
        if os.environ.get(PROGRESS_ENV) != "openjd":
            self._say(f"PROGRESS {pct}% {self.label}".rstrip())
            return
        if pct == 0 and self.label:
            self._say(f"openjd_status: {self.label}")
        self._say(f"openjd_progress: {pct}")

    def _say(self, line: str) -> None:
        # One write with its newline: print() writes the end apart, and an interrupt between the
        # two would leave the line open, so the command's last line ("interrupted by ...") joined it.
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    @classmethod
    def reporter(cls, label: str, **kwargs):
        """A ``progress(done, total)`` callback (what exporters call) drawing this progress:
        the bar starts at the first call and closes when ``done`` reaches ``total``."""
        state = {}

        def report(done: int, total: int) -> None:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = cls(total, label, **kwargs)
            bar.advance(done - bar.done)
            if done >= total:
                bar.close()

        return report

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
