"""The ``m2fp-roto`` command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .. import __version__, exporters
from ..errors import RotoError
from ..progress import Progress
from .farm import register as register_farm
from .options import cluster_option, exporter_option_group, track_options, vectorize_options
from .plate import given, plate_options, plate_source, register

log = logging.getLogger("m2fp_roto")


class _Formatter(logging.Formatter):
    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    log.propagate = False


class RotoGroup(click.Group):
    """Turns user-facing errors into one line on stderr and exit status 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RotoError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=RotoGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="m2fp-roto")
@click.option("-v", "--verbose", count=True, help="More messages (-v: info, -vv: debug).")
def main(verbose):
    """Tracked, editable roto shapes of people for Nuke, After Effects and EXR mattes.

    \b
    Examples:
      m2fp-roto export --labels 'labels/shot.####.png' --people 'people/shot.####.png' \\
                       --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto preview shot.json --over 'labels/shot.####.png' -o 'qc/preview.####.png'
      m2fp-roto demo -o demo_out
    """
    _setup_logging(verbose)


@main.command()
@click.argument("plate", metavar="[PLATE]", required=False)
@click.option("--labels", metavar="PATTERN", help="Part label maps: 'labels.####.png', 'labels.%04d.png', "
              "'labels.@.png', or a folder of numbered files (grey or palette PNG).")
@click.option("--people", metavar="PATTERN", help="Person instance maps (0 = background, 1..N people); "
              "without them every part belongs to person 1.")
@click.option("--doc", "doc_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Convert an existing RotoDocument JSON instead of vectorizing.")
@click.option("--label-set", default="cihp", show_default=True,
              help="Ids of the label maps: cihp, lip, atr, pascal, or matte (any non-zero pixel).")
@click.option("--frames", metavar="RANGE", help="Frames to use, e.g. 1001-1100 (default: all on disk).")
@click.option("--skip-missing", is_flag=True, help="Go on without missing or unreadable frames (warns).")
@click.option("--fps", type=float, default=24.0, show_default=True, help="Frame rate written to the document.")
@click.option("--pixel-aspect", type=float, default=1.0, show_default=True, help="Pixel aspect of the plate.")
@vectorize_options
@track_options
@click.option("--person", "persons", metavar="IDS", help="Only these people, e.g. 1,2.")
@click.option("--part", "parts", metavar="NAMES", help="Only these parts, e.g. hair,face,left_arm.")
@click.option("-t", "--target", help="Output format (default: from the output's extension). "
              "'m2fp-roto targets' lists them.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file (or pattern, e.g. mattes/shot.####.exr).")
@exporter_option_group
@plate_options
@cluster_option
def export(plate, labels, people, doc_path, label_set, frames, skip_missing, fps, pixel_aspect, vectorize, tracking,
           persons, parts, target, output, plate_opts, target_options, cluster):
    """Vectorize parsed frames into roto shapes and write them for Nuke, AE, EXR or JSON.

    \b
    Examples:
      m2fp-roto export --labels 'parse/shot.####.png' --people 'parse/people.####.png' \\
                       --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto export --labels mattes/ --label-set matte -o shot.json
      m2fp-roto export --doc shot.json --person 1 --part hair,face -o p1_head.jsx
      m2fp-roto export 'plates/shot.####.exr' --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto export 'plates/shot.####.exr' --cluster tcp://scheduler:8786 -o shot_roto.nk
    """
    from ..document import RotoDocument
    from ..pipeline import build_document
    from ..sources.labelmaps import LabelMapSource

    if bool(plate) + bool(labels) + bool(doc_path) != 1:
        raise click.UsageError("give exactly one input: PLATE, --labels PATTERN or --doc DOC.json")
    if doc_path:
        doc = RotoDocument.load(doc_path)
    else:
        if plate:  # parsed by the model, through the parse cache
            source = plate_source(plate, frames, skip_missing, output, plate_opts, fps=given("fps"),
                                  pixel_aspect=given("pixel_aspect"))
        else:
            source = LabelMapSource(labels, people, label_set=label_set, frames=frames, skip_missing=skip_missing,
                                    fps=fps, pixel_aspect=pixel_aspect)
        from ..farm.cluster import client_for

        with client_for(cluster) as client:
            doc = build_document(source, options=vectorize, progress=True, client=client, **tracking)
    if persons or parts:
        doc = doc.select(persons, parts)
    if not doc.shapes:
        log.warning("no shapes to write (empty frames, or --person/--part matched nothing)")
    target = target or exporters.exporter_for_path(output)
    written = exporters.write(doc, output, target, target_options, progress=Progress.reporter(target))
    n = len(written)
    click.echo(f"wrote {written[0] if n == 1 else f'{n} files ({written[0]} ...)'}: "
               f"{len(doc.shapes)} shapes, frames {doc.first_frame}-{doc.last_frame}")


@main.command()
def targets():
    """List the export targets and their options."""
    for name in exporters.exporter_names():
        try:
            module = exporters.load_exporter(name)
        except Exception as exc:
            click.echo(f"{name}: cannot be loaded ({exc})")
            continue
        click.echo(f"{name} ({', '.join(getattr(module, 'SUFFIXES', ()))}): {getattr(module, 'DESCRIPTION', '')}")
        for opt in exporters.exporter_options(module):
            choices = f" [{'|'.join(opt.choices)}]" if opt.choices else ""
            click.echo(f"    --{opt.name.replace('_', '-')}{choices}: {opt.help} (default: {opt.default})")


@main.command()
@click.argument("doc_path", metavar="DOC.json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--over", metavar="PATTERN", help="Label maps (coloured) or an image sequence to draw over; "
              "default: a grey background.")
@click.option("--label-set", default=None, help="Label set of --over label maps (default: the document's).")
@click.option("--frames", metavar="RANGE", help="Only these frames.")
@click.option("--no-labels", is_flag=True, help="Do not draw point indices.")
@click.option("-o", "--output", required=True, metavar="PATTERN", help="Output images, e.g. qc/preview.####.png.")
def preview(doc_path, over, label_set, frames, no_labels, output):
    """Draw the shapes (outlines, anchors with their index, handles) for a supervisor's check.

    \b
    Example:
      m2fp-roto preview shot.json --over 'labels/shot.####.png' -o 'qc/shot.####.png'
    """
    from ..document import RotoDocument
    from ..preview import write_previews

    doc = RotoDocument.load(doc_path)
    written = write_previews(doc, output, over=over, label_set=label_set, frames=frames,
                             indices=not no_labels)
    click.echo(f"wrote {len(written)} preview image(s): {written[0]} ...")


@main.command()
@click.option("-o", "--output", default="demo_out", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the synthetic label maps and every export.")
@click.option("--frames", type=int, default=24, show_default=True, help="Length of the synthetic shot.")
def demo(output, frames):
    """Run the whole job on a synthetic shot that ships with the tool.

    Generates label maps of a walking figure (synthetic, made by m2fp_roto.cli.demo), then writes
    shot.json, a Nuke script, an AE script, matte EXRs and preview images into OUTPUT.
    """
    from .demo import run_demo

    for line in run_demo(output, frames):
        click.echo(line)


register(main)  # parse, merge-cache, doctor (m2fp_roto.cli.plate)
register_farm(main)  # farm-job (m2fp_roto.cli.farm)


@main.group()
def install():
    """Wire m2fp-roto into a host application (menus, panels)."""


from .install_nuke import nuke as _install_nuke  # noqa: E402

install.add_command(_install_nuke)

from .install_ae import ae as _install_ae  # noqa: E402

install.add_command(_install_ae)
