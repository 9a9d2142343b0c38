"""The ``m2fp-roto`` command lines a farm job runs.

The job format fills in its own placeholders (Open Job Description's ``{{Param.Plate}}``) or
the shot's values.
"""

from __future__ import annotations

COMMAND = "m2fp-roto"  # on the render nodes' PATH (see the README)


def parse_command(plate, frames, cache, settings=()) -> list[str]:
    """``m2fp-roto parse``: one chunk of ``frames`` into the shared ``cache``. ``settings``:
    options that change a parse (``--precision bf16`` ...), the same for both steps."""
    return [COMMAND, "parse", str(plate), "--frames", str(frames), "--cache", str(cache), *settings]


def export_command(source: list[str], frames, target, output, cache=None, settings=(), options=()) -> list[str]:
    """``m2fp-roto export``: ``source`` (``[PLATE]`` or ``["--labels", PATTERN, ...]``) read
    through ``cache`` (plates), tracked, written to ``output`` as ``target``; ``options``:
    vectorize, tracking and target options."""
    cache_args = ["--cache", str(cache)] if cache is not None else []
    return [COMMAND, "export", *map(str, source), "--frames", str(frames), *cache_args, *settings, *options,
            "--target", str(target), "-o", str(output)]
