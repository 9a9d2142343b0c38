"""Plate commands of ``m2fp-roto``: ``parse`` (fill the parse cache, e.g. one farm chunk),
``merge-cache``, ``doctor``, and the options that ``export PLATE`` shares with ``parse``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from ..errors import InputError
from ..versions import installed_version
from .options import cluster_option, option_group

log = logging.getLogger("m2fp_roto")

_MODEL_OPTIONS = ("model", "device", "precision", "runtime", "batch_size", "threads", "resolution")

_model_decorators = [
    click.option("--model", metavar="PATH|ID", help="M2FP model folder or ModelScope id (default: "
                 "$M2FP_ROTO_MODEL, else the ModelScope cache, else a download)."),
    click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N."),
    click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
                 help="Inference precision (fp16 needs CUDA)."),
    click.option("--runtime", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
                 help="Network runtime: onnx = an ONNX export (made once per model and size, cached "
                 "beside the model) run by ONNX Runtime; CPU, fp32."),
    click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Frames per network call."),
    click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the model."),
    click.option("--resolution", type=click.IntRange(min=32), help="Network input short side in px (default 640)."),
]


def _plate_decorators(cache_default: str) -> list:
    return _model_decorators + [
        click.option("--colorspace", metavar="NAME", help="The plate's OCIO colour space (name or alias; 'none' = "
                     "already sRGB). Default: float files (EXR) are the config's scene_linear role, others sRGB."),
        click.option("--ocio-config", metavar="PATH|URI", help="OCIO config (default: $OCIO, else the pinned "
                     "built-in studio config)."),
        click.option("--first-frame", type=int, help="Frame number of a movie's first frame or of a single "
                     "image (default: the number in the image's name, else 1)."),
        click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path),
                     help=f"Parse cache folder (default: $M2FP_ROTO_CACHE, else .m2fp_roto_cache {cache_default})."),
        click.option("--no-cache", is_flag=True, help="Parse every frame; read and write no cache."),
    ]


plate_options = option_group("plate_opts", _plate_decorators("beside the output"))
"""The plate and model options of a command, as one ``plate_opts`` dict."""

model_options = option_group("model_opts", _model_decorators)
"""Only the model options (``make_parser``'s arguments), as one ``model_opts`` dict."""

#: The options that only a plate parsed by the model uses (``--first-frame`` also numbers a
#: single label map).
MODEL_ONLY = tuple(n for n in plate_options.names if n != "first_frame")


def make_parser(*, model=None, device="cpu", precision="fp32", runtime="torch", batch_size=1, threads=None,
                resolution=None):
    """The M2FP parser, or a one-line error saying how to install it."""
    try:
        from ..m2fp import M2FPParser
    except ImportError as exc:
        raise InputError(f"the M2FP backend cannot be imported ({exc}): pip install 'm2fp-roto[m2fp]'") from None
    return M2FPParser(model, device=device, precision=precision, runtime=runtime, batch_size=batch_size,
                      threads=threads, resolution=resolution)


def plate_source(plate, frames, skip_missing, output, plate_opts: dict, *, fps=None, pixel_aspect=None):
    """PLATE and the command's options -> a :class:`PlateParsingSource` with its cache."""
    from ..sources.parse_cache import default_cache_root
    from ..sources.plate import open_plate
    from ..sources.plate_parsing import PlateParsingSource

    opts = dict(plate_opts)
    if opts["no_cache"] and opts["cache"]:
        raise click.UsageError("--cache and --no-cache contradict each other")
    opened = open_plate(plate, frames, skip_missing=skip_missing, colorspace=opts["colorspace"],
                        first_frame=opts["first_frame"], ocio_config=opts["ocio_config"], fps=fps)
    parser = make_parser(**{k: opts[k] for k in _MODEL_OPTIONS})
    root = None if opts["no_cache"] else (opts["cache"] or default_cache_root(output))
    source = PlateParsingSource.open(opened, parser, root)
    if pixel_aspect is not None:
        source.pixel_aspect = pixel_aspect
    return source


def given(name: str):
    """The value of option ``name`` if the user gave it (not its default), else None."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None):
        return None
    return ctx.params.get(name)


@click.command()
@click.argument("plate", metavar="PLATE")
@click.option("--frames", metavar="RANGE", help="Frames to parse, e.g. 1001-1050 (one farm chunk); default all.")
@click.option("--skip-missing", is_flag=True, help="Go on without missing or unreadable frames (warns).")
@option_group("plate_opts", _plate_decorators("in the current folder"))
@cluster_option
def parse(plate, frames, skip_missing, plate_opts, cluster):
    """Parse PLATE's frames into the parse cache (resumable; run chunks on a farm, then export).

    PLATE is an image sequence ('shot.####.exr', 'shot.%04d.dpx', 'shot.1001-1100#.exr', a folder),
    one image or a movie. Frames already in the cache are skipped.

    \b
    Examples:
      m2fp-roto parse 'plates/sh010.####.exr' --frames 1001-1050 --cache /jobs/sh010/parse_cache
      m2fp-roto parse 'plates/sh010.####.exr' --cache /jobs/sh010/parse_cache --cluster local:4
      m2fp-roto export 'plates/sh010.####.exr' --cache /jobs/sh010/parse_cache --target nuke -o sh010_roto.nk
    """
    from ..progress import Progress
    from ..sources.frames import format_frames

    if plate_opts["no_cache"]:
        raise click.UsageError("parse fills the cache; --no-cache leaves it nothing to do")
    source = plate_source(plate, frames, skip_missing, None, plate_opts)
    with Progress(len(source.frames), "parse") as bar:
        if cluster:
            from ..farm.cluster import client_for, run_frames

            with client_for(cluster) as client:
                run_frames(client, source, progress=bar)
        else:
            for _ in source.parse_frames(progress=lambda done, total, frame: bar.advance()):
                pass
    cached = len(source.frames) - source.parsed
    click.echo(f"parsed frames {format_frames(source.frames)} of {source.source}: {source.parsed} parsed, "
               f"{cached} already cached, in {source.cache.folder}")


@click.command("merge-cache")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--into", "dest", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The cache folder to merge into (e.g. the one export reads).")
@click.option("--overwrite", is_flag=True, help="Replace frames the destination already has.")
def merge_cache_command(sources, dest, overwrite):
    """Merge parse caches written by separate farm chunks (e.g. on local scratch) into one."""
    from ..sources.parse_cache import merge_cache

    total = sum(merge_cache(src, dest, overwrite=overwrite) for src in sources)
    click.echo(f"merged {total} cached frame(s) into {dest}")


def doctor_report() -> list[tuple[str, str]]:
    """(name, finding) lines: library versions, colour config, cache location, model and device."""
    from .. import __version__
    from ..sources.colour import PINNED_CONFIG
    from ..sources.parse_cache import CACHE_DIRNAME, CACHE_ENV

    lines = [("m2fp-roto", __version__)]
    for label, dists in (("numpy", ("numpy",)),
                         ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                                     "opencv-contrib-python")),
                         ("OpenEXR", ("OpenEXR",)), ("OpenImageIO", ("OpenImageIO",)),
                         ("OpenColorIO", ("opencolorio",)), ("av (PyAV)", ("av",)), ("Pillow", ("pillow",)),
                         ("torch", ("torch",)), ("modelscope", ("modelscope",))):
        lines.append((label, installed_version(*dists)))
    config = os.environ.get("OCIO")
    lines.append(("OCIO config", f"$OCIO = {config}" if config else f"{PINNED_CONFIG} (pinned; $OCIO not set)"))
    try:
        from ..sources.colour import load_config

        load_config()
    except InputError as exc:
        lines.append(("OCIO config status", f"unusable: {exc}"))
    cache_env = os.environ.get(CACHE_ENV)
    lines.append(("parse cache", f"${CACHE_ENV} = {cache_env}" if cache_env else
                  f"<output folder>/{CACHE_DIRNAME} (${CACHE_ENV} not set)"))
    try:
        from ..m2fp import describe
    except ImportError as exc:
        lines.append(("M2FP backend", f"not available: the m2fp extra is not installed ({exc}); "
                      "pip install 'm2fp-roto[m2fp]'"))
    else:
        for key, value in describe().items():
            if key in ("torch", "modelscope"):
                continue  # listed above
            lines.append((key, str(value)))
    return lines


@click.command()
def doctor():
    """Report what is installed, which colour config and cache are used, where the model is and
    which device will run it."""
    lines = doctor_report()
    width = max(len(name) for name, _ in lines)
    for name, finding in lines:
        click.echo(f"{name.ljust(width)}  {finding}")


def register(group: click.Group) -> None:
    """Add the plate commands to the ``m2fp-roto`` group."""
    for command in (parse, merge_cache_command, doctor):
        group.add_command(command)
