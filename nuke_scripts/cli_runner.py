"""Run the ``m2fp-roto`` command line from inside Nuke (stdlib only).

Nuke's Python usually cannot import the toolkit (torch, OpenCV ... live in the toolkit's own
environment), so Nuke runs its CLI as a subprocess. The CLI prints ``PROGRESS n% label`` lines on
stderr when stderr is not a terminal; :func:`run_cli` turns them into progress callbacks, and
stops the process when the caller says the user cancelled.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time

CLI_ENV = "M2FP_ROTO_CLI"
PROGRESS = re.compile(r"^PROGRESS\s+(\d{1,3})%\s*(.*)$")


class CliError(RuntimeError):
    """The command line could not run or failed; the message is its own last error line."""


class Cancelled(RuntimeError):
    """The user cancelled; the subprocess has been stopped."""


def find_cli() -> str:
    """The ``m2fp-roto`` executable: ``$M2FP_ROTO_CLI``, else the one on ``PATH``."""
    path = os.environ.get(CLI_ENV)
    if path:
        if not os.path.isfile(path):
            raise CliError(f"{CLI_ENV} is set to {path}, which is not a file")
        return path
    found = shutil.which("m2fp-roto")
    if not found:
        raise CliError("the m2fp-roto command was not found: install the toolkit and put it on PATH, "
                       f"or set {CLI_ENV} to its full path (m2fp-roto install nuke does that)")
    return found


def run_cli(args, on_progress=None, is_cancelled=None, poll: float = 0.05, cli: str | None = None) -> str:
    """Run ``m2fp-roto ARGS``; return its stdout.

    Parameters
    ----------
    args : list of str
        Arguments after the program name, e.g. ``["export", "--doc", "shot.json", ...]``.
    on_progress : callable(percent: int, label: str), optional
        Called for every ``PROGRESS`` line on stderr.
    is_cancelled : callable() -> bool, optional
        Polled while the process runs; when it returns True the process is stopped and
        :class:`Cancelled` is raised.

    Raises
    ------
    CliError
        The program is missing or exited with an error (message: its last stderr line).
    """
    cmd = [cli or find_cli(), *map(str, args)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env, text=True, encoding="utf-8", errors="replace",
                                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console on Windows
    except OSError as exc:
        raise CliError(f"cannot start {cmd[0]}: {exc.strerror}") from None
    errors, lock, updates = [], threading.Lock(), []

    def read_stderr():
        for line in proc.stderr:
            line = line.rstrip("\r\n")
            m = PROGRESS.match(line)
            with lock:
                if m:
                    updates.append((min(int(m.group(1)), 100), m.group(2)))
                elif line.strip():
                    errors.append(line.strip())

    out = []
    readers = [threading.Thread(target=read_stderr, daemon=True),
               threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)]
    for t in readers:
        t.start()
    try:
        while proc.poll() is None:
            _deliver(updates, lock, on_progress)
            if is_cancelled is not None and is_cancelled():
                _stop(proc)
                raise Cancelled("cancelled")
            time.sleep(poll)
    finally:
        if proc.poll() is None:
            _stop(proc)
        for t in readers:
            t.join(timeout=5)
    _deliver(updates, lock, on_progress)
    if proc.returncode != 0:
        last = errors[-1] if errors else f"{os.path.basename(cmd[0])} exited with status {proc.returncode}"
        raise CliError(last)
    return "".join(out)


def _deliver(updates, lock, on_progress):
    with lock:
        pending = updates[:]
        del updates[:]
    if on_progress:
        for pct, label in pending:
            on_progress(pct, label)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
