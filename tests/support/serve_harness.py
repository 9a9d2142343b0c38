"""A real ``m2fp-roto serve`` on a free loopback port, for the service's tests and benchmark.

``Server(tmp, **options).start()`` runs the CLI command in its own process group (so a test
can kill it hard, like a crash), waits until ``/api/health`` answers and gives an ``httpx``
client. Also: the synthetic label-map clip as a zip, a wait for a job to end, and the peak
memory (VmHWM) of the server's processes.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("done", "failed", "cancelled")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``m2fp-roto serve`` on 127.0.0.1 with ``options`` (``queue=2`` -> ``--queue 2``)."""

    def __init__(self, folder: Path, jobs_dir: Path | None = None, env: dict | None = None, **options):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jobs_dir = Path(jobs_dir or self.folder / "jobs")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = options
        self.env = {**os.environ, "M2FP_ROTO_OFFLINE": "1", "MODELSCOPE_CACHE": str(self.folder / "no model cache"),
                    **(env or {})}
        if "M2FP_ROTO_MODEL" not in (env or {}):
            self.env.pop("M2FP_ROTO_MODEL", None)
        self.proc = None
        self.log = self.folder / f"server-{self.port}.log"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "m2fp_roto.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--jobs-dir", str(self.jobs_dir)]
        for key, value in self.options.items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                cmd += [f"--{key.replace('_', '-')}", str(v)]
        return cmd

    def start(self, timeout: float = 120.0, ready=lambda health: health["model"]["state"] != "loading") -> Server:
        """Start and wait until ``/api/health`` answers and ``ready(health)`` holds (by default:
        the model is loaded, or known to be missing)."""
        import httpx

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.folder, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                health = httpx.get(self.url + "/api/health", timeout=2).json()
                if ready(health):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not come up in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def client(self, **kwargs):
        import httpx

        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60), **kwargs)

    def pids(self) -> list[int]:
        """The server's process and its workers (not the job processes, which lead their own group)."""
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill(self) -> None:
        """End it like a crash: SIGKILL to the server's process group (job processes survive
        only until they notice their worker is gone)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()


def peak_rss_mb(pids) -> dict[int, float]:
    """VmHWM (peak resident memory) of each live process, in MB (Linux /proc)."""
    out = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


def wait_job(client, job_id: str, timeout: float = 120.0, states=TERMINAL) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status.get("state") in states:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {status.get('state')} after {timeout} s: {status}")


def label_clip(frames: int = 4, scale: int = 2):
    """The first ``frames`` frames of the demo's 24-frame walk of two figures, as (parts, people)
    uint8 maps ``scale`` times smaller."""
    from m2fp_roto.cli.demo import render_frame

    return [tuple(a[::scale, ::scale].copy() for a in render_frame(i, max(frames, 24))) for i in range(frames)]


def png(array: np.ndarray, palette: bool = False) -> bytes:
    from PIL import Image

    from m2fp_roto.labelsets import display_palette

    img = Image.fromarray(array)
    if palette:
        img = Image.frombytes("P", img.size, array.tobytes())
        img.putpalette(display_palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@functools.lru_cache(maxsize=16)
def label_zip(frames: int = 4, scale: int = 2, first: int = 1001, people: bool = True, extra: tuple = ()) -> bytes:
    """A zip of ``labels/shot.####.png`` (palette) and ``people/shot.####.png``, as
    ``m2fp-roto demo`` writes them; ``extra`` adds (name, bytes) members. Made once per arguments."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for i, (parts, who) in enumerate(label_clip(frames, scale)):
            archive.writestr(f"shot/labels/shot.{first + i:04d}.png", png(parts, palette=True))
            if people:
                archive.writestr(f"shot/people/shot.{first + i:04d}.png", png(who))
        for name, data in extra:
            archive.writestr(name, data)
    return buf.getvalue()


def tiny_model(tmp_path_factory) -> Path:
    """The random-weight tiny M2FP folder (``m2fp_roto.m2fp.random_model``), built once per
    test session and shared by the service's test modules."""
    from m2fp_roto.m2fp.random_model import write_random_model

    folder = tmp_path_factory.getbasetemp() / "serve tiny m2fp"
    if not (folder / "pytorch_model.pt").is_file():
        write_random_model(folder, "tiny", seed=0)
    return folder


MODEL_RESOLUTION = 128  # the network's short side in the served tiny model: 2 CPU cores answer a burst


def model_server(tmp_path_factory) -> Server:
    """``m2fp-roto serve`` with 2 workers on the tiny random-weight model, started (not yet
    entered); ready once both workers have loaded it."""
    folder = tmp_path_factory.mktemp("serve model")
    server = Server(folder, model=str(tiny_model(tmp_path_factory)), resolution=MODEL_RESOLUTION, workers=2,
                    queue=3, threads=1)

    def loaded(health):
        lines = server.log.read_text().splitlines()
        return health["model"]["state"] == "ready" and sum("M2FP loaded" in line for line in lines) == 2

    return server.start(timeout=240, ready=loaded)
