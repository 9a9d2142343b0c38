"""The Nuke target: a ``.nk`` script with one Roto node per person (or one for everybody).

The script opens with File > Open (a Root with the plate's format, pixel aspect, frame range and
fps) and also loads with ``nuke.nodePaste`` (the Nuke-side importer writes it with
``root=False`` so that pasting never changes the artist's project settings).

Roto ``curves`` text follows the grammar Nuke 7.0 to 17.1 writes (see the Foundry NDK "Roto
serialisation format" and real Nuke scripts): a ``Root`` layer holding one layer per person,
named ``p{person}``; in it one ``curvegroup`` per shape, named as in the document. Every control
point is three entries (left tangent relative to the centre, centre, right tangent), animated
with one shared key-time list per shape; points are in Nuke's pixel space, origin at the
bottom-left corner, so ``y_nuke = height - y`` and tangent y components change sign. Shapes are
visible only inside their lifetime (``ltt`` 4 = frame range); on the frames where a shape is
hidden (``Shape.hidden``: its part is behind something) all its points sit on its centre, keyed
on the frames either side so it is whole up to the cut (the text form of animated opacity is not
documented, animated points are). A hole is drawn directly above the
shape it is cut from with the ``minus`` blend (``bm`` 12); shapes that have holes go below the
others, smaller ones first, so a hole cuts only its own shape. (A blend acts on everything below
it in the node, so with ``group="all"`` a hole of one person also cuts a person in a layer below
where they overlap; the default, one node per person, keeps every hole to its own person.)

Interpolation: the document interpolates linearly between keys, but Nuke's default key
interpolation on roto points is smooth (cubic), and the text form of a linear key is not
documented. ``bake="frames"`` (the default) therefore keys every frame of each shape's key span,
which makes Nuke's shape equal the document's on every frame; ``bake="keys"`` writes only the
document's keys (lighter to edit; Nuke then eases between them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2fp_roto.atomic import atomic_write_text
from m2fp_roto.document import RotoDocument, Shape
from m2fp_roto.errors import InputError
from m2fp_roto.exporters import Option
from m2fp_roto.geometry import polygon_area

from .nk_text import NukeTextError, curve_name, float_tokens, nk_float, tcl_word

NAME = "nuke"
SUFFIXES = (".nk",)
DESCRIPTION = "Nuke script with Roto nodes (one per person, or one for all), every point keyed"
OPTIONS = (
    Option("group", "per-person", "one Roto node per person, or one node holding every person",
           choices=("per-person", "all")),
    Option("bake", "frames", "key every frame of a shape's key span (exact in Nuke), or only the "
           "document's keys (Nuke eases between them)", choices=("frames", "keys")),
    Option("root", True, "write a Root node with the plate's format, frame range and fps "
           "(off: nodes only, for pasting into an open script)", type=bool),
)

NUKE_VERSION = "12.2 v5"   # the .nk dialect; the roto curves format is unchanged from 7.0 to 17.1
TREE_VERSION = "x3f99999a"  # roto curve-tree format 1.2
LAYER_FLAGS = 2097664      # renderable + expanded, what Nuke gives a new layer
ROOT_FLAGS = 512           # renderable
SHAPE_FLAGS = 512          # renderable; never selected or locked
CC_FLAGS = 8192            # tangents relative to their centre
BEZIER_TOOL = 4.0          # 'tt': created with the Bezier tool
LIFETIME_RANGE = 4.0       # 'ltt': visible from ltn to ltm only
BLEND_MINUS = 12.0         # 'bm' numbering of Nuke 17.1 (over 0 ... minus 12)
NODE_SPACING = 110         # DAG x distance between Roto nodes


@dataclass
class _Track:
    """One shape ready to write: key times and its Nuke entries (times, N*3 entries, 2)."""

    shape: Shape
    times: np.ndarray
    entries: np.ndarray


# -- public API -------------------------------------------------------------------------------------

def write_to_string(doc: RotoDocument, group: str = "per-person", bake: str = "frames", root: bool = True) -> str:
    """The ``.nk`` text for ``doc``.

    Parameters
    ----------
    doc : RotoDocument
    group : {"per-person", "all"}
        One Roto node per person, or one node with a layer per person.
    bake : {"frames", "keys"}
        Key every frame of each shape's key span, or only the document's keys.
    root : bool
        Start with a Root node carrying the plate's format, frame range and fps.

    Examples
    --------
    >>> from m2fp_roto.document import RotoDocument, Shape
    >>> doc = RotoDocument(width=64, height=48, first_frame=1001, last_frame=1001)
    >>> doc.shapes.append(Shape.static("p1_face", 1, "face", 1001, 1001,
    ...     [[10, 10, 0, 0, 0, 0], [20, 10, 0, 0, 0, 0], [15, 20, 0, 0, 0, 0]]))
    >>> "curvegroup p1_face 512 bezier" in write_to_string(doc)
    True
    """
    check_options(group, bake, root)
    doc.validate()
    clash = sorted({s.name for s in doc.shapes} & ({"Root"} | {f"p{p}" for p in doc.people}))
    if clash:
        raise NukeTextError(f"shape name {clash[0]!r} is also a layer name in the Nuke script "
                            "(Root, p1, p2 ...); rename the shape")
    out = [f"version {NUKE_VERSION}\n"]
    if root:
        out.append(_root_node(doc))
    people_ids = doc.people
    batches = [[p] for p in people_ids] if group == "per-person" else ([people_ids] if people_ids else [])
    for i, batch in enumerate(batches):
        name = f"M2FP_p{batch[0]}_Roto" if group == "per-person" else "M2FP_Roto"
        out.append(_roto_node(doc, batch, name, xpos=i * NODE_SPACING, bake=bake))
    return "".join(out)


def check_options(group: str = "per-person", bake: str = "frames", root: bool = True) -> None:
    """Refuse impossible options (before any work: :func:`m2fp_roto.exporters.write` calls it)."""
    if group not in ("per-person", "all"):
        raise InputError(f"--group must be 'per-person' or 'all', not {group!r}")
    if bake not in ("frames", "keys"):
        raise InputError(f"--bake must be 'frames' or 'keys', not {bake!r}")


def write_to_file(doc: RotoDocument, path, group: str = "per-person", bake: str = "frames",
                  root: bool = True) -> list[Path]:
    """Write :func:`write_to_string`'s text to ``path`` atomically; returns ``[path]``."""
    text = write_to_string(doc, group=group, bake=bake, root=root)
    return [atomic_write_text(path, text)]


# -- nodes ------------------------------------------------------------------------------------------

def _format(doc: RotoDocument) -> str:
    # "W H X Y R T PIXEL_ASPECT NAME"; no name, so no facility format is redefined.
    return tcl_word(f"{doc.width} {doc.height} 0 0 {doc.width} {doc.height} {doc.pixel_aspect:.10g} ")


def _root_node(doc: RotoDocument) -> str:
    return ("Root {\n inputs 0\n"
            f" frame {doc.first_frame}\n first_frame {doc.first_frame}\n last_frame {doc.last_frame}\n"
            f" fps {doc.fps:.10g}\n format {_format(doc)}\n}}\n")


def _roto_node(doc: RotoDocument, people: list[int], name: str, xpos: int, bake: str) -> str:
    layers = "\n".join(_layer(doc, p, bake) for p in people)
    w, h = nk_float(doc.width / 2), nk_float(doc.height / 2)
    curves = (f"{{{{v {TREE_VERSION}}}\n  {{f 0}}\n  {{n\n   {{layer Root\n    {{f {ROOT_FLAGS}}}\n"
              f"    {{t {w} {h}}}\n    {{a}}\n{layers}}}}}}}")
    knobs = [" inputs 0", " output alpha", f" format {_format(doc)}", f" curves {{{curves}}}",
             f" name {name}", f" xpos {xpos}", " ypos 0",
             " addUserKnob {20 m2fp l M2FP}",
             " addUserKnob {1 m2fp_people l people}", f" m2fp_people {tcl_word(' '.join(map(str, people)))}"]
    for knob, value in (("source", doc.source), ("plate", doc.plate)):
        if value:
            knobs += [f" addUserKnob {{1 m2fp_{knob} l {knob}}}", f" m2fp_{knob} {tcl_word(value)}"]
    return "Roto {\n" + "\n".join(knobs) + "\n}\n"


# -- curves text ------------------------------------------------------------------------------------

def _layer(doc: RotoDocument, person: int, bake: str) -> str:
    shapes = _stacking_order([s for s in doc.shapes if s.person == person])
    w, h = nk_float(doc.width / 2), nk_float(doc.height / 2)
    body = "\n".join(_curvegroup(doc, _track(doc, s, bake)) for s in shapes)
    return f"    {{layer {curve_name(f'p{person}')}\n     {{f {LAYER_FLAGS}}}\n     {{t {w} {h}}}\n     {{a}}\n{body}}}"


def _area(shape: Shape) -> float:
    return abs(polygon_area(shape.keys[0].points[:, :2]))


def _stacking_order(shapes: list[Shape]) -> list[Shape]:
    """Top-most first: plain shapes, then each holed shape (smallest first) under its holes.

    A hole's ``minus`` blend cuts everything below it in the node. Parts of one person do not
    overlap, so a shape lying inside another's hole is smaller than that other shape; putting
    small holed shapes above big ones keeps every hole from cutting anything but its parent.
    """
    names = {s.name for s in shapes}
    holes: dict[str, list[Shape]] = {}
    orphans = []
    for s in shapes:
        if s.hole:
            (holes.setdefault(s.parent, []) if s.parent in names else orphans).append(s)
    plain = [s for s in shapes if not s.hole and s.name not in holes]
    holed = sorted((s for s in shapes if not s.hole and s.name in holes), key=_area)
    order = list(plain)
    for parent in holed:
        order += holes[parent.name] + [parent]
    return order + orphans  # holes without their shape here cut nothing of this person: bottom


def _track(doc: RotoDocument, shape: Shape, bake: str) -> _Track:
    """Key times and Nuke entries; ``frames`` bakes the linear interpolation onto every frame."""
    times = shape.key_frames
    if bake == "frames" and len(times) > 1:
        times = np.arange(times[0], times[-1] + 1)
    if shape.hidden:  # keyed either side of each hidden run: whole up to it, a point inside it
        lo, hi = shape.frames
        times = np.union1d(times, [f for a, b in shape.hidden for f in (a - 1, a, b, b + 1) if lo <= f <= hi])
    stack = _collapse_hidden(shape, times, shape.points_over(times))  # (K, N, 6)
    n, npts = stack.shape[:2]
    entries = np.empty((n, npts, 3, 2))
    entries[:, :, 0, 0], entries[:, :, 0, 1] = stack[:, :, 2], -stack[:, :, 3]       # left = incoming
    entries[:, :, 1, 0], entries[:, :, 1, 1] = stack[:, :, 0], doc.height - stack[:, :, 1]
    entries[:, :, 2, 0], entries[:, :, 2, 1] = stack[:, :, 4], -stack[:, :, 5]       # right = outgoing
    return _Track(shape, times, entries.reshape(n, npts * 3, 2))


def _collapse_hidden(shape: Shape, times: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """``stack`` with every anchor at the centre of its shape and no handles at the hidden
    ``times``: a shape of no area, which draws nothing."""
    hidden = ~np.isin(times, shape.drawn_frames())
    if not hidden.any():
        return stack
    stack = stack.copy()
    stack[hidden, :, :2] = stack[hidden, :, :2].mean(axis=1, keepdims=True)
    stack[hidden, :, 2:] = 0.0
    return stack


def _dimcurve(tokens: list[str], bits: np.ndarray) -> str:
    """One coordinate's keys: ``{{v -}}`` when constant, runs of equal keys as ``{x K {v -}}``."""
    changes = bits[1:] != bits[:-1]
    if not changes.any():
        return f"{{{{{tokens[0]} -}}}}"
    if changes.all():
        return "{" + " ".join([f"{{{t} -}}" for t in tokens]) + "}"
    starts = np.concatenate(([0], np.flatnonzero(changes) + 1))
    ends = np.append(starts[1:], len(bits))
    keys = [f"{{{tokens[a]} -}}" if b - a == 1 else f"{{x {b - a} {{{tokens[a]} -}}}}" for a, b in zip(starts, ends)]
    return "{" + " ".join(keys) + "}"


def _dimcurves(tokens: list[str], bits: np.ndarray) -> list[str]:
    """``_dimcurve`` of every row of ``bits`` ((series, keys); ``tokens`` row after row): the
    constant and ever-changing series, nearly all of them, without a numpy call each."""
    n = bits.shape[1]
    changes = bits[:, 1:] != bits[:, :-1]
    constant = (~changes.any(axis=1)).tolist()
    every = changes.all(axis=1).tolist()
    out = []
    for s, (const, all_change) in enumerate(zip(constant, every)):
        row = tokens[s * n:(s + 1) * n]
        if const:
            out.append(f"{{{{{row[0]} -}}}}")
        elif all_change:
            out.append("{{" + " -} {".join(row) + " -}}")
        else:
            out.append(_dimcurve(row, bits[s]))
    return out


def _curvegroup(doc: RotoDocument, track: _Track) -> str:
    shape, times, entries = track.shape, track.times, track.entries
    n, ne = entries.shape[:2]
    # column-major per coordinate: each (entry, dim) series is contiguous
    series = np.ascontiguousarray(entries.transpose(1, 2, 0)).reshape(ne * 2, n)
    tokens = float_tokens(series)
    bits = series.astype(np.float32).view(np.uint32)
    bits = np.where(series == 0, 0, bits)  # -0.0 and 0.0 are one key
    dims = _dimcurves(tokens, bits)
    lines = [f"         {{{dims[2 * e]} {dims[2 * e + 1]}}}" for e in range(ne)]
    time_tokens = float_tokens(times)
    times_text = time_tokens[0] if n == 1 else "{" + " ".join(time_tokens) + "}"
    first = float(times[0])
    centre = entries[0, 1::3].mean(axis=0)
    attrs = [("osw", 10.0), ("osf", 0.0), ("str", 1.0), ("spx", doc.width / 2), ("spy", doc.height / 2),
             ("sb", 1.0)]
    if shape.hole:
        attrs.append(("bm", BLEND_MINUS))
    attrs += [("ltt", LIFETIME_RANGE), ("ltn", shape.frames[0]), ("ltm", shape.frames[1]), ("tt", BEZIER_TOOL)]
    values = float_tokens([v for _, v in attrs] + [first, centre[0], centre[1]])
    attr_text = " ".join(f"{k} {v}" for (k, _), v in zip(attrs, values))
    return (f"     {{curvegroup {curve_name(shape.name)} {SHAPE_FLAGS} bezier\n"
            f"      {{{{cc\n        {{f {CC_FLAGS}}}\n        {{px\n         {times_text}\n"
            + "\n".join(lines) +
            f"}}}}\n       idem}}\n"
            f"      {{tx {' '.join(values[-3:])}}}\n"
            f"      {{a {attr_text}}}}}")


__all__ = ["NAME", "SUFFIXES", "DESCRIPTION", "OPTIONS", "write_to_string", "write_to_file"]
