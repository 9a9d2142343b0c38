"""Export targets, found through the entry-point group ``m2fp_roto.exporters``.

A target is a plain module (the OpenTimelineIO adapter shape)::

    NAME = "nuke"                      # what --target says
    SUFFIXES = (".nk",)                # output extensions that pick this target
    DESCRIPTION = "Nuke script with Roto nodes"
    OPTIONS = (Option("group", "per-person", "one Roto node per person, or one for all",
                      choices=("per-person", "all")),)
    def write_to_file(doc, path, **options) -> list[Path]: ...   # required; returns what it wrote
    def write_to_string(doc, **options) -> str: ...               # optional
    def read_from_file(path) -> RotoDocument: ...                 # optional (lossless targets)

A studio adds a target by shipping a package that registers a module under the group; the
core never imports a target by name.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from .errors import InputError

GROUP = "m2fp_roto.exporters"


@dataclass(frozen=True)
class Option:
    """One target-specific option; the CLI offers it as ``--NAME``."""

    name: str
    default: object
    help: str
    choices: tuple[str, ...] | None = None
    type: type = str


@lru_cache(maxsize=None)
def _entry_points() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group=GROUP)}


def target_names() -> list[str]:
    return sorted(_entry_points())


@lru_cache(maxsize=None)
def load_target(name: str) -> ModuleType:
    eps = _entry_points()
    if name not in eps:
        raise InputError(f"unknown target {name!r}; available: {', '.join(sorted(eps)) or 'none'}")
    module = eps[name].load()
    if not callable(getattr(module, "write_to_file", None)):
        raise InputError(f"target {name!r} ({eps[name].value}) has no write_to_file()")
    return module


def target_for_path(path) -> str:
    """The target whose SUFFIXES match ``path`` (longest suffix wins)."""
    text = str(path).lower()
    best = None
    for name in target_names():
        for suffix in getattr(load_target(name), "SUFFIXES", ()):
            if text.endswith(suffix.lower()) and (best is None or len(suffix) > len(best[1])):
                best = (name, suffix)
    if best is None:
        raise InputError(f"cannot tell the target from {Path(path).name!r}; pass --target "
                         f"({', '.join(target_names())})")
    return best[0]


def target_options(module: ModuleType) -> tuple[Option, ...]:
    return tuple(getattr(module, "OPTIONS", ()))
