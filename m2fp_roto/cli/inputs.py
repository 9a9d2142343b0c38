"""What ``export`` reads: one input (a PLATE, ``--labels`` or ``--doc``) and only options that
apply to it.

An option that cannot act on the chosen input is an error naming it, never silently ignored:
``--doc`` converts an existing document, so the options that shape a new one (``--tolerance``,
the tracking options, ``--first-frame`` ...) cannot apply to it, while ``--frames``, ``--fps``
and ``--pixel-aspect`` can (they trim or restamp the document).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import InputError

log = logging.getLogger("m2fp_roto")

LABELS_ONLY = ("people", "label_set", "matte_threshold")
#: Options that shape a new document (vectorize, track, read frames): not for ``--doc``.
NEW_DOCUMENT = ("skip_missing", "first_frame")


def given_options(ctx: click.Context, names) -> list[str]:
    """The command-line spellings (``--tolerance``, ``--no-track``) of those ``names`` the user gave."""
    out = []
    for param in ctx.command.params:
        if param.name in names and ctx.get_parameter_source(param.name) not in (
                None, click.core.ParameterSource.DEFAULT):
            off = getattr(param, "secondary_opts", None) and ctx.params.get(param.name) is False
            out.append(max(param.secondary_opts if off else param.opts, key=len))
    return out


def check_options(ctx: click.Context, kind: str, new_document: tuple, model_only: tuple) -> None:
    """Refuse options that do not apply to the input ``kind`` ("doc", "labels" or "plate")."""
    rules = {
        "doc": (LABELS_ONLY + model_only + new_document + NEW_DOCUMENT,
                ("--doc, which converts an existing document (only --frames, --fps, --pixel-aspect, --person, "
                 "--part and the target's options do)")),
        "labels": (model_only, "--labels (only to a PLATE parsed by the model)"),
        "plate": (LABELS_ONLY, "a PLATE (only to --labels input)"),
    }
    names, where = rules[kind]
    bad = given_options(ctx, names)
    if bad:
        raise InputError(f"{', '.join(bad)} {'does' if len(bad) == 1 else 'do'} not apply to {where}")


def check_part_names(parts, label_set: str) -> None:
    """Unknown part names fail before any work, with the label set's names listed."""
    from ..document import RotoDocument

    if parts:  # an empty document of that label set checks the names as the real one will
        RotoDocument(width=1, height=1, first_frame=0, last_frame=0, label_set=label_set).select(parts=parts)


def new_folder(output) -> Path | None:
    """The output's folder if it does not exist yet (the writers create it; the command then says
    so with :func:`say_created`), else None."""
    folder = Path(output).expanduser().parent
    return None if str(folder) in ("", ".") or folder.exists() else folder


def say_created(folder: Path | None) -> None:
    """A folder the command created for its output: said on stderr, never silently."""
    if folder is not None and folder.is_dir():
        log.warning("created the folder %s for the output", folder)
