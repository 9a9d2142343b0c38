"""Render-farm jobs as OpenCue job specs (the XML that ``cuerun`` / PyOutline submit to Cuebot).

The spec follows OpenCue's published job spec DTD, ``cjsl-1.15.dtd`` (Cuebot validates every
spec it is sent against it): a ``parse`` layer over the frame range in chunks, whose command
gets each chunk's frames from Cuebot's ``#FRAMESPEC#`` token (e.g. ``1001-1010``, or
``1003,1005`` across a gap), and an
``export`` layer of one frame that waits for it (a ``LAYER_ON_LAYER`` depend). Commands are
shell words (RQD runs them through ``/bin/sh``), the same as the Open Job Description job's.
Submit it with PyCue: ``opencue.api.launchSpec(open("sh010_job.xml").read())``.
"""

from __future__ import annotations

import getpass
import re
import shlex
from pathlib import Path
from xml.etree import ElementTree as Et

from ..atomic import atomic_write_text
from ..errors import InputError
from .commands import export_command, parse_command
from .openjd import openjd_range

SPEC_VERSION = "1.15"
FRAMESPEC = "#FRAMESPEC#"  # Cuebot puts each chunk's frames here (DispatchSupportService)
DOCTYPE = ('<!DOCTYPE spec PUBLIC "SPI Cue  Specification Language" '
           f'"http://localhost:8080/spcue/dtd/cjsl-{SPEC_VERSION}.dtd">')


def cue_name(text: str, what: str) -> str:
    """``text`` as Cuebot accepts a show, shot, job or layer name: at least 3 of ``[A-Za-z0-9_.]``."""
    name = re.sub(r"[^\w.]+", "_", str(text)).strip("_").lower()
    if len(name) < 3:
        raise InputError(f"the OpenCue {what} name {text!r} needs at least 3 letters, digits, '_' or '.'")
    return name


def _element(parent, tag: str, text=None, **attrs):
    element = Et.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = str(text)
    return element


def job_spec(*, name: str, show: str, shot: str, frames, output: Path, target: str, plate: Path | None = None,
             labels: Path | None = None, chunk: int = 10, cache: Path | None = None, model: Path | None = None,
             parse_args=(), export_args=(), user: str | None = None, max_retries: int = 2) -> str:
    """The job spec XML of a shot (the arguments are :func:`m2fp_roto.farm.openjd.job_template`'s,
    plus the OpenCue ``show``, ``shot`` and ``user``)."""
    if (plate is None) == (labels is None):
        raise InputError("a job needs exactly one input: a plate or label maps")
    if plate is not None and (cache is None or model is None):
        raise InputError("a plate job needs a parse cache folder and a model folder")
    job_name = cue_name(name, "job")
    spec = Et.Element("spec")
    _element(spec, "show", cue_name(show, "show"))
    _element(spec, "shot", cue_name(shot, "shot"))
    _element(spec, "user", user or getpass.getuser())
    job = _element(spec, "job", name=job_name)
    _element(job, "paused", "False")
    _element(job, "maxretries", int(max_retries))
    env = _element(job, "env")
    if plate is not None:
        _element(env, "key", str(model), name="M2FP_ROTO_MODEL")
    layers = _element(job, "layers")
    frames = openjd_range(frames)  # OpenCue reads the same a-b,c-d frame sets

    def layer(layer_name, command, frame_range, size):
        element = _element(layers, "layer", name=layer_name, type="Render")
        _element(element, "cmd", " ".join(word if word == FRAMESPEC else shlex.quote(word) for word in command))
        _element(element, "range", frame_range)
        _element(element, "chunk", size)
        _element(_element(element, "services"), "service", "shell")

    source = [plate] if plate is not None else ["--labels", labels]
    if plate is not None:
        layer("parse", parse_command(plate, FRAMESPEC, cache, parse_args), frames, int(chunk))
    first = frames.split(",")[0].split("-")[0]
    layer("export", export_command(source, frames, target, output, cache if plate is not None else None,
                                   parse_args, export_args), first, 1)
    if plate is not None:
        depend = _element(_element(spec, "depends"), "depend", type="LAYER_ON_LAYER", anyframe="False")
        for tag, text in (("depjob", job_name), ("deplayer", "export"), ("onjob", job_name), ("onlayer", "parse")):
            _element(depend, tag, text)
    Et.indent(spec)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE}\n{Et.tostring(spec, encoding="unicode")}\n'


def write_spec(xml: str, path) -> Path:
    """Write the spec atomically."""
    return atomic_write_text(path, xml)
