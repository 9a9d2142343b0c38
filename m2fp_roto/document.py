"""The RotoDocument: one versioned, JSON-able model of a whole shot.

Every exporter reads this and nothing else. Coordinates are image space (x right, y down,
origin at the top-left corner of the top-left pixel); each point is
``[x, y, in_dx, in_dy, out_dx, out_dy]`` with the tangent handles relative to the anchor.
Frames are the plate's own numbers. Between keys every coordinate is interpolated linearly.

The module holds the contract whole (about 470 lines): the model, its selection and trimming,
the JSON form read field by field with types checked, and :meth:`RotoDocument.validate`, the one
check every target relies on, so that no exporter needs a check of its own.

>>> doc = RotoDocument(width=64, height=48, first_frame=1001, last_frame=1002)
>>> doc.shapes.append(Shape.static("p1_face", 1, "face", 1001, 1002,
...     [[10, 10, 0, 0, 0, 0], [20, 10, 0, 0, 0, 0], [15, 20, 0, 0, 0, 0]]))
>>> RotoDocument.from_json(doc.to_json()).shapes[0].n_points
3
"""

from __future__ import annotations

import json
import logging
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .errors import InputError, RotoError

log = logging.getLogger("m2fp_roto")

SCHEMA = "m2fp-roto/1"
POINT_FIELDS = ("x", "y", "in_dx", "in_dy", "out_dx", "out_dy")

#: Anchors and handle ends may lie at most this many frame widths (heights) outside the frame;
#: farther is a broken document (a unit mix-up, an overflow), not a shape.
OUTSIDE_FRAMES = 4
#: The largest plate side and the longest shot a document may describe.
MAX_SIZE = 65536
MAX_FRAMES = 1_000_000
MAX_FRAME_NUMBER = 10**9


class DocumentError(RotoError, ValueError):
    """A RotoDocument that breaks the contract; the message names the shape and frame."""


def shape_name(person: int, part: str, component: int = 0, hole: int = 0) -> str:
    """Name a shape per the shared convention.

    ``p{person}_{part}``, ``_{k}`` for extra components (k >= 1), ``_hole{j}`` for the j-th
    hole (j >= 1) of that component.

    >>> shape_name(1, "hair"), shape_name(2, "left_arm", 1), shape_name(1, "coat", 0, 2)
    ('p1_hair', 'p2_left_arm_1', 'p1_coat_hole2')
    """
    name = f"p{person}_{part}"
    if component:
        name += f"_{component}"
    if hole:
        name += f"_hole{hole}"
    return name


def _listed(value, cast, what: str) -> list | None:
    """A list from a list or from comma-separated text; None stays None."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    try:
        return [cast(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise InputError(f"cannot read the {what} {value!r} (a comma-separated list, e.g. 1,2)") from None


@dataclass
class Key:
    """The points of one shape at one frame: an (N, 6) float array."""

    frame: int
    points: np.ndarray

    def __post_init__(self):
        self.frame = int(self.frame)
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 6)


@dataclass
class Shape:
    """One roto shape over its lifetime ``frames = (first, last)``.

    ``hidden``: frame ranges ``(first, last)`` inside the lifetime where the shape is not drawn
    (its part is hidden behind something, or out of the parse); its points go on through them,
    interpolated like any other frame, so it comes back where it left.
    """

    name: str
    person: int
    part: str
    frames: tuple[int, int]
    keys: list[Key]
    component: int = 0
    hole: bool = False
    parent: str | None = None  # for holes: the name of the shape they are cut out of
    hidden: tuple[tuple[int, int], ...] = ()

    def __post_init__(self):
        self.hidden = tuple((int(a), int(b)) for a, b in self.hidden)

    @classmethod
    def static(cls, name, person, part, first, last, points, **kw) -> Shape:
        return cls(name, person, part, (first, last), [Key(first, points)], **kw)

    @property
    def n_points(self) -> int:
        return len(self.keys[0].points) if self.keys else 0

    @property
    def key_frames(self) -> np.ndarray:
        return np.array([k.frame for k in self.keys], dtype=np.int64)

    def alive(self, frame: int) -> bool:
        """Whether the shape is drawn at ``frame``: inside its lifetime and not hidden."""
        return self.frames[0] <= frame <= self.frames[1] and not any(a <= frame <= b for a, b in self.hidden)

    def drawn_runs(self) -> list[tuple[int, int]]:
        """``[(first, last), ...]``: the runs of frames where the shape is drawn, in order."""
        runs, start = [], self.frames[0]
        for a, b in self.hidden:
            if a > start:
                runs.append((start, a - 1))
            start = b + 1
        return runs + [(start, self.frames[1])] if start <= self.frames[1] else runs

    def drawn_frames(self) -> np.ndarray:
        """The frames of the lifetime where the shape is drawn (see ``hidden``)."""
        frames = np.arange(self.frames[0], self.frames[1] + 1)
        for a, b in self.hidden:
            frames = frames[(frames < a) | (frames > b)]
        return frames

    def points_at(self, frame: float) -> np.ndarray:
        """Points at ``frame``, linearly interpolated between keys, held outside them."""
        keys = self.keys
        if len(keys) == 1:
            return keys[0].points.copy()
        # points_over for one frame, from the two keys around it only
        i = min(max(bisect_right([k.frame for k in keys], frame) - 1, 0), len(keys) - 2)
        t = np.clip((np.float64(frame) - keys[i].frame) / (keys[i + 1].frame - keys[i].frame), 0.0, 1.0)
        return (1.0 - t) * keys[i].points + t * keys[i + 1].points

    def points_over(self, frames) -> np.ndarray:
        """(F, N, 6) points at each of ``frames`` (see :meth:`points_at`), all at once."""
        keys = self.key_frames
        stack = np.stack([k.points for k in self.keys])
        frames = np.asarray(frames, np.float64)
        if len(keys) == 1:
            return np.repeat(stack, len(frames), axis=0)
        i = np.clip(np.searchsorted(keys, frames, side="right") - 1, 0, len(keys) - 2)
        t = np.clip((frames - keys[i]) / (keys[i + 1] - keys[i]), 0.0, 1.0)[:, None, None]
        return (1.0 - t) * stack[i] + t * stack[i + 1]

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "person": self.person,
            "part": self.part,
            "component": self.component,
            "hole": self.hole,
            "frames": [int(self.frames[0]), int(self.frames[1])],
            "keys": [{"frame": k.frame, "points": np.round(k.points, 4).tolist()} for k in self.keys],
        }
        if self.parent:
            d["parent"] = self.parent
        if self.hidden:
            d["hidden"] = [[a, b] for a, b in self.hidden]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Shape:
        """A shape from its JSON form; every field's type is checked (a coordinate ``"12"``, a
        ``"hole": "false"`` or a fractional frame is an error naming the shape)."""
        if not isinstance(d, dict):
            raise DocumentError(f"a shape must be a JSON object, got {_kind(d)}")
        name = d.get("name", "<unnamed>")
        try:
            where = f"shape {name!r}"
            keys = d["keys"]
            if not isinstance(keys, list):
                raise DocumentError(f"{where}: keys must be a list, got {_kind(keys)}")
            frames = d["frames"]
            if not isinstance(frames, list) or len(frames) != 2:
                raise DocumentError(f"{where}: frames must be [first, last], got {frames!r}"[:200])
            hole = d.get("hole", False)
            if not isinstance(hole, bool):
                raise DocumentError(f"{where}: hole must be true or false, got {hole!r}"[:200])
            parent = d.get("parent")
            if parent is not None and not isinstance(parent, str):
                raise DocumentError(f"{where}: parent must be a shape name, got {parent!r}"[:200])
            hidden = d.get("hidden", [])
            if not isinstance(hidden, list) or not all(isinstance(r, list) and len(r) == 2 for r in hidden):
                raise DocumentError(f"{where}: hidden must be a list of [first, last] frame ranges, "
                                    f"got {hidden!r}"[:200])
            return cls(
                name=_text(d["name"], "a shape's name"), person=_whole(d["person"], f"{where}: person"),
                part=_text(d["part"], f"{where}: part"),
                frames=(_whole(frames[0], f"{where}: frames"), _whole(frames[1], f"{where}: frames")),
                keys=[_key_from_dict(k, where) for k in keys],
                component=_whole(d.get("component", 0), f"{where}: component"), hole=hole, parent=parent,
                hidden=[(_whole(a, f"{where}: hidden"), _whole(b, f"{where}: hidden")) for a, b in hidden])
        except KeyError as exc:
            raise DocumentError(f"shape {name!r}: missing the field {exc.args[0]!r}"[:300]) from None


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _whole(value, what: str) -> int:
    """A JSON whole number (``3`` or ``3.0``), else an error naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise DocumentError(f"{what} must be a whole number, got {value!r}"[:200])
    return int(value)


def _number(value, what: str) -> float:
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise DocumentError(f"{what} must be a finite number, got {value!r}"[:200])
    return number


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise DocumentError(f"{what} must be non-empty text, got {value!r}"[:200])
    return value


def _key_from_dict(k, where: str) -> Key:
    if not isinstance(k, dict) or "frame" not in k or "points" not in k:
        raise DocumentError(f"{where}: a key must be an object with 'frame' and 'points'")
    frame = _whole(k["frame"], f"{where}: a key's frame")
    rows = k["points"]
    try:
        pts = np.asarray(rows) if isinstance(rows, list) else None
    except (ValueError, TypeError):  # ragged rows
        pts = None
    if pts is None or pts.dtype.kind not in "iuf" or pts.ndim != 2 or pts.shape[1] != 6 or not len(pts):
        shape = f", got shape {pts.shape}" if pts is not None and pts.dtype.kind in "iuf" else ""
        raise DocumentError(f"{where}, frame {frame}: points must be rows of 6 numbers "
                            f"[x, y, in_dx, in_dy, out_dx, out_dy]{shape}")
    return Key(frame, pts)


@dataclass
class RotoDocument:
    """A whole shot: plate format, frame range and every shape with its keys."""

    width: int
    height: int
    first_frame: int
    last_frame: int
    pixel_aspect: float = 1.0
    fps: float = 24.0
    label_set: str = "cihp"
    source: str = ""
    plate: str | None = None  # the plate's path pattern, when the shapes were made from one
    interpolation: str = "linear"
    shapes: list[Shape] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # tool version, settings: provenance

    # -- queries ------------------------------------------------------------------------
    @property
    def frames(self) -> range:
        return range(self.first_frame, self.last_frame + 1)

    @property
    def people(self) -> list[int]:
        return sorted({s.person for s in self.shapes})

    def shapes_at(self, frame: int) -> list[Shape]:
        """The shapes drawn at ``frame``."""
        return [s for s in self.shapes if s.alive(frame)]

    def part_names(self) -> list[str]:
        """The part names this document may hold: its label set's (when known) and its own."""
        from .labelsets import LABEL_SETS

        known = LABEL_SETS.get(str(self.label_set).lower())
        return list(dict.fromkeys([*(known.parts[1:] if known else ()), *sorted({s.part for s in self.shapes})]))

    def select(self, people=None, parts=None) -> RotoDocument:
        """A copy keeping only the given people and parts; None keeps all.

        Each is a list (person ids, part names) or comma-separated text (``"1,2"``,
        ``"hair,face"``), as the command line gives them. A part name the document's label set
        does not know is an error listing the known ones; a selection that leaves no shape of a
        document that had some is an error (``InputError``) saying what there is. (Ids that
        match nothing beside others that do are the caller's to mention: see :meth:`unmatched`.)
        """
        people = _listed(people, int, "person ids")
        parts = _listed(parts, str, "part names")
        if parts:
            names = self.part_names()
            unknown = [p for p in parts if p not in names]
            if unknown:
                raise InputError(f"unknown part(s) {', '.join(unknown)}; the parts of label set {self.label_set!r} "
                                 f"are: {', '.join(names)}")
        kept = [s for s in self.shapes
                if (people is None or s.person in people) and (parts is None or s.part in parts)]
        asked = " and ".join(f"{what} {', '.join(map(str, values))}" for what, values in
                             (("person", people), ("part", parts)) if values is not None)
        there = (f"people {', '.join(map(str, self.people))}; parts "
                 f"{', '.join(sorted({s.part for s in self.shapes}))}")
        if self.shapes and not kept:
            raise InputError(f"no shapes for {asked or 'an empty selection'} (the document has {there})")
        return RotoDocument(**{**self.__dict__, "shapes": kept, "metadata": dict(self.metadata)})

    def unmatched(self, people=None, parts=None) -> list[str]:
        """``["person 99", "part hat"]``: the selected ids and names that no shape has."""
        people = _listed(people, int, "person ids") or ()
        parts = _listed(parts, str, "part names") or ()
        return ([f"person {p}" for p in people if p not in {s.person for s in self.shapes}]
                + [f"part {p}" for p in parts if p not in {s.part for s in self.shapes}])

    def trim(self, first: int, last: int) -> RotoDocument:
        """A copy covering only frames ``first``-``last`` (inside the document's range).

        Shapes are cut to that range, with keys added where a cut falls between keys, so every
        kept frame looks exactly as before; shapes not drawn on any of its frames go (with their
        holes).
        """
        if not (self.first_frame <= first <= last <= self.last_frame):
            raise InputError(f"frames {first}-{last} are not inside the document's range "
                             f"{self.first_frame}-{self.last_frame}")
        shapes = []
        for s in self.shapes:
            lo, hi = max(s.frames[0], first), min(s.frames[1], last)
            if lo > hi:
                continue
            keys = [k for k in s.keys if lo <= k.frame <= hi]
            if not keys or (keys[0].frame != lo and s.key_frames.min() < lo):
                keys.insert(0, Key(lo, s.points_at(lo)))
            if keys[-1].frame != hi and s.key_frames.max() > hi:
                keys.append(Key(hi, s.points_at(hi)))
            hidden = [(max(a, lo), min(b, hi)) for a, b in s.hidden if a <= hi and b >= lo]
            cut = Shape(s.name, s.person, s.part, (lo, hi), keys, s.component, s.hole, s.parent, hidden)
            if len(cut.drawn_frames()):  # hidden on every kept frame: nothing to draw
                shapes.append(cut)
        names = {s.name for s in shapes}
        shapes = [s for s in shapes if not s.hole or s.parent in names]
        return RotoDocument(**{**self.__dict__, "first_frame": first, "last_frame": last, "shapes": shapes,
                               "metadata": dict(self.metadata)})

    # -- validation ---------------------------------------------------------------------
    def validate(self) -> RotoDocument:
        """Check the contract; raise DocumentError naming the shape and frame at fault.

        Besides structure (lifetimes, keys, point counts, holes and their parents), every
        anchor and handle end must be finite and lie within ``OUTSIDE_FRAMES`` frame sizes of
        the frame: one check here, so every target refuses the same documents.
        """
        if not (0 < self.width <= MAX_SIZE and 0 < self.height <= MAX_SIZE):
            raise DocumentError(f"plate size must be 1 to {MAX_SIZE} px a side, got {self.width}x{self.height}")
        if self.first_frame > self.last_frame:
            raise DocumentError(f"first_frame {self.first_frame} is after last_frame {self.last_frame}")
        if not -MAX_FRAME_NUMBER <= self.first_frame <= self.last_frame <= MAX_FRAME_NUMBER:
            raise DocumentError(f"frame numbers must lie within +-{MAX_FRAME_NUMBER:,}, got "
                                f"{self.first_frame}-{self.last_frame}")
        if self.last_frame - self.first_frame >= MAX_FRAMES:
            raise DocumentError(f"frame range {self.first_frame}-{self.last_frame} is longer than {MAX_FRAMES:,} frames")
        if not (0 < self.pixel_aspect < 100 and 0 < self.fps < 10000):
            raise DocumentError(f"pixel_aspect and fps must be positive, got {self.pixel_aspect:g} and {self.fps:g}")
        if self.interpolation != "linear":
            raise DocumentError(f"unknown interpolation {self.interpolation!r} (only 'linear')")
        shapes = {}
        for s in self.shapes:
            if s.name in shapes:
                raise DocumentError(f"shape {s.name!r} appears twice")
            shapes[s.name] = s
            self._validate_shape(s)
        for s in self.shapes:
            if not s.hole:
                continue
            if s.parent is None:
                raise DocumentError(f"hole {s.name!r} names no parent (the shape it is cut out of)")
            parent = shapes.get(s.parent)
            if parent is None:
                raise DocumentError(f"hole {s.name!r}: its parent shape {s.parent!r} is not in the document")
            if parent.hole or (parent.person, parent.part) != (s.person, s.part):
                raise DocumentError(f"hole {s.name!r}: its parent {s.parent!r} must be an outer shape of the "
                                    f"same person and part ({s.person}, {s.part!r})")
            orphaned = np.setdiff1d(s.drawn_frames(), parent.drawn_frames())
            if len(orphaned):  # in Nuke a hole drawn without its shape would cut its neighbours
                raise DocumentError(f"hole {s.name!r}, frame {orphaned[0]}: drawn where its parent {s.parent!r} "
                                    "is not (hide it there too)")
        return self

    def _validate_shape(self, s: Shape) -> None:
        lo, hi = s.frames
        if lo > hi:
            raise DocumentError(f"shape {s.name!r}: lifetime {lo}-{hi} is reversed (its first frame is after its last)")
        if lo < self.first_frame or hi > self.last_frame:
            raise DocumentError(f"shape {s.name!r}: lifetime {lo}-{hi} is outside the document's frame range "
                                f"{self.first_frame}-{self.last_frame}")
        previous = lo - 1
        for a, b in s.hidden:
            if not previous < a <= b <= hi:
                raise DocumentError(f"shape {s.name!r}: hidden frames {a}-{b} must lie inside its lifetime "
                                    f"{lo}-{hi}, in order and apart from other hidden ranges")
            previous = b + 1
        if s.hidden and not len(s.drawn_frames()):
            raise DocumentError(f"shape {s.name!r} is hidden on every frame of its lifetime {lo}-{hi}")
        if not s.keys:
            raise DocumentError(f"shape {s.name!r} has no keys")
        n = s.n_points
        if n < 2:
            raise DocumentError(f"shape {s.name!r}, frame {s.keys[0].frame}: needs at least 2 points")
        previous = None
        for k in s.keys:
            if not lo <= k.frame <= hi:
                raise DocumentError(f"shape {s.name!r}, frame {k.frame}: key outside the shape's lifetime {lo}-{hi}")
            if previous is not None and k.frame <= previous:
                raise DocumentError(f"shape {s.name!r}, frame {k.frame}: keys are not in increasing frame order")
            previous = k.frame
            if len(k.points) != n:
                raise DocumentError(
                    f"shape {s.name!r}, frame {k.frame}: {len(k.points)} points, but its first key has {n} "
                    "(every key of a shape must have the same point count)")
        stack = np.stack([k.points for k in s.keys])  # (K, N, 6)
        ends = np.concatenate([stack[..., :2], stack[..., :2] + stack[..., 2:4], stack[..., :2] + stack[..., 4:6]],
                              axis=1)  # anchors, in-handle ends, out-handle ends
        size = np.array([self.width, self.height], np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            bad = ~np.isfinite(stack).all(-1)
            far = ((ends < -OUTSIDE_FRAMES * size) | (ends > (OUTSIDE_FRAMES + 1) * size)).any(-1)
        if bad.any():
            key, point = np.argwhere(bad)[0]
            raise DocumentError(f"shape {s.name!r}, frame {s.keys[key].frame}: point {point} has a non-finite "
                                "coordinate")
        if far.any():
            key, index = np.argwhere(far)[0]
            what = ("point", "the in-handle of point", "the out-handle of point")[index // n]
            x, y = ends[key, index]
            raise DocumentError(f"shape {s.name!r}, frame {s.keys[key].frame}: {what} {index % n} reaches "
                                f"({x:.6g}, {y:.6g}), more than {OUTSIDE_FRAMES} frame sizes outside the "
                                f"{self.width}x{self.height} frame")

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "width": self.width,
            "height": self.height,
            "pixel_aspect": self.pixel_aspect,
            "fps": self.fps,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "label_set": self.label_set,
            "source": self.source,
            "plate": self.plate,
            "interpolation": self.interpolation,
            "metadata": self.metadata,
            "shapes": [s.to_dict() for s in self.shapes],
        }

    @classmethod
    def from_dict(cls, d: dict) -> RotoDocument:
        if not isinstance(d, dict):
            raise DocumentError("a RotoDocument must be a JSON object")
        schema = d.get("schema")
        if schema != SCHEMA:
            raise DocumentError(f"unsupported schema {schema!r}; this version reads {SCHEMA!r}"[:200])
        try:
            shapes, metadata = d.get("shapes", []), d.get("metadata", {})
            if not isinstance(shapes, list):
                raise DocumentError(f"shapes must be a list, got {_kind(shapes)}")
            if not isinstance(metadata, dict):
                raise DocumentError(f"metadata must be an object, got {_kind(metadata)}")
            texts = {k: d.get(k, default) for k, default in
                     (("label_set", "cihp"), ("source", ""), ("plate", None), ("interpolation", "linear"))}
            for k, v in texts.items():
                if not (isinstance(v, str) or (v is None and k == "plate")):
                    raise DocumentError(f"{k} must be text, got {v!r}"[:200])
            doc = cls(
                width=_whole(d["width"], "width"), height=_whole(d["height"], "height"),
                first_frame=_whole(d["first_frame"], "first_frame"), last_frame=_whole(d["last_frame"], "last_frame"),
                pixel_aspect=_number(d.get("pixel_aspect", 1.0), "pixel_aspect"),
                fps=_number(d.get("fps", 24.0), "fps"), **texts,
                shapes=[Shape.from_dict(s) for s in shapes], metadata=dict(metadata))
        except KeyError as exc:
            raise DocumentError(f"document is missing the field {exc.args[0]!r}") from None
        return doc.validate()

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RotoDocument:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path) -> Path:
        self.validate()
        return atomic_write_text(path, self.to_json(indent=1))

    @classmethod
    def load(cls, path) -> RotoDocument:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DocumentError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return cls.from_json(text)
        except DocumentError as exc:
            raise DocumentError(f"{path}: {exc}") from None


__all__ = ["SCHEMA", "POINT_FIELDS", "DocumentError", "Key", "Shape", "RotoDocument", "shape_name"]
