"""After Effects target: one self-contained ExtendScript (ES3) file that builds animated masks.

Run in AE (File > Scripts > Run Script File, or from the m2fp-roto panel), the script puts one
mask per shape on the selected layer of the active comp or, with nothing selected, on the plate
(or a solid of the document's size when the document names no plate or the plate is missing)
in a new comp of the document's size, pixel aspect, fps and duration. Holes are Subtract masks
placed right after the shape they are cut from. Mask Path keys are set with one
``setValuesAtTimes`` call per mask, linearly interpolated as the document is; shapes that live
shorter than the shot get hold-keyed Mask Opacity (100 while alive, 0 outside). Everything
happens in one undo group.

The data travels as JS literals inside the file (no sidecar, no ``JSON`` object, which
ExtendScript lacks): coordinates as integers in units of ``10**-decimals`` px (each key after
the first as its difference from the previous one), frames as the plate's own numbers. The
embedded runtime (``ae_jsx/m2fp_runtime.jsxinc``) turns a frame f into comp time
``layer.startTime + (f - base) * frameDuration * stretch`` with AE's own frame duration, where
``base`` is the footage's first frame (a sequence's first file number, ``movie_first_frame`` for
a movie, else the document's first frame), so layers that do not start at 0 and NTSC rates come
out right. AE layer space equals the document's image space (x right, y down, origin at the
top-left pixel corner), so no coordinate is changed on a layer of the document's size.
Every text (names, paths) is written through :func:`jstext.js_string`: pure ASCII, no way out
of its literal.
"""

from __future__ import annotations

import zlib
from colorsys import hsv_to_rgb
from importlib import resources
from pathlib import Path, PurePath

import numpy as np

from m2fp_roto.atomic import atomic_write_text
from m2fp_roto.document import RotoDocument, Shape
from m2fp_roto.errors import InputError
from m2fp_roto.exporters import Option
from m2fp_roto.sources.frames import PADDING

from .jstext import js_escape, js_int_list, js_number, js_string

NAME = "ae"
SUFFIXES = (".jsx",)
DESCRIPTION = "After Effects script that builds keyed masks (ExtendScript, runs without plug-ins)"
OPTIONS = (
    Option("mask_mode", "add", "mode of the outer masks (holes always subtract when 'add')",
           choices=("add", "none")),
    Option("decimals", 2, "decimal places kept in mask coordinates (2 = 0.01 px)", type=int),
    Option("movie_first_frame", 1, "frame number the document gives a movie plate's first frame "
           "(as export --first-frame)", type=int),
)
RUNTIME = "m2fp_runtime.jsxinc"
SCHEMA = "m2fp-roto/ae/1"


def runtime_source() -> str:
    """The ES3 runtime every exported script embeds (shipped in ``m2fp_roto_ae``)."""
    return resources.files("m2fp_roto_ae").joinpath(RUNTIME).read_text(encoding="ascii")


def part_color(part: str) -> tuple[float, float, float]:
    """A stable mask colour per part name (AE colour-codes masks in the timeline)."""
    hue = (zlib.crc32(part.encode("utf-8")) % 360) / 360.0
    return hsv_to_rgb(hue, 0.65, 0.95)


def mask_order(doc: RotoDocument) -> list[Shape]:
    """Shapes in document order, each hole moved right after the shape it is cut from.

    AE combines masks top to bottom, so a Subtract mask only cuts what lies above it; placing
    a hole right below its parent keeps it from cutting shapes that come later.
    """
    holes: dict[str, list[Shape]] = {}
    for s in doc.shapes:
        if s.hole and s.parent is not None:
            holes.setdefault(s.parent, []).append(s)
    ordered = []
    for s in doc.shapes:
        if s.hole and s.parent is not None:
            continue
        ordered.append(s)
        ordered.extend(holes.get(s.name, ()))
    return ordered


def plate_info(plate: str | None, first_frame: int) -> dict | None:
    """What the script imports: the plate's first document frame as a file, and whether the
    plate is a numbered sequence (``shot.####.exr``, ``%04d``, ``@@@@``...) or one file."""
    if not plate:
        return None
    import fileseq  # the sequence grammar the rest of the toolkit reads

    try:
        seq = fileseq.FileSequence(str(plate), pad_style=fileseq.PAD_STYLE_HASH1)
    except fileseq.ParseException:
        return {"path": str(plate), "sequence": False}
    if not seq.padding():
        return {"path": str(plate), "sequence": False}
    return {"path": seq.frame(first_frame), "sequence": True}


def _comp_name(doc: RotoDocument) -> str:
    """``shot roto`` from ``plates/shot.####.exr``; the folder's name when the file name is only a
    frame number (``rollerblade/#####.png``)."""
    for text in (doc.plate, doc.source):
        if text:
            path = PurePath(str(text).replace("\\", "/"))
            for name in (path.name, path.parent.name):
                stem = PADDING.sub("", name).split(".")[0].strip("_- ")
                if stem and not stem.isdigit():
                    return f"{stem} roto"
    return "m2fp roto"


def _mask_literal(shape: Shape, mode: str, scale: float) -> str:
    stack = np.stack([k.points for k in shape.keys])  # (K, N, 6): the document's point order
    ints = np.rint(stack * scale).astype(np.int64).reshape(len(shape.keys), -1)
    # Keys after the first are differences from the previous key: motion between keys is small,
    # so the numbers are short (about half the file); integer sums in the script are exact.
    ints[1:] = np.diff(ints, axis=0)
    keys = ",\n  ".join(js_int_list(row) for row in ints)
    color = ",".join(js_number(round(c, 4)) for c in part_color(shape.part))
    return (f"{{name:{js_string(shape.name)},mode:{js_string(mode)},color:[{color}],"
            f"points:{shape.n_points},visible:[{','.join(js_int_list(run) for run in shape.drawn_runs())}],"
            f"frames:{js_int_list(shape.key_frames)},\n keys:[{keys}]}}")


def check_options(mask_mode: str = "add", decimals: int = 2, movie_first_frame: int = 1) -> None:
    """Refuse impossible options (before any work: :func:`m2fp_roto.exporters.write` calls it)."""
    if mask_mode not in ("add", "none"):
        raise InputError(f"--mask-mode must be 'add' or 'none', got {mask_mode!r}")
    if not 0 <= int(decimals) <= 4:
        raise InputError(f"--decimals must be between 0 and 4, got {decimals}")


def write_to_string(doc: RotoDocument, mask_mode: str = "add", decimals: int = 2,
                    movie_first_frame: int = 1) -> str:
    """The whole script as text (pure ASCII). Coordinates stay exact: the document's bound
    (:data:`m2fp_roto.document.OUTSIDE_FRAMES`) keeps them far below 2**53 at 4 decimals."""
    check_options(mask_mode, decimals, movie_first_frame)
    decimals = int(decimals)
    doc.validate()
    scale = 10 ** decimals
    masks = []
    for shape in mask_order(doc):
        mode = "subtract" if shape.hole and mask_mode == "add" else mask_mode
        masks.append(_mask_literal(shape, mode, scale))
    plate = plate_info(doc.plate, doc.first_frame)
    plate_js = "null" if plate is None else (
        f"{{path:{js_string(plate['path'])},sequence:{'true' if plate['sequence'] else 'false'}}}")
    header = (
        "//@target aftereffects\n"
        f"// m2fp-roto After Effects masks ({SCHEMA}): {len(masks)} masks, "
        f"{doc.width}x{doc.height}, frames {doc.first_frame}-{doc.last_frame} at {js_number(doc.fps)} fps\n"
        f"// plate: {js_escape(doc.plate or 'none')}\n"
        "// Run with File > Scripts > Run Script File: masks go on the selected layer of the active\n"
        "// comp, or on the plate (or a solid) in a new comp when no layer is selected.\n")
    data = (
        f"var M2FP_DATA = {{schema:{js_string(SCHEMA)},name:{js_string(_comp_name(doc))},"
        f"width:{int(doc.width)},height:{int(doc.height)},pixelAspect:{js_number(doc.pixel_aspect)},"
        f"fps:{js_number(doc.fps)},firstFrame:{int(doc.first_frame)},lastFrame:{int(doc.last_frame)},"
        f"movieFirstFrame:{int(movie_first_frame)},scale:{scale},plate:{plate_js},\nmasks:[\n" + ",\n".join(masks) + "\n]};\n")
    return (header + "(function () {\n" + runtime_source() + "\n" + data
            + "return m2fpImport(M2FP_DATA);\n})();\n")


def write_to_file(doc: RotoDocument, path, mask_mode: str = "add", decimals: int = 2,
                  movie_first_frame: int = 1) -> list[Path]:
    """Write the script atomically; returns ``[path]``."""
    text = write_to_string(doc, mask_mode=mask_mode, decimals=decimals, movie_first_frame=movie_first_frame)
    return [atomic_write_text(path, text, encoding="ascii")]


__all__ = ["NAME", "SUFFIXES", "DESCRIPTION", "OPTIONS", "check_options", "write_to_string", "write_to_file",
           "mask_order", "plate_info", "part_color", "runtime_source"]
