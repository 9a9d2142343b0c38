"""The RotoDocument: one versioned, JSON-able model of a whole shot.

Every exporter reads this and nothing else. Coordinates are image space (x right, y down,
origin at the top-left corner of the top-left pixel); each point is
``[x, y, in_dx, in_dy, out_dx, out_dy]`` with the tangent handles relative to the anchor.
Frames are the plate's own numbers. Between keys every coordinate is interpolated linearly.

>>> doc = RotoDocument(width=64, height=48, first_frame=1001, last_frame=1002)
>>> doc.shapes.append(Shape.static("p1_face", 1, "face", 1001, 1002,
...     [[10, 10, 0, 0, 0, 0], [20, 10, 0, 0, 0, 0], [15, 20, 0, 0, 0, 0]]))
>>> RotoDocument.from_json(doc.to_json()).shapes[0].n_points
3
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .errors import InputError, RotoError

SCHEMA = "m2fp-roto/1"
POINT_FIELDS = ("x", "y", "in_dx", "in_dy", "out_dx", "out_dy")


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
    """One roto shape over its lifetime ``frames = (first, last)``."""

    name: str
    person: int
    part: str
    frames: tuple[int, int]
    keys: list[Key]
    component: int = 0
    hole: bool = False
    parent: str | None = None  # for holes: the name of the shape they are cut out of

    @classmethod
    def static(cls, name, person, part, first, last, points, **kw) -> "Shape":
        return cls(name, person, part, (first, last), [Key(first, points)], **kw)

    @property
    def n_points(self) -> int:
        return len(self.keys[0].points) if self.keys else 0

    @property
    def key_frames(self) -> np.ndarray:
        return np.array([k.frame for k in self.keys], dtype=np.int64)

    def alive(self, frame: int) -> bool:
        return self.frames[0] <= frame <= self.frames[1]

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
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Shape":
        name = d.get("name", "<unnamed>")
        try:
            keys = []
            for k in d["keys"]:
                pts = np.asarray(k["points"], dtype=np.float64)
                if pts.ndim != 2 or pts.shape[1] != 6:
                    raise DocumentError(
                        f"shape {name!r}, frame {k.get('frame')}: points must be "
                        f"[x, y, in_dx, in_dy, out_dx, out_dy] rows, got shape {pts.shape}")
                keys.append(Key(int(k["frame"]), pts))
            return cls(
                name=str(d["name"]), person=int(d["person"]), part=str(d["part"]),
                frames=(int(d["frames"][0]), int(d["frames"][1])), keys=keys,
                component=int(d.get("component", 0)), hole=bool(d.get("hole", False)),
                parent=d.get("parent"))
        except (KeyError, TypeError, IndexError) as exc:
            raise DocumentError(f"shape {name!r}: missing or malformed field ({exc})") from None


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
        return [s for s in self.shapes if s.alive(frame)]

    def select(self, people=None, parts=None) -> "RotoDocument":
        """A copy keeping only the given people and parts; None keeps all.

        Each is a list (person ids, part names) or comma-separated text (``"1,2"``,
        ``"hair,face"``), as the command line gives them.
        """
        people = _listed(people, int, "person ids")
        parts = _listed(parts, str, "part names")
        people = None if people is None else set(people)
        parts = None if parts is None else set(parts)
        kept = [s for s in self.shapes
                if (people is None or s.person in people) and (parts is None or s.part in parts)]
        return RotoDocument(**{**self.__dict__, "shapes": kept, "metadata": dict(self.metadata)})

    # -- validation ---------------------------------------------------------------------
    def validate(self) -> "RotoDocument":
        """Check the contract; raise DocumentError naming the shape and frame at fault."""
        if self.width <= 0 or self.height <= 0:
            raise DocumentError(f"plate size must be positive, got {self.width}x{self.height}")
        if self.first_frame > self.last_frame:
            raise DocumentError(f"first_frame {self.first_frame} is after last_frame {self.last_frame}")
        if not (self.pixel_aspect > 0 and self.fps > 0):
            raise DocumentError("pixel_aspect and fps must be positive")
        if self.interpolation != "linear":
            raise DocumentError(f"unknown interpolation {self.interpolation!r} (only 'linear')")
        names = set()
        for s in self.shapes:
            if s.name in names:
                raise DocumentError(f"shape {s.name!r} appears twice")
            names.add(s.name)
            lo, hi = s.frames
            if lo > hi or lo < self.first_frame or hi > self.last_frame:
                raise DocumentError(
                    f"shape {s.name!r}: lifetime {lo}-{hi} is outside the document's frame range "
                    f"{self.first_frame}-{self.last_frame}")
            if not s.keys:
                raise DocumentError(f"shape {s.name!r} has no keys")
            n = s.n_points
            if n < 2:
                raise DocumentError(f"shape {s.name!r}, frame {s.keys[0].frame}: needs at least 2 points")
            previous = None
            for k in s.keys:
                if not lo <= k.frame <= hi:
                    raise DocumentError(
                        f"shape {s.name!r}, frame {k.frame}: key outside the shape's lifetime {lo}-{hi}")
                if previous is not None and k.frame <= previous:
                    raise DocumentError(f"shape {s.name!r}, frame {k.frame}: keys are not in increasing frame order")
                previous = k.frame
                if len(k.points) != n:
                    raise DocumentError(
                        f"shape {s.name!r}, frame {k.frame}: {len(k.points)} points, but its first key has {n} "
                        "(every key of a shape must have the same point count)")
                if not np.isfinite(k.points).all():
                    raise DocumentError(f"shape {s.name!r}, frame {k.frame}: non-finite coordinates")
        for s in self.shapes:
            if s.hole and s.parent is not None and s.parent not in names:
                raise DocumentError(f"hole {s.name!r}: its parent shape {s.parent!r} is not in the document")
        return self

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
    def from_dict(cls, d: dict) -> "RotoDocument":
        if not isinstance(d, dict):
            raise DocumentError("a RotoDocument must be a JSON object")
        schema = d.get("schema")
        if schema != SCHEMA:
            raise DocumentError(f"unsupported schema {schema!r}; this version reads {SCHEMA!r}")
        try:
            doc = cls(
                width=int(d["width"]), height=int(d["height"]),
                first_frame=int(d["first_frame"]), last_frame=int(d["last_frame"]),
                pixel_aspect=float(d.get("pixel_aspect", 1.0)), fps=float(d.get("fps", 24.0)),
                label_set=str(d.get("label_set", "cihp")), source=str(d.get("source", "")),
                plate=d.get("plate"), interpolation=str(d.get("interpolation", "linear")),
                shapes=[Shape.from_dict(s) for s in d.get("shapes", [])],
                metadata=dict(d.get("metadata", {})))
        except KeyError as exc:
            raise DocumentError(f"document is missing the field {exc.args[0]!r}") from None
        return doc.validate()

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "RotoDocument":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path) -> Path:
        self.validate()
        return atomic_write_text(path, self.to_json(indent=1))

    @classmethod
    def load(cls, path) -> "RotoDocument":
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
