"""A roto job's form fields -> the checked request its process runs.

The fields are the CLI's ``export`` options, spelled with underscores (``key_tolerance``,
``min_area``), plus ``input`` (what the upload is) and ``targets``; every exporter option
(``group``, ``bake``, ``compression`` ...) is a field of its own, given to each target that
declares it. Defaults come from the same dataclasses the CLI reads. A field that is not known
is an error, so a typo is never silently ignored.
"""

from __future__ import annotations

import os
from dataclasses import asdict, fields
from pathlib import Path

from .. import exporters
from ..errors import InputError
from .errors import ApiError

INPUTS = ("auto", "pictures", "labels", "mattes")
_NUMBERS = {"tolerance": (float, 0.0, True), "min_area": (float, 0.0, False), "smooth": (float, 0.0, False),
            "key_tolerance": (float, 0.0, True), "key_floor": (float, 0.0, False),
            "anchor_tolerance": (float, 0.0, True),
            "smoothing": (float, 0.0, False), "max_gap": (int, 0, False),
            "min_share": (float, 0.0, False), "temporal_window": (int, 1, False), "fps": (float, 0.0, True),
            "pixel_aspect": (float, 0.0, True), "first_frame": (int, None, False)}
BASE_FIELDS = {"file", "image", "input", "label_set", "frames", "colorspace", "person", "part", "targets", "track",
               "plate", "labels", "people", *_NUMBERS}


def parse_bool(name: str, text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, f"{name} must be true or false, not {text!r}")


def _number(name: str, text: str):
    kind, low, strict = _NUMBERS[name]
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise ApiError(400, f"{name} must be a{'n integer' if kind is int else ' number'}, not {text!r}") from None
    if low is not None and (value < low or (strict and value == low)):
        raise ApiError(400, f"{name} must be {'above' if strict else 'at least'} {low:g}, not {text!r}")
    return value


def _target_options(form: dict, targets: list[str]) -> tuple[dict, set]:
    """target -> {option: typed value} for the options given, and the field names used."""
    out, used = {}, set()
    for target in targets:
        for opt in exporters.exporter_options(exporters.load_exporter(target)):
            if opt.name not in form:
                continue
            text = form[opt.name]
            used.add(opt.name)
            if opt.type is bool:
                value = parse_bool(opt.name, text)
            elif opt.choices:
                if text not in opt.choices:
                    raise ApiError(400, f"{opt.name} must be one of {', '.join(opt.choices)}, not {text!r}")
                value = text
            else:
                try:
                    value = opt.type(text)
                except ValueError:
                    raise ApiError(400, f"{opt.name} must be a {opt.type.__name__}, not {text!r}") from None
            out.setdefault(target, {})[opt.name] = value
    return out, used


def allowed_path(text: str, roots: list[str], what: str) -> str:
    """A server path from ``--allow-root`` folders only: absolute, and its folder (symlinks
    resolved) inside a root. The files of a sequence are checked again by :func:`check_files`."""
    if not roots:
        raise ApiError(403, f"{what}: this server reads no paths on its own disk; upload the files, or start it "
                            "with --allow-root FOLDER")
    path = Path(text)
    if not path.is_absolute() or "\x00" in text:
        raise ApiError(400, f"{what}: give an absolute path on the server, not {text!r}")
    folder = path if path.is_dir() else path.parent
    real = Path(os.path.realpath(folder))
    if not any(real == Path(r) or Path(r) in real.parents for r in roots):
        raise ApiError(403, f"{what}: {text} is outside the folders this server may read (--allow-root)")
    return str(real if path.is_dir() else real / path.name)


def check_files(files, roots: list[str], what: str) -> None:
    """Every file (symlinks resolved) inside an allowed root."""
    for file in files:
        real = Path(os.path.realpath(file))
        if not any(Path(r) in real.parents for r in roots):
            raise ApiError(403, f"{what}: {Path(file).name} leads outside the folders this server may read")


def job_request(form: dict, upload_kind: str | None, zip_kind: str | None, server: dict) -> dict:
    """The checked request of a job (``upload_kind``: the sniffed kind of the upload, if any;
    ``zip_kind``: ``labels`` or ``frames`` for a zip; ``server``: the server paths given)."""
    from ..labelsets import get_label_set
    from ..sources.frames import parse_frames
    from ..tracking.track import TrackOptions
    from ..vectorize import VectorizeOptions

    targets = [t.strip() for t in form.get("targets", ",".join(exporters.exporter_names())).split(",") if t.strip()]
    for target in targets:
        try:
            exporters.load_exporter(target)
        except InputError as exc:
            raise ApiError(400, str(exc)) from None
    target_options, used = _target_options(form, targets)
    unknown = sorted(set(form) - BASE_FIELDS - used)
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(unknown)}; a job takes the export options of the CLI "
                            "(tolerance, min_area, smooth, track, key_tolerance, key_floor, anchor_tolerance, "
                            "smoothing, max_gap, min_share, temporal_window, person, part, frames, first_frame, fps, "
                            "pixel_aspect, label_set, input, targets) and "
                            "the targets' own options ('m2fp-roto targets' lists them)")
    kind = form.get("input", "auto")
    if kind not in INPUTS:
        raise ApiError(400, f"input must be one of {', '.join(INPUTS)}, not {kind!r}")
    label_set = "matte" if kind == "mattes" else form.get("label_set", "cihp")
    try:
        get_label_set(label_set)
        parse_frames(form.get("frames"))
    except InputError as exc:
        raise ApiError(400, str(exc)) from None
    if kind == "auto":
        if "labels" in server or zip_kind == "labels" or label_set == "matte":
            kind = "labels"
        else:
            kind = "pictures"
    mode = "labels" if kind in ("labels", "mattes") else "pictures"
    if upload_kind == "movie" and mode == "labels":
        raise ApiError(415, "a movie cannot hold label maps (its compression changes the ids); send a zip of PNGs")
    numbers = {name: _number(name, form[name]) for name in _NUMBERS if form.get(name, "") != ""}
    if numbers.get("temporal_window", 1) % 2 == 0:
        raise ApiError(400, f"temporal_window must be odd (1, 3, 5 ...), not {numbers['temporal_window']}")
    if numbers.get("min_share", 0.0) > 1.0:
        raise ApiError(400, f"min_share is a share of a part's area, at most 1, not {numbers['min_share']:g}")
    if numbers.get("key_floor", 0.0) > 1.0:
        raise ApiError(400, f"key_floor is an IoU, at most 1, not {numbers['key_floor']:g}")
    vectorize = {f.name: numbers.get(f.name, getattr(VectorizeOptions(), f.name)) for f in fields(VectorizeOptions)}
    track_defaults = asdict(TrackOptions())
    track_options = {k: numbers.get(k, v) for k, v in track_defaults.items()
                     if k in ("key_tolerance", "key_floor", "anchor_tolerance", "smoothing", "max_gap", "min_share")}
    people, parts = form.get("person") or None, form.get("part") or None
    try:
        if people:
            [int(p) for p in people.split(",") if p.strip()]
        ls = get_label_set(label_set)
        for name in (parts or "").split(","):
            if name.strip():
                ls.part_id(name.strip())
    except ValueError as exc:
        raise ApiError(400, f"person must be ids like 1,2 and part must be part names ({exc})") from None
    return {"mode": mode, "label_set": label_set, "frames": form.get("frames") or None,
            "first_frame": numbers.get("first_frame"), "fps": numbers.get("fps"),
            "pixel_aspect": numbers.get("pixel_aspect"), "colorspace": form.get("colorspace") or None,
            "vectorize": vectorize, "track": parse_bool("track", form.get("track", "true")),
            "track_options": track_options, "temporal_window": numbers.get("temporal_window", 1),
            "people": people, "parts": parts, "targets": targets,
            "target_options": target_options}
