"""One roto job, in its own process: ``python -m m2fp_roto.serve.runner JOB_FOLDER --parent PID``.

It runs the CLI's pipeline on the job's input (label maps through ``LabelMapSource``; pictures
through ``open_plate`` + ``PlateParsingSource`` + the M2FP parser, with the parse cache in the
job's ``work/``), writes every output into ``out/`` (:mod:`.outputs`) and its state into
``job.json`` as it goes: the stage, each stage's progress and an estimate of the time left.

Stage progress arrives the way the CLI reports it in farm logs: :class:`m2fp_roto.progress.Progress`
prints ``PROGRESS n% stage`` lines, here into a :class:`ProgressSink` instead of stderr.

It ends with the worker that started it (so a server restart leaves no job running unseen),
ends on SIGTERM or a ``cancel`` file (the job is then cancelled), waits for one of the
``--job-slots`` slot locks while queued (oldest job first), and holds the job's ``run.lock``,
inherited from the worker, for as long as it lives.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path

from ..errors import RotoError
from ..workers import end_with_parent
from .errors import ApiError
from .jobs import JOB_ID, TERMINAL, JobFolder, now

log = logging.getLogger("m2fp_roto")

STAGES = {  # name: (label on the page, share of a job's time)
    "unpack": ("Reading the upload", 2),
    "parse": ("Parsing people (M2FP)", 60),
    "vectorize": ("Vectorizing outlines", 12),
    "track": ("Tracking shapes", 12),
    "export": ("Writing Nuke, AE, EXR and JSON", 8),
    "frames": ("Masks, part maps and previews", 6),
}


class Cancelled(BaseException):
    """The job was cancelled (SIGTERM or the cancel file); not an error of the job."""


class Reporter:
    """The job's state while it runs; writes ``job.json`` at most 5 times a second."""

    def __init__(self, folder: JobFolder, stages: list[str]):
        self.folder = folder
        self.status = folder.read()
        self.names = stages
        self.done = dict.fromkeys(stages, 0.0)
        self._saved = 0.0
        self.status.update(pid=os.getpid(), stages=[self._stage(n) for n in stages])
        self.save(force=True)

    def _stage(self, name: str) -> dict:
        return {"name": name, "label": STAGES[name][0], "progress": 0.0}

    def check_cancel(self) -> None:
        if self.folder.cancel_flag.exists():
            raise Cancelled()

    def set(self, **fields) -> None:
        self.status.update(fields)
        self.save(force=True)

    def stage(self, name: str) -> None:
        """Enter stage ``name``; every stage before it counts as finished."""
        if name not in self.done:
            return
        for previous in self.names[:self.names.index(name)]:
            self.done[previous] = 1.0
        self.status["stage"] = name
        self.status["message"] = STAGES[name][0]
        log.info("stage %s", name)
        self.save(force=True)

    def progress(self, name: str, fraction: float) -> None:
        if name not in self.done:
            return
        if self.status.get("stage") != name:
            self.stage(name)
        self.done[name] = min(max(fraction, 0.0), 1.0)
        self.save()

    def warn(self, message: str) -> None:
        warnings = self.status.setdefault("warnings", [])
        if len(warnings) < 50:
            warnings.append(self.scrub(message))
        self.save()

    def scrub(self, text: str) -> str:
        """``text`` without the server's job-folder path (clients see job-relative names)."""
        return str(text).replace(str(self.folder.path) + os.sep, "").replace(str(self.folder.path), ".")

    def save(self, force: bool = False) -> None:
        self.check_cancel()
        t = time.time()
        if not force and t - self._saved < 0.2:
            return
        total = sum(STAGES[n][1] for n in self.names)
        overall = sum(STAGES[n][1] * self.done[n] for n in self.names) / total
        for entry in self.status["stages"]:
            entry["progress"] = round(self.done[entry["name"]], 4)
        started = self.status.get("started")
        eta = None
        if started and overall > 0.03:
            eta = round((t - started) * (1 - overall) / overall, 1)
        self.status.update(progress=round(overall, 4), eta_s=eta, updated=now())
        self.folder.write(self.status)
        self._saved = t

    def finish(self, state: str, message: str, **fields) -> None:
        if state == "done":
            self.done = dict.fromkeys(self.names, 1.0)
        self.status.update(state=state, message=self.scrub(message), finished=now(), **fields)
        self._saved = 0.0
        try:
            self.save(force=True)
        except Cancelled:  # a cancel that arrived as the job ended: the job still ended
            self.folder.write(self.status)
        if state != "done":
            self.status["eta_s"] = None
            self.folder.write(self.status)


class ProgressSink:
    """A text stream for :class:`~m2fp_roto.progress.Progress`: ``PROGRESS n% stage`` lines move
    the job's progress; any other text goes to the job's log."""

    line = re.compile(r"PROGRESS (\d+)% ?(\S*)")

    def __init__(self, reporter: Reporter, log_stream):
        self.reporter, self.log_stream, self._buffer = reporter, log_stream, ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            match = self.line.fullmatch(line.strip())
            if match:
                self.reporter.progress(match.group(2), int(match.group(1)) / 100)
            elif line.strip():
                print(line, file=self.log_stream, flush=True)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class WarningsToJob(logging.Handler):
    def __init__(self, reporter: Reporter):
        super().__init__(logging.WARNING)
        self.reporter = reporter

    def emit(self, record):
        self.reporter.warn(record.getMessage())


# --------------------------------------------------------------------------- slots

def _jobs_ahead(folder: JobFolder, created: float) -> int:
    """Queued jobs, still alive, created before this one."""
    ahead = 0
    for path in folder.path.parent.iterdir():
        if path == folder.path or not JOB_ID.fullmatch(path.name):
            continue
        other = JobFolder(path)
        try:
            status = other.read()
        except (OSError, ValueError):
            continue
        if status["state"] == "queued" and status["created"] < created and other.runner_alive():
            ahead += 1
    return ahead


def take_slot(folder: JobFolder, slots: int, reporter: Reporter) -> int:
    """Wait (oldest queued job first) for one of ``slots`` slot locks; returns its fd."""
    slot_dir = folder.path.parent / ".slots"
    created = reporter.status["created"]
    shown = None
    while True:
        reporter.check_cancel()
        ahead = _jobs_ahead(folder, created)
        if ahead == 0:
            for k in range(slots):
                fd = os.open(slot_dir / f"{k}.lock", os.O_CREAT | os.O_RDWR, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
        message = f"waiting for a free slot ({ahead} job{'s' * (ahead != 1)} ahead)" if ahead else \
            "waiting for a free slot"
        if message != shown:
            reporter.set(message=message)
            shown = message
        time.sleep(0.25)


# --------------------------------------------------------------------------- main

def _on_sigterm(signum, frame):
    raise Cancelled()


def run_job(folder: JobFolder) -> None:
    from .pipeline_job import JobRun

    request = folder.request()
    try:
        reporter = Reporter(folder, JobRun.stages_for(request))
    except Cancelled:  # cancelled before it began: the store reports it so
        return
    handler = WarningsToJob(reporter)
    log.addHandler(handler)
    slot = None
    try:
        reporter.check_cancel()
        slot = take_slot(folder, int(request.get("job_slots", 1)), reporter)
        reporter.set(state="running", started=now(), message="starting")
        sys.stderr = ProgressSink(reporter, sys.__stdout__)  # tracking's Progress writes to stderr
        result = JobRun(folder, request, reporter, sys.stderr).run()
        reporter.finish("done", result.pop("message"), **result)
    except Cancelled:
        reporter.finish("cancelled", "cancelled")
    except (RotoError, ApiError) as exc:
        reporter.finish("failed", str(getattr(exc, "message", exc)))
    except Exception as exc:
        traceback.print_exc(file=sys.__stdout__)
        reporter.finish("failed", f"internal error ({type(exc).__name__}: {exc}); the server's job log has details")
    finally:
        sys.stderr = sys.__stderr__
        log.removeHandler(handler)
        if slot is not None:
            os.close(slot)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="m2fp_roto.serve.runner", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--parent", type=int, required=True, help="pid of the worker; the job ends with it")
    parser.add_argument("--lock-fd", type=int, help="the inherited run.lock descriptor (kept open, not passed on)")
    args = parser.parse_args(argv)
    end_with_parent(args.parent)
    if args.lock_fd is not None:
        os.set_inheritable(args.lock_fd, False)
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    folder = JobFolder(args.folder)
    if folder.read()["state"] in TERMINAL:
        return 0
    try:
        run_job(folder)
    finally:
        from .outputs import clean_work

        clean_work(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
