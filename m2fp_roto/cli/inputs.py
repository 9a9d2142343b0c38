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
    """The command-line spellings (``--tolerance``) of those ``names`` the user gave."""
    out = []
    for param in ctx.command.params:
        if param.name in names and ctx.get_parameter_source(param.name) not in (
                None, click.core.ParameterSource.DEFAULT):
            out.append(max(param.opts, key=len))
    return out


def check_options(ctx: click.Context, kind: str, new_document: tuple, model_only: tuple) -> None:
    """Refuse options that do not apply to the input ``kind`` ("doc", "labels" or "plate")."""
    rules = {
        "doc": (LABELS_ONLY + model_only + new_document + NEW_DOCUMENT,
                "--doc converts an existing document; they shape a new one from label maps or a plate"),
        "labels": (model_only, "they are for a PLATE parsed by the model"),
        "plate": (LABELS_ONLY, "they are for --labels input"),
    }
    names, reason = rules[kind]
    bad = given_options(ctx, names)
    if bad:
        flag = {"doc": "--doc", "labels": "--labels", "plate": "a PLATE"}[kind]
        verb = "does" if len(bad) == 1 else "do"
        raise InputError(f"{', '.join(bad)} {verb} not apply to {flag} ({reason})")


def check_part_names(parts, label_set: str) -> None:
    """Unknown part names fail before any work, with the label set's names listed."""
    from ..document import RotoDocument

    if parts:  # an empty document of that label set checks the names as the real one will
        RotoDocument(width=1, height=1, first_frame=0, last_frame=0, label_set=label_set).select(parts=parts)


def note_new_folder(output) -> None:
    """Say on stderr when the output's folder does not exist yet (the writers create it)."""
    folder = Path(output).expanduser().parent
    if str(folder) not in ("", ".") and not folder.exists():
        log.warning("the folder %s does not exist; it is created", folder)
