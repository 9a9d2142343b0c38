"""Exporters: one plain module per target format, found through the entry-point group
``m2fp_roto.exporters`` (the OpenTimelineIO adapter shape). ``--target`` names one.

An exporter module::

    NAME = "nuke"                      # what --target says
    SUFFIXES = (".nk",)                # output extensions that pick this exporter
    DESCRIPTION = "Nuke script with Roto nodes"
    OPTIONS = (Option("group", "per-person", "one Roto node per person, or one for all",
                      choices=("per-person", "all")),)
    PROGRESS = True                    # optional: write_to_file takes progress=callable(done, total)
    def write_to_file(doc, path, **options) -> list[Path]: ...   # required; returns what it wrote
    def write_to_string(doc, **options) -> str: ...               # optional
    def read_from_file(path) -> RotoDocument: ...                 # optional (lossless targets)

A studio adds a target by shipping a package that registers a module under the group; the
core never imports an exporter by name. :func:`write` is the one way in for the CLI, the
Nuke importer and the service: it picks the exporter, checks and fills its options and
applies the person/part selection.
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
    """One exporter-specific option; the CLI offers it as ``--NAME``."""

    name: str
    default: object
    help: str
    choices: tuple[str, ...] | None = None
    type: type = str


@lru_cache(maxsize=None)
def _entry_points() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group=GROUP)}


def exporter_names() -> list[str]:
    return sorted(_entry_points())


@lru_cache(maxsize=None)
def load_exporter(name: str) -> ModuleType:
    eps = _entry_points()
    if name not in eps:
        raise InputError(f"unknown target {name!r}; available: {', '.join(sorted(eps)) or 'none'}")
    module = eps[name].load()
    if not callable(getattr(module, "write_to_file", None)):
        raise InputError(f"target {name!r} ({eps[name].value}) has no write_to_file()")
    return module


def exporter_for_path(path) -> str:
    """The exporter whose SUFFIXES match ``path`` (longest suffix wins)."""
    text = str(path).lower()
    best = None
    for name in exporter_names():
        for suffix in getattr(load_exporter(name), "SUFFIXES", ()):
            if text.endswith(suffix.lower()) and (best is None or len(suffix) > len(best[1])):
                best = (name, suffix)
    if best is None:
        raise InputError(f"cannot tell the target from {Path(path).name!r}; pass --target "
                         f"({', '.join(exporter_names())})")
    return best[0]


def exporter_options(module: ModuleType) -> tuple[Option, ...]:
    return tuple(getattr(module, "OPTIONS", ()))


def write(doc, path, target: str | None = None, options: dict | None = None, *, people=None, parts=None,
          progress=None) -> list[Path]:
    """Write ``doc`` to ``path`` with the exporter ``target`` (default: the one ``path``'s
    extension picks); returns the files written.

    ``options`` are the exporter's own (``None`` values count as not given: the exporter's
    default applies); an option the exporter does not declare is an error. ``people`` and
    ``parts`` select shapes first (see :meth:`RotoDocument.select`). ``progress(done, total)``
    reaches exporters that declare ``PROGRESS``.
    """
    name = target or exporter_for_path(path)
    module = load_exporter(name)
    accepted = {o.name: o for o in exporter_options(module)}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    foreign = [k for k in given if k not in accepted]
    if foreign:
        raise InputError(f"target {name!r} takes no option(s) {', '.join('--' + f.replace('_', '-') for f in foreign)}")
    kwargs = {k: given.get(k, o.default) for k, o in accepted.items()}
    if progress is not None and getattr(module, "PROGRESS", False):
        kwargs["progress"] = progress
    if people is not None or parts is not None:
        doc = doc.select(people, parts)
    return module.write_to_file(doc, path, **kwargs)
