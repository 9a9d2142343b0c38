"""The lossless target: the RotoDocument's own JSON (the hand-off to every other tool)."""

from __future__ import annotations

from pathlib import Path

from m2fp_roto.document import RotoDocument

NAME = "json"
SUFFIXES = (".json",)
DESCRIPTION = "the RotoDocument as JSON (lossless; what the Nuke and AE sides read)"
OPTIONS = ()


def write_to_string(doc: RotoDocument) -> str:
    return doc.validate().to_json(indent=1)


def write_to_file(doc: RotoDocument, path) -> list[Path]:
    return [doc.save(path)]


def read_from_file(path) -> RotoDocument:
    return RotoDocument.load(path)
