"""Exporters: one plain module per target format, found through the entry-point group
``m2fp_roto.exporters`` (the OpenTimelineIO adapter shape). ``--target`` names one.

An exporter module::

    NAME = "nuke"                      # what --target says
    SUFFIXES = (".nk",)                # output extensions that pick this exporter
    DESCRIPTION = "Nuke script with Roto nodes"
    OPTIONS = (Option("group", "per-person", "one Roto node per person, or one for all",
                      choices=("per-person", "all")),)
    PROGRESS = True                    # optional: write_to_file takes progress=callable(done, total)
    FRAMES = True                      # optional: one file per frame; write_to_file takes frames=[...]
    def check_options(**options): ...                            # optional: refuse impossible options early
    def write_to_file(doc, path, **options) -> list[Path]: ...   # required; returns what it wrote
    def write_to_string(doc, **options) -> str: ...               # optional
    def read_from_file(path) -> RotoDocument: ...                 # optional (lossless targets)

A studio adds a target by shipping a package that registers a module under the group; the
core never imports an exporter by name. :func:`write` is the one way in for the CLI, the
Nuke importer and the service: it picks the exporter, checks and fills its options, applies the
person/part selection and the frames, and refuses to write nothing.
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
    best = _suffix_owner(path)
    if best is None:
        raise InputError(f"cannot tell the target from {Path(path).name!r}; pass --target "
                         f"({', '.join(exporter_names())})")
    return best


def _suffix_owner(path) -> str | None:
    text = str(path).lower()
    best = None
    for name in exporter_names():
        for suffix in getattr(load_exporter(name), "SUFFIXES", ()):
            if text.endswith(suffix.lower()) and (best is None or len(suffix) > len(best[1])):
                best = (name, suffix)
    return best[0] if best else None


def resolve_target(path, target: str | None = None) -> str:
    """The target that writes ``path``: ``target``, else the one its extension names.

    An output that is an existing folder, or whose extension belongs to another target
    (``--target nuke -o x.jsx``), is an error: the file would be misnamed.
    """
    path = Path(path)
    if path.is_dir():
        suffixes = getattr(load_exporter(target), "SUFFIXES", ()) if target else ()
        raise InputError(f"the output {path} is a folder; give a file name in it (e.g. "
                         f"{path / 'shot'}{suffixes[0] if suffixes else '.nk'})")
    if target is None:
        return exporter_for_path(path)
    load_exporter(target)
    owner = _suffix_owner(path)
    if owner is not None and owner != target:
        raise InputError(f"{path.name!r} is named for the {owner!r} target, but --target is {target!r}; "
                         f"name it {', '.join(getattr(load_exporter(target), 'SUFFIXES', ())) or 'otherwise'}, "
                         "or drop --target")
    return target


def exporter_options(module: ModuleType) -> tuple[Option, ...]:
    return tuple(getattr(module, "OPTIONS", ()))


def checked_options(name: str, options: dict | None) -> dict:
    """The exporter ``name``'s keyword arguments: ``options`` (``None`` values count as not given)
    over its defaults, checked (an option it does not declare, or one its ``check_options``
    refuses, is an error) before any work is done."""
    module = load_exporter(name)
    accepted = {o.name: o for o in exporter_options(module)}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    foreign = [k for k in given if k not in accepted]
    if foreign:
        raise InputError(f"target {name!r} takes no option(s) {', '.join('--' + f.replace('_', '-') for f in foreign)}")
    kwargs = {k: given.get(k, o.default) for k, o in accepted.items()}
    check = getattr(module, "check_options", None)
    if check is not None:
        check(**kwargs)
    return kwargs


def write(doc, path, target: str | None = None, options: dict | None = None, *, people=None, parts=None,
          frames=None, progress=None) -> list[Path]:
    """Write ``doc`` to ``path`` with the exporter ``target`` (default: the one ``path``'s
    extension picks); returns the files written.

    ``options`` are the exporter's own (see :func:`checked_options`). ``frames`` (a list or text
    such as ``"1001-1050"``): a per-frame target (``FRAMES``) writes exactly those frames; any
    other target gets the document trimmed to them (see :meth:`RotoDocument.trim`), which needs
    one unbroken range. ``people`` and ``parts`` then select shapes (see
    :meth:`RotoDocument.select`). A document with no shapes (left) is an error: nothing is
    written. ``progress(done, total)`` reaches exporters that declare ``PROGRESS``.
    """
    from .sources.frames import format_frames, parse_frames

    name = resolve_target(path, target)
    module = load_exporter(name)
    kwargs = checked_options(name, options)
    if progress is not None and getattr(module, "PROGRESS", False):
        kwargs["progress"] = progress
    wanted = parse_frames(frames) if isinstance(frames, str) else (sorted(set(frames)) if frames else None)
    if wanted:
        outside = [f for f in wanted if f not in doc.frames]
        if outside:
            raise InputError(f"frame(s) {format_frames(outside)} are outside the document's range "
                             f"{doc.first_frame}-{doc.last_frame}")
        if getattr(module, "FRAMES", False):
            kwargs["frames"] = wanted
        elif wanted != list(range(wanted[0], wanted[-1] + 1)):
            raise InputError(f"a {name} output covers one unbroken frame range; --frames {format_frames(wanted)} "
                             f"has gaps (give e.g. {wanted[0]}-{wanted[-1]})")
        doc = doc.trim(wanted[0], wanted[-1])
        if not doc.shapes:
            raise InputError(f"nothing to write: no shape lives in frames {format_frames(wanted)}")
    if people is not None or parts is not None:
        doc = doc.select(people, parts)
    if not doc.shapes:
        raise InputError("nothing to write: the document has no shapes")
    return module.write_to_file(doc, path, **kwargs)
