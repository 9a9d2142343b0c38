"""The ``m2fp-roto`` command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .. import __version__, exporters
from ..atomic import recording
from ..errors import InputError, RotoError
from ..progress import Progress
from .farm import register as register_farm
from .inputs import NEW_DOCUMENT, check_options, check_part_names, new_folder, say_created
from .options import cluster_option, exporter_option_group, track_options, vectorize_options
from .plate import MODEL_ONLY, given, plate_options, plate_source, register
from .serve import serve as serve_command
from .signals import interrupts

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


def _more_verbose(ctx, param, value) -> None:
    """``-v`` given after a command name (``m2fp-roto export -v``): as ``m2fp-roto -v export``."""
    if value:
        log.setLevel(min(log.level, logging.DEBUG if value > 1 else logging.INFO))


def _add_verbose(command: click.Command) -> None:
    """Give ``command`` (and every command below it) its own ``-v/--verbose``."""
    if not any("-v" in p.opts for p in command.params):
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           callback=_more_verbose, help="More messages (-v: info, -vv: debug)."))
    for sub in getattr(command, "commands", {}).values():
        _add_verbose(sub)


def _interrupted(exc: KeyboardInterrupt, written: list) -> tuple[str, int]:
    """The one line an interrupted command ends with, and its exit status (128 + signal)."""
    import signal

    signum = getattr(exc, "signum", signal.SIGINT)
    head = f"interrupted by {signal.Signals(signum).name}"
    files = sorted(set(map(str, written)))
    if not files:
        return f"{head}: nothing written", 128 + signum
    what = files[0] if len(files) == 1 else f"{len(files)} files ({files[0]} ... {files[-1]})"
    return f"{head} after writing {what}; run the command again to write everything", 128 + signum


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt behind ``exc`` where a library turned it into an error of its own (a C
    extension whose module is being loaded reports it as ``ImportError: initialization
    failed``, the interrupt as its cause), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _os_error(exc: OSError) -> str:
    where = exc.filename or ""
    return f"{where}: {exc.strerror}" if where and exc.strerror else str(exc)


def _command_names(ctx) -> list[str]:
    """``["export"]`` or ``["install", "ae"]``: the commands below the group, whatever the program
    is called (``python -m m2fp_roto.cli``)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return names


class RotoGroup(click.Group):
    """Every command ends in one line on failure: user errors (``RotoError``), OS errors (a
    read-only folder) and usage errors are ``error: ...`` with exit status 2; SIGINT and SIGTERM
    unwind cleanly (see :mod:`.signals`) and say what had been written. Never a traceback."""

    group_class = type  # subgroups (install) behave the same

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with interrupts(restore=not standalone_mode) as handler:
            try:
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                handler.finish()
            except click.UsageError as exc:
                where = " ".join(["m2fp-roto", *_command_names(exc.ctx)])
                message = exc.format_message().replace("\n", " ")
                click.echo(f"error: {message[:1].lower() + message[1:]} (see {where} --help)", err=True)
                code = exc.exit_code
            except click.ClickException as exc:
                click.echo(f"error: {exc.format_message()}", err=True)
                code = exc.exit_code
            except click.Abort as exc:  # an interrupt while reading the command line
                message, code = _interrupted(exc.__cause__ or KeyboardInterrupt(), [])
                click.echo(message, err=True)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        with recording() as written:
            try:
                return super().invoke(ctx)
            except click.exceptions.Exit:
                raise
            except RotoError as exc:
                message, code = f"error: {exc}", 2
            except OSError as exc:
                message, code = f"error: {_os_error(exc)}", 2
            except KeyboardInterrupt as exc:  # Interrupted (SIGINT, SIGTERM) included
                message, code = _interrupted(exc, written)
            except Exception as exc:
                interrupt = _interrupt_behind(exc)
                if interrupt is None:
                    raise
                message, code = _interrupted(interrupt, written)
        # Out of the except clause: the interrupted frames are gone, so worker pools have stopped.
        click.echo(message.replace("\n", " "), err=True)
        ctx.exit(code)


@click.group(cls=RotoGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="m2fp-roto")
@click.option("-v", "--verbose", count=True, help="More messages (-v: info, -vv: debug); also after a command.")
def main(verbose):
    """Tracked, editable roto shapes of people for Nuke, After Effects and EXR mattes.

    \b
    Examples:
      m2fp-roto export --labels 'labels/shot.####.png' --people 'people/shot.####.png' \\
                       --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto preview shot.json --over 'labels/shot.####.png' -o 'qc/preview.####.png'
      m2fp-roto info shot.json
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
              help="Convert an existing RotoDocument JSON instead of vectorizing (with --frames: only those "
              "frames; --fps, --pixel-aspect: restamp it).")
@click.option("--label-set", default="cihp", show_default=True,
              help="Ids of the label maps: cihp, lip, atr, pascal, or matte (a plain matte, see --matte-threshold).")
@click.option("--matte-threshold", type=click.FloatRange(0.0, 1.0, min_open=True), default=None,
              help="With --label-set matte: inside from this fraction of the matte's range (default 0.5); "
              "grey, RGB (luminance) or RGBA (alpha) mattes.")
@click.option("--frames", metavar="RANGE", help="Frames to use, e.g. 1001-1100 (default: all on disk); with --doc, "
              "the frames to write.")
@click.option("--skip-missing", is_flag=True, help="Go on without missing or unreadable frames (warns).")
@click.option("--fps", type=click.FloatRange(0.0, min_open=True), default=24.0, show_default=True,
              help="Frame rate written to the document.")
@click.option("--pixel-aspect", type=click.FloatRange(0.0, min_open=True), default=1.0, show_default=True,
              help="Pixel aspect of the plate.")
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
def export(plate, labels, people, doc_path, label_set, matte_threshold, frames, skip_missing, fps, pixel_aspect,
           vectorize, tracking, persons, parts, target, output, plate_opts, target_options, cluster):
    """Vectorize parsed frames into roto shapes and write them for Nuke, AE, EXR or JSON.

    \b
    Examples:
      m2fp-roto export --labels 'parse/shot.####.png' --people 'parse/people.####.png' \\
                       --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto export --labels mattes/ --label-set matte -o shot.json
      m2fp-roto export --doc shot.json --person 1 --part hair,face -o p1_head.jsx
      m2fp-roto export --doc shot.json --frames 1001-1050 -o 'mattes/shot.####.exr'
      m2fp-roto export 'plates/shot.####.exr' --frames 1001-1100 --target nuke -o shot_roto.nk
      m2fp-roto export 'plates/shot.####.exr' --cluster tcp://scheduler:8786 -o shot_roto.nk
    """
    from ..document import RotoDocument
    from ..labelsets import get_label_set
    from ..pipeline import build_document
    from ..sources.frames import format_frames, parse_frames
    from ..sources.labelmaps import LabelMapSource

    if bool(plate) + bool(labels) + bool(doc_path) != 1:
        raise click.UsageError("give exactly one input: PLATE, --labels PATTERN or --doc DOC.json")
    kind = "doc" if doc_path else "labels" if labels else "plate"
    check_options(click.get_current_context(), kind, NEW_DOCUMENT + vectorize_options.names + track_options.names
                  + cluster_option.names, MODEL_ONLY)
    target = exporters.resolve_target(output, target)
    exporters.checked_options(target, target_options)  # a bad option fails before any work
    if doc_path:
        doc = RotoDocument.load(doc_path)
        for name in ("fps", "pixel_aspect"):
            if given(name) is not None:
                setattr(doc, name, given(name))
        check_part_names(parts, doc.label_set)
    else:
        check_part_names(parts, "cihp" if plate else get_label_set(label_set).name)
        if plate:  # parsed by the model, through the parse cache
            source = plate_source(plate, frames, skip_missing, output, plate_opts, fps=given("fps"),
                                  pixel_aspect=given("pixel_aspect"))
        else:
            source = LabelMapSource(labels, people, label_set=label_set, frames=frames, skip_missing=skip_missing,
                                    fps=fps, pixel_aspect=pixel_aspect, first_frame=plate_opts["first_frame"],
                                    matte_threshold=matte_threshold)
        from ..farm.cluster import client_for

        with client_for(cluster) as client:
            doc = build_document(source, options=vectorize, progress=True, client=client, **tracking)
        if not doc.shapes:
            raise InputError(f"no shapes: no frame of {doc.source} holds a region of at least --min-area "
                             f"{vectorize.min_area:g} px (are the maps empty? is --label-set right?)")
    wanted = parse_frames(frames) if doc_path else None  # from a document: the frames to write
    created = new_folder(output)
    written = exporters.write(doc, output, target, target_options, people=persons, parts=parts, frames=wanted,
                              progress=Progress.reporter(target))
    # Said after the write, so that a failure is always one line.
    say_created(created)
    if not doc_path and getattr(source, "empty", None):
        log.warning("frame(s) %s: the label maps are empty", format_frames(source.empty))
    unmatched = doc.unmatched(persons, parts)
    if unmatched:
        log.warning("no shapes for %s (the document has people %s)", ", ".join(unmatched),
                    ", ".join(map(str, doc.people)))
    kept = doc.trim(wanted[0], wanted[-1]) if wanted else doc
    kept = kept.select(persons, parts) if persons or parts else kept
    span = format_frames(wanted) if wanted else f"{doc.first_frame}-{doc.last_frame}"
    n = len(written)
    click.echo(f"wrote {written[0] if n == 1 else f'{n} files ({written[0]} ...)'}: "
               f"{len(kept.shapes)} shapes, frames {span}")
    if not doc_path and doc.metadata.get("skipped_frames"):
        n_skipped = len(parse_frames(doc.metadata["skipped_frames"]))
        click.echo(f"{n_skipped} frame(s) skipped ({doc.metadata['skipped_frames']}): no keys there, "
                   "shapes interpolated through them")


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
@click.argument("doc_path", metavar="DOC.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--over", metavar="PATTERN", help="Label maps (coloured) or an image sequence to draw over; "
              "default: a grey background.")
@click.option("--label-set", default=None, help="Label set of --over and --labels label maps (default: the "
              "document's).")
@click.option("--frames", metavar="RANGE", help="Only these frames.")
@click.option("--no-labels", is_flag=True, help="Do not draw point indices.")
@click.option("--qc", is_flag=True, help="Mark what to check: outlines that cross themselves (red), shapes on "
              "other people (orange, needs --people), shapes that miss their part's region (violet, needs "
              "--labels), hidden shapes (dotted), shapes that start or end mid-shot; and count them.")
@click.option("--people", metavar="PATTERN", help="Person maps of the shot, for --qc: shapes with more than 5% "
              "of their area on other people.")
@click.option("--labels", "label_maps", metavar="PATTERN", help="Label maps of the shot, for --qc: shapes that "
              "overlap their part's region less than 85% (IoU); with several people add --people.")
@click.option("-o", "--output", required=True, metavar="PATTERN", help="Output images, e.g. qc/preview.####.png "
              "(a folder: FOLDER/DOC.####.png).")
def preview(doc_path, over, label_set, frames, no_labels, qc, people, label_maps, output):
    """Draw the shapes (outlines, anchors with their index, handles) for a supervisor's check.

    \b
    Example:
      m2fp-roto preview shot.json --over 'labels/shot.####.png' -o 'qc/shot.####.png'
      m2fp-roto preview shot.json --qc --over 'labels/shot.####.png' --people 'people/shot.####.png' -o qc/
      m2fp-roto preview shot.json --qc --labels 'labels/shot.####.png' --people 'people/shot.####.png' -o qc/
    """
    from ..document import RotoDocument
    from ..preview import output_pattern, write_previews
    from ..qc import summary

    if label_set and not (over or label_maps):
        raise InputError("--label-set says how to read --over or --labels label maps; without them there are none")
    for maps, flag, what in ((people, "--people", "shapes lying on other people"),
                             (label_maps, "--labels", "shapes missing their part's region")):
        if maps and not qc:
            raise InputError(f"{flag} is for --qc ({what}); add --qc")
    doc = RotoDocument.load(doc_path)
    if label_maps and not people and len(doc.people) > 1:
        raise InputError(f"--labels on a shot of {len(doc.people)} people needs --people too, to tell whose "
                         "region each part is")
    pattern = output_pattern(output, doc_path.stem)
    created = new_folder(pattern)
    findings = [] if qc else None
    written = write_previews(doc, pattern, over=over, label_set=label_set, frames=frames,
                             indices=not no_labels, progress=True, qc=findings, people=people,
                             label_maps=label_maps)
    say_created(created)
    click.echo(f"wrote {len(written)} preview image(s): {written[0]}" + (" ..." if len(written) > 1 else ""))
    if qc:
        click.echo(summary(findings, people=bool(people), label_maps=bool(label_maps)))


@main.command()
@click.argument("doc_path", metavar="DOC.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of a table.")
def info(doc_path, as_json):
    """What a document holds: plate, frames, people and parts, and per shape its lifetime, keys and
    points.

    \b
    Example:
      m2fp-roto info shot.json
      m2fp-roto info shot.json --json | jq '.shapes[] | select(.keys > 20)'
    """
    from ..document import RotoDocument
    from .info import summary, table

    doc = RotoDocument.load(doc_path)
    if as_json:
        import json

        click.echo(json.dumps(summary(doc), indent=1))
    else:
        for line in table(doc, doc_path):
            click.echo(line)


@main.command()
@click.option("-o", "--output", default="demo_out", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the synthetic label maps and every export.")
@click.option("--frames", type=click.IntRange(min=2, max=1000), default=24, show_default=True,
              help="Length of the synthetic shot.")
def demo(output, frames):
    """Run the whole job on a synthetic shot that ships with the tool.

    Generates label maps of two walking figures (synthetic, made by m2fp_roto.cli.demo), then
    writes shot.json, a Nuke script, an AE script, matte EXRs and preview images into OUTPUT.
    """
    from .demo import run_demo

    if Path(output).exists() and not Path(output).is_dir():
        raise InputError(f"{output} is a file; the demo writes a folder")
    for line in run_demo(output, frames):
        click.echo(line)


register(main)  # parse, merge-cache, doctor (m2fp_roto.cli.plate)
register_farm(main)  # farm-job (m2fp_roto.cli.farm)
main.add_command(serve_command)  # the web page and REST API (m2fp_roto.cli.serve)


@main.group()
def install():
    """Wire m2fp-roto into a host application (menus, panels)."""


from .install_nuke import nuke as _install_nuke  # noqa: E402

install.add_command(_install_nuke)

from .install_ae import ae as _install_ae  # noqa: E402

install.add_command(_install_ae)
_add_verbose(main)  # -v after any command name, too
