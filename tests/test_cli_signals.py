"""SIGINT and SIGTERM, as an artist and a render farm send them, to real ``m2fp-roto`` processes.

Each command runs in a session of its own (as a farm job does) and the signal goes to the whole
process group (as Ctrl-C does). Whatever the moment: the command ends within seconds with exit
status 130 or 143 and one line saying how many files it wrote; no temporary file, no worker
process, no traceback or leaked-semaphore warning is left; every file it did write is whole;
and running the same command again completes the job.

The kill points are random (a stage and a percentage of it, plus up to 0.15 s); the seed is in
every failure message and ``M2FP_ROTO_KILL_SEED`` replays it.
"""

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import OpenEXR
import pytest

from m2fp_roto.document import RotoDocument
from support.ae_node import synthetic_document
from support.nk_reader import roto_nodes
from support.procs import SESSION, processes
from support.tiny_shot import write_shot

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the process session")

SEED = int(os.environ.get("M2FP_ROTO_KILL_SEED", time.time_ns() % 10**6))
BAD = ("Traceback", "leaked", "InvalidStateError", "Fatal Python error", "Exception ignored")
INTERRUPTED = re.compile(r"^interrupted by (SIGINT|SIGTERM)(: nothing written| after writing (\d+ files|\S+))")


class Cli:
    """``m2fp-roto ARGS`` in its own session, its stderr read line by line as it comes."""

    def __init__(self, args, cwd):
        self.proc = subprocess.Popen([sys.executable, "-m", "m2fp_roto.cli", *map(str, args)], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._ended = False  # the reader's end-of-stderr mark was taken from the queue
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stdout.extend(self.proc.stdout), daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, wanted, timeout=120) -> bool:
        """Read until a line for which ``wanted(line)`` holds (True) or the end of stderr (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                self._ended = True
                return False
            if wanted(line):
                return True
        raise AssertionError(f"nothing matched within {timeout} s: {self.lines[-5:]}")

    def send(self, sig) -> None:
        os.killpg(self.proc.pid, sig)

    def session(self) -> list[int]:
        """Live processes of the command's session (it and everything it started)."""
        return processes(SESSION, self.proc.pid)

    def finish(self, timeout=30) -> int:
        """The exit status; the command must end within ``timeout`` s and leave no process behind."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"hung: no exit {timeout} s after the signal; stderr: {self.lines[-8:]}") from None
        deadline = time.monotonic() + 5
        while self.session() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.session(), f"processes outlived the command: {self.session()}"
        deadline = time.monotonic() + 5
        while not self._ended:  # take the lines not read yet: all are in self.lines at the end mark
            self._ended = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01)) is None
        return rc

    @property
    def messages(self) -> list[str]:
        return [ln for ln in self.lines if not ln.startswith("PROGRESS")]


def written_count(cli: Cli, rc: int, sig: int, where: str = "") -> int | None:
    """How many files the interrupted command says it wrote (None: it finished first); ``where``
    (the seed and kill point) heads any failure."""
    text = "\n".join(cli.lines)
    assert not any(bad in text for bad in BAD), f"{where}\n{text[-1500:]}"
    if rc == 0:
        return None
    assert rc == 128 + sig, (rc, cli.messages)
    m = INTERRUPTED.match(cli.messages[-1])
    assert m and m.group(1) == signal.Signals(sig).name, cli.messages
    if m.group(2) == ": nothing written":
        return 0
    return int(m.group(3).split()[0]) if m.group(3).endswith("files") else 1


def no_litter(folder: Path) -> list[Path]:
    """The files in ``folder``; none of them a temporary file."""
    found = sorted(p for p in folder.rglob("*") if p.is_file())
    assert not [p for p in found if ".tmp" in p.name], found
    return found


def valid(path: Path) -> bool:
    """A whole output of its kind."""
    if path.suffix == ".json":
        return bool(RotoDocument.load(path).shapes)
    if path.suffix == ".nk":
        return bool(roto_nodes(path.read_text(encoding="utf-8")))
    if path.suffix == ".jsx":
        text = path.read_text(encoding="ascii")
        return text.startswith("//@target aftereffects") and text.endswith("})();\n") and "M2FP_DATA" in text
    if path.suffix == ".exr":
        with OpenEXR.File(str(path)) as f:
            return "A" in f.channels() and isinstance(f.header()["m2fp/frame"], int)
    if path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as img:
            img.load()
        return True
    raise AssertionError(f"unknown output {path}")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """18 frames of two people: more than 200 track-frames, so tracking runs in worker processes."""
    return write_shot(tmp_path_factory.mktemp("signal shot"), 18)


@pytest.fixture(scope="module")
def long_shot(tmp_path_factory):
    """96 frames: tracking them takes seconds, so a signal sent a second after vectorizing lands
    while the workers start or run (on 18 frames a fast machine had finished by then)."""
    return write_shot(tmp_path_factory.mktemp("long shot"), 96)


@pytest.fixture(scope="module")
def long_doc(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.json"
    synthetic_document(frames=(1001, 1060), width=320, height=180).save(path)
    return path


# -- 1: Ctrl-C as tracking starts ------------------------------------------------------------------

def test_ctrl_c_as_tracking_starts_stops_at_once(long_shot, tmp_path):
    """SIGINT to the process group while the tracking workers start (they get it too) used to
    hang the export or print the workers' tracebacks."""
    labels, people = long_shot
    for delay in (1.1, 0.0):  # workers starting up (1.1 s hung the old pool), and before they start
        cli = Cli(["export", "--labels", labels, "--people", people, "--workers", "2", "-o", "k.nk"], tmp_path)
        assert cli.wait_for(lambda ln: ln == "PROGRESS 100% vectorize")
        time.sleep(delay)
        cli.send(signal.SIGINT)
        rc = cli.finish(timeout=20)
        assert rc != 0, f"the export finished within {delay} s of vectorizing: the signal came too late"
        assert rc == 130 and written_count(cli, rc, signal.SIGINT) == 0, cli.lines[-5:]
        assert cli.messages == ["interrupted by SIGINT: nothing written"]
        assert no_litter(tmp_path) == []


# -- 2: SIGTERM mid-preview ------------------------------------------------------------------------

def test_sigterm_mid_preview_leaves_whole_images_and_says_how_many(long_doc, tmp_path):
    cli = Cli(["preview", long_doc, "-o", "qc/p.####.png"], tmp_path)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.rglob("p.*.png"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    cli.send(signal.SIGTERM)
    rc = cli.finish()
    found = no_litter(tmp_path)
    assert rc == 143 and written_count(cli, rc, signal.SIGTERM) == len(found) > 0, cli.messages
    assert all(valid(p) for p in found)


# -- kills at random points, per target --------------------------------------------------------------

def command(target, shot, long_doc):
    labels, people = shot
    if target == "exr":  # the long part is writing the frames
        return ["export", "--doc", long_doc, "-o", "out/shot.####.exr"], ("exr",), 60
    name = {"json": "shot.json", "nuke": "shot.nk", "ae": "shot.jsx"}[target]
    return (["export", "--labels", labels, "--people", people, "--workers", "2", "-o", f"out/{name}"],
            ("vectorize", "track"), 1)


def stamps(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("target", ["json", "nuke", "ae", "exr"])
def test_killed_at_random_points_then_run_again(target, shot, long_doc, tmp_path):
    args, stages, total = command(target, shot, long_doc)
    rng = random.Random(f"{SEED}-{target}")
    for sig in (signal.SIGTERM, signal.SIGINT):  # the second run starts from what the first left
        stage, pct, pause = rng.choice(stages), rng.randrange(0, 100), rng.uniform(0, 0.15)
        where = f"seed {SEED}: {signal.Signals(sig).name} at {pct}% {stage} + {pause:.2f} s"
        before = stamps(tmp_path)
        cli = Cli(args, tmp_path)

        def reached(line, stage=stage, pct=pct):
            m = re.match(r"PROGRESS (\d+)% (\w+)", line)
            return bool(m) and m.group(2) == stage and int(m.group(1)) >= pct

        if cli.wait_for(reached):
            time.sleep(pause)
            cli.send(sig)
        rc = cli.finish()
        count = written_count(cli, rc, sig, where)
        found = no_litter(tmp_path)
        assert all(valid(p) for p in found), where
        if count is not None:  # interrupted: it says exactly how many files it wrote
            new = [p for p, t in stamps(tmp_path).items() if before.get(p) != t]
            assert count == len(new), (where, cli.messages, len(new))
    cli = Cli(args, tmp_path)  # the same command again completes the job
    assert cli.finish(timeout=120) == 0, cli.lines[-5:]
    found = no_litter(tmp_path)
    assert len(found) == total and all(valid(p) for p in found)


def test_an_interrupt_a_library_reports_as_its_own_error_still_ends_as_an_interrupt(tmp_path, monkeypatch):
    """A signal while a C extension loads (scipy.optimize's on the first assignment) comes out of
    the import as ``ImportError: initialization failed`` with the interrupt as its cause: the
    command still ends with the one interrupted line and 143, not a traceback."""
    from click.testing import CliRunner

    import m2fp_roto.cli.info as info
    from m2fp_roto.cli.main import main
    from m2fp_roto.cli.signals import Interrupted

    def loading_interrupted(doc):
        try:
            raise Interrupted(signal.SIGTERM)
        except Interrupted as exc:
            raise ImportError("initialization failed") from exc

    doc = tmp_path / "shot.json"
    synthetic_document().save(doc)
    monkeypatch.setattr(info, "summary", loading_interrupted)
    r = CliRunner().invoke(main, ["info", str(doc), "--json"])
    assert r.exit_code == 143 and r.output.strip() == "interrupted by SIGTERM: nothing written"
    monkeypatch.setattr(info, "summary", lambda doc: 1 / 0)  # any other error still surfaces
    assert isinstance(CliRunner().invoke(main, ["info", str(doc), "--json"]).exception, ZeroDivisionError)
