"""``m2fp-roto farm-job``: an Open Job Description template that runs a shot on a render farm.
(``--cluster``, which ``parse`` and ``export`` share, is in :mod:`.options`.)"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from .inputs import given_options
from .options import exporter_option_group, track_options, vectorize_options
from .plate import plate_options

# Options of farm-job that go into the job's commands as given (never their defaults, so a
# node's own defaults, e.g. $OCIO, still apply). Parse settings go to both steps alike.
_PARSE_SETTINGS = ("device", "precision", "batch_size", "threads", "resolution", "colorspace", "ocio_config",
                   "first_frame")


def given_args(ctx: click.Context, names) -> list[str]:
    """Command-line arguments that repeat the options in ``names`` the user gave, with their values."""
    args = []
    for param in ctx.command.params:
        if param.name in names:
            for spelled in given_options(ctx, [param.name]):
                args += [spelled] if param.is_flag else [spelled, str(ctx.params[param.name])]
    return args


def _model_folder(model) -> Path:
    from ..m2fp.locate import locate_model

    return locate_model(model, download=False).resolve()


@click.command("farm-job")
@click.argument("plate", metavar="[PLATE]", required=False)
@click.option("--labels", metavar="PATTERN", help="Label maps instead of a plate (the job then only exports).")
@click.option("--people", metavar="PATTERN", help="Person maps of --labels.")
@click.option("--label-set", default="cihp", show_default=True, help="Ids of the --labels maps.")
@click.option("--frames", metavar="RANGE", help="Frames of the job, e.g. 1001-1100 (default: all on disk).")
@click.option("--chunk", type=click.IntRange(min=1), default=10, show_default=True,
              help="Frames per parse task (each task starts a process and loads the model once).")
@click.option("-t", "--target", help="Export target (default: from --roto's extension, else nuke).")
@click.option("--roto", "roto", type=click.Path(dir_okay=False, path_type=Path),
              help="The roto file the job writes (default: SHOT_roto.EXT beside the job file).")
@click.option("--name", help="The job's name (default: m2fp-roto SHOT).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The job file: .yaml or .json (the shot's paths go beside it in NAME.values.yaml).")
@vectorize_options
@track_options
@exporter_option_group
@plate_options
def farm_job(plate, labels, people, label_set, frames, chunk, target, roto, name, output, vectorize, tracking,
             target_options, plate_opts):
    """Write a render-farm job that parses PLATE in chunks, then tracks and exports.

    The job is an Open Job Description template: it runs on AWS Deadline Cloud, and locally
    with openjd-cli.

    Paths are absolute (Open Job Description: in NAME.values.yaml, given at submission): every
    render node must see the plate, cache, model and output at the same place (or map them with
    the farm's path mapping).

    \b
    Examples:
      m2fp-roto farm-job 'plates/sh010.####.exr' --frames 1001-1100 --chunk 10 --target nuke \\
                         --model /mnt/models/m2fp-multi --cache /jobs/sh010/parse_cache -o sh010_job.yaml
      openjd check sh010_job.yaml
      openjd run sh010_job.yaml -p file://sh010_job.values.yaml --step Export --run-dependencies
    """
    from .. import exporters
    from ..sources.frames import find_sequence, format_frames
    from ..sources.parse_cache import default_cache_root

    ctx = click.get_current_context()
    if bool(plate) == bool(labels):
        raise click.UsageError("give exactly one input: PLATE or --labels PATTERN")
    if plate_opts["no_cache"]:
        raise click.UsageError("a farm job shares its parses through the cache; --no-cache cannot work")
    if roto is not None and target is None:
        target = exporters.exporter_for_path(roto)
    target = target or "nuke"
    names = exporters.exporter_names()
    if target not in names:
        raise InputError(f"unknown target {target!r} ({', '.join(names)})")
    output = output.expanduser().resolve()
    if plate:
        from ..sources.plate import open_plate

        with open_plate(plate, frames, first_frame=plate_opts["first_frame"], colorspace="none") as opened:
            shot_frames = opened.frames
        shot = Path(plate).name.split(".")[0] or "shot"
    else:
        shot_frames = find_sequence(labels, frames, what="label maps").frames
        shot = Path(labels).name.split(".")[0] or "shot"
    if roto is None:
        suffix = (getattr(exporters.load_exporter(target), "SUFFIXES", ()) or (f".{target}",))[0]
        roto = output.parent / f"{shot}_roto{suffix}"
    export_args = given_args(ctx, {"tolerance", "min_area", "smooth", "track", "key_tolerance", "key_floor",
                                   "anchor_tolerance", "smoothing", "max_gap", "min_share", "workers", *target_options})
    common = dict(name=name or f"m2fp-roto {shot}", frames=shot_frames, output=roto.expanduser().resolve(),
                  target=target, export_args=export_args)
    if plate:
        cache = plate_opts["cache"] or default_cache_root(output)
        common.update(plate=Path(plate).expanduser().resolve(), chunk=chunk, cache=Path(cache).expanduser().resolve(),
                      model=_model_folder(plate_opts["model"]), parse_args=given_args(ctx, _PARSE_SETTINGS))
    else:
        label_args = ["--label-set", label_set]
        if people:
            label_args = ["--people", str(Path(people).expanduser().resolve()), *label_args]
        common.update(labels=Path(labels).expanduser().resolve(), export_args=label_args + export_args)
    from ..farm.openjd import job_template, write_job

    template = job_template(targets=names, **common)
    job, values = write_job(template, output)
    steps = " -> ".join(step["name"] for step in template["steps"])
    click.echo(f"wrote {job} (openjd job '{template['name']}': frames {format_frames(shot_frames)}, steps {steps}) "
               f"and its paths in {values.name}")
    click.echo(f"run it here: openjd run '{job}' -p 'file://{values}' --step Export --run-dependencies")


def register(group: click.Group) -> None:
    """Add ``farm-job`` to the ``m2fp-roto`` group."""
    group.add_command(farm_job)

