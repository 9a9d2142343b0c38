"""Roto jobs on disk: one folder per job, one process per run.

A job lives in ``--jobs-dir/<id>/``, the id 22 random URL-safe characters (128 bits from
:mod:`secrets`), so that knowing one job's address tells nothing about another's::

    job.json      its state, progress and files (written atomically, read by every worker)
    request.json  what to do (the checked form fields)
    input/        the upload (and what a zip unpacked to)
    work/         the parse cache and the files before they are zipped
    out/          what ``GET /api/jobs/{id}/files/{name}`` serves, and nothing else
    run.lock      held (``flock``) by the job's process for as long as it lives
    cancel        present once a cancel was asked for
    log.txt       the process's own messages

The runner (:mod:`.runner`) is started in its own session and ends with the worker that started
it. Whether it still lives is told by its lock, not by a pid: a job that is not finished but
whose lock is free was cut short (the server stopped or the process crashed) and is reported
failed, or cancelled when a cancel had been asked for. The workers share nothing but this
folder, so any worker answers for any job.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..atomic import atomic_write_text
from .errors import ApiError

TERMINAL = ("done", "failed", "cancelled")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
STALE_RESERVATION = 3600.0  # seconds a folder without job.json may stay (an upload cut off mid-way)


class JobFolder:
    """The files of one job (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self.status_file = self.path / "job.json"
        self.request_file = self.path / "request.json"
        self.input, self.work, self.out = self.path / "input", self.path / "work", self.path / "out"
        self.lock_file, self.cancel_flag, self.log = self.path / "run.lock", self.path / "cancel", self.path / "log.txt"

    @property
    def id(self) -> str:
        return self.path.name

    def read(self) -> dict:
        return json.loads(self.status_file.read_text(encoding="utf-8"))

    def write(self, status: dict) -> None:
        atomic_write_text(self.status_file, json.dumps(status, indent=1))

    def request(self) -> dict:
        return json.loads(self.request_file.read_text(encoding="utf-8"))

    def runner_alive(self) -> bool:
        """Whether a process holds this job's lock (its runner, or the worker starting one)."""
        try:
            fd = os.open(self.lock_file, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the lock if we took it
        return False

    def output(self, name: str) -> Path:
        """The path of output ``name``: only plain file names, only files directly in ``out/``."""
        if not FILE_NAME.fullmatch(name) or ".." in name:
            raise ApiError(404, f"no file {name!r} in this job")
        path = self.out / name
        if path.is_symlink() or not path.is_file() or path.resolve().parent != self.out.resolve():
            raise ApiError(404, f"no file {name!r} in this job")
        return path


def now() -> float:
    return round(time.time(), 3)


class JobStore:
    """Every job under ``config.jobs_dir``; ``config.job_slots`` run at once, ``config.queue``
    more may wait, ``config.job_ttl`` seconds after finishing a job is deleted."""

    def __init__(self, config):
        self.config = config
        self.root = Path(config.jobs_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ".slots").mkdir(exist_ok=True)
        self._children: list[subprocess.Popen] = []  # runners this worker started, reaped when they end

    # -- finding -----------------------------------------------------------------------
    def folder(self, job_id: str) -> JobFolder:
        if not JOB_ID.fullmatch(job_id or ""):
            raise ApiError(404, "no such job (the id is malformed)")
        folder = JobFolder(self.root / job_id)
        if not folder.status_file.is_file():
            raise ApiError(404, "no such job (unknown, deleted, or expired after --job-ttl)")
        return folder

    def status(self, job_id: str) -> dict:
        return self.resolve(self.folder(job_id))

    def resolve(self, folder: JobFolder) -> dict:
        """The job's state; an unfinished job whose process is gone becomes failed (or cancelled)."""
        status = folder.read()
        if status["state"] in TERMINAL or folder.runner_alive():
            return status
        status = folder.read()  # it may have finished between the two reads
        if status["state"] not in TERMINAL:
            if folder.cancel_flag.exists():
                status.update(state="cancelled", message="cancelled")
            else:
                status.update(state="failed", message="the job's process ended before the job did (the server "
                              "was restarted or the process was killed); submit the job again")
            status["finished"] = status["updated"] = now()
            status["eta_s"] = None
            folder.write(status)
        return status

    def jobs(self):
        for path in self.root.iterdir():
            if JOB_ID.fullmatch(path.name) and (path / "job.json").is_file():
                yield JobFolder(path)

    def active(self) -> list[dict]:
        """States of the jobs queued or running."""
        out = []
        for folder in self.jobs():
            try:
                status = self.resolve(folder)
            except (OSError, ValueError):
                continue  # deleted while we looked
            if status["state"] not in TERMINAL:
                out.append(status)
        return out

    # -- creating ----------------------------------------------------------------------
    @contextmanager
    def _admission(self):
        fd = os.open(self.root / ".admission.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def admit(self) -> None:
        """429 with Retry-After when ``job_slots + queue`` jobs are already queued or running."""
        active = self.active()
        limit = self.config.job_slots + self.config.queue
        if len(active) >= limit:
            etas = [s["eta_s"] for s in active if s.get("eta_s")]
            retry = max(5, int(min(etas))) if etas else 30
            raise ApiError(429, f"the server is busy: {len(active)} roto jobs are queued or running "
                                f"(--job-slots {self.config.job_slots}, --queue {self.config.queue}); retry in "
                                f"about {retry} s", {"Retry-After": str(retry)})

    def reserve(self) -> JobFolder:
        """A new, empty job folder with a fresh id (its upload goes into ``input/``)."""
        while True:
            folder = JobFolder(self.root / secrets.token_urlsafe(16))
            try:
                folder.path.mkdir(mode=0o700)
                break
            except FileExistsError:  # 2^-128; but never reuse a folder
                continue
        for sub in (folder.input, folder.work, folder.out):
            sub.mkdir()
        return folder

    def discard(self, folder: JobFolder) -> None:
        shutil.rmtree(folder.path, ignore_errors=True)

    def start(self, folder: JobFolder, request: dict, summary: dict) -> dict:
        """Write the job's request and state and start its process; returns the state."""
        request = {**request, "jobs_root": str(self.root), "job_slots": self.config.job_slots,
                   "max_pixels": self.config.max_pixels, "max_frames": self.config.max_frames}
        atomic_write_text(folder.request_file, json.dumps(request, indent=1))
        with self._admission():
            self.admit()
            fd = os.open(folder.lock_file, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # handed to the runner: the job is alive from here on
                status = {"id": folder.id, "state": "queued", "created": now(), "updated": now(), "started": None,
                          "finished": None, "message": "waiting for a free slot", "stage": None, "stages": [],
                          "progress": 0.0, "eta_s": None, "warnings": [], "files": [], "frames": [],
                          **summary}
                folder.write(status)
                self._children = [c for c in self._children if c.poll() is None]
                with open(folder.log, "ab") as log:
                    child = subprocess.Popen(
                        [sys.executable, "-m", "m2fp_roto.serve.runner", str(folder.path), "--parent", str(os.getpid()),
                         "--lock-fd", str(fd)],
                        pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        cwd=folder.path, start_new_session=True)
                self._children.append(child)
            except OSError as exc:
                self.discard(folder)
                raise ApiError(500, f"cannot start the job's process: {exc}") from None
            finally:
                os.close(fd)
        return status

    # -- ending ------------------------------------------------------------------------
    def cancel(self, job_id: str, grace: float = 5.0) -> dict:
        """Stop a queued or running job (its whole process group); returns its final state."""
        folder = self.folder(job_id)
        status = self.resolve(folder)
        if status["state"] in TERMINAL:
            return status
        folder.cancel_flag.touch()  # the runner also looks for it between frames
        sent, start = [], time.monotonic()
        while folder.runner_alive() and time.monotonic() - start < grace + 3.0:
            pid = folder.read().get("pid")  # the runner writes it first thing
            late = time.monotonic() - start > grace
            for sig in (signal.SIGTERM, signal.SIGKILL) if late else (signal.SIGTERM,):
                if pid and sig not in sent and folder.runner_alive():
                    try:
                        os.killpg(int(pid), sig)  # the runner leads its own session: its group is its own
                    except (ProcessLookupError, PermissionError):
                        pass
                    sent.append(sig)
            time.sleep(0.05)
        return self.resolve(folder)

    def delete(self, job_id: str) -> None:
        self.cancel(job_id)
        self.discard(self.folder(job_id))

    def sweep(self) -> int:
        """Delete jobs finished longer than ``job_ttl`` ago and abandoned reservations; mark
        jobs whose process is gone as failed. Returns how many folders were deleted."""
        self._children = [c for c in self._children if c.poll() is None]  # no zombies
        deleted, t = 0, time.time()
        for path in list(self.root.iterdir()):
            if not JOB_ID.fullmatch(path.name):
                continue
            folder = JobFolder(path)
            try:
                if not folder.status_file.exists():
                    expired = t - path.stat().st_mtime > STALE_RESERVATION
                else:
                    status = self.resolve(folder)
                    expired = status["state"] in TERMINAL and t - (status["finished"] or t) > self.config.job_ttl
            except (OSError, ValueError):
                continue
            if expired:
                shutil.rmtree(path, ignore_errors=True)
                deleted += 1
        return deleted
