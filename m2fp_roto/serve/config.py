"""The service's settings: one :class:`ServeConfig`, handed to every worker process as JSON.

uvicorn starts each worker in a fresh process and builds the app there from an import string,
so the settings travel in the environment (``M2FP_ROTO_SERVE_CONFIG``) rather than as objects.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError

ENV_CONFIG = "M2FP_ROTO_SERVE_CONFIG"

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text, what: str = "size") -> int:
    """``"200MB"``, ``"1.5GB"``, ``"512KiB"``, ``"50M"`` or a plain number -> an integer.

    >>> parse_size("200MB"), parse_size("50M"), parse_size(1024)
    (200000000, 50000000, 1024)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if not match or unit not in _UNITS:
        raise InputError(f"cannot read the {what} {text!r} (examples: 200MB, 1.5GB, 50M, 1048576)")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_duration(text, what: str = "duration") -> float:
    """``"24h"``, ``"30m"``, ``"90s"``, ``"7d"`` or plain seconds -> seconds.

    >>> parse_duration("24h"), parse_duration("1.5m"), parse_duration(10)
    (86400.0, 90.0, 10.0)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", str(text).lower())
    if not match:
        raise InputError(f"cannot read the {what} {text!r} (examples: 24h, 30m, 90s, 7d)")
    return float(match.group(1)) * _SECONDS[match.group(2) or "s"]


def default_jobs_dir() -> Path:
    """``$XDG_CACHE_HOME/m2fp-roto/jobs`` (``~/.cache/m2fp-roto/jobs``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "m2fp-roto" / "jobs"


@dataclass
class ServeConfig:
    """Everything a worker needs; defaults are the ``m2fp-roto serve`` defaults.

    ``model`` holds ``make_parser``'s arguments (``model``, ``device``, ``precision``,
    ``batch_size``, ``threads``, ``resolution``).
    """

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    model: dict = field(default_factory=dict)
    max_upload: int = 200 * 10**6  # bytes of one request body
    max_pixels: int = 50 * 10**6  # width x height of one image or frame
    max_frames: int = 1000  # frames of one roto job
    queue: int = 8  # requests waiting for the model per worker; roto jobs waiting for a slot
    job_slots: int = 1  # roto jobs running at once (each in its own process)
    job_ttl: float = 24 * 3600.0  # seconds a finished job and its files are kept
    jobs_dir: str = field(default_factory=lambda: str(default_jobs_dir()))
    allow_roots: list[str] = field(default_factory=list)  # folders whose files a job may read in place

    def __post_init__(self):
        for name in ("workers", "max_upload", "max_pixels", "max_frames", "queue", "job_slots"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1")
        if self.job_ttl <= 0:
            raise InputError("job-ttl must be positive")
        self.jobs_dir = str(Path(self.jobs_dir).expanduser().resolve())
        self.allow_roots = [str(Path(r).expanduser().resolve()) for r in self.allow_roots]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls) -> ServeConfig:
        text = os.environ.get(ENV_CONFIG)
        return cls.from_json(text) if text else cls()
