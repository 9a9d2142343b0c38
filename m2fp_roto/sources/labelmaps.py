"""Bring-your-own parsing: part label maps (and optional person maps) from image sequences."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..labelsets import get_label_set
from ..parsing import Parsing
from .frames import find_sequence

log = logging.getLogger("m2fp_roto")


def read_index_image(path) -> np.ndarray:
    """An (H, W) integer array of the stored indices of a grey, 16-bit or palette image.

    Palette images give their palette indices (not colours); an RGB image is accepted only if
    it is grey (R == G == B), since colours cannot be told apart from ids without a palette.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            arr = np.asarray(img)
    except FileNotFoundError:
        raise InputError(f"missing file {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if mode in ("RGB", "RGBA"):
        rgb = arr[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise InputError(f"{path} is a colour image; label maps must be grey or palette images "
                             "whose values are label ids")
        arr = rgb[..., 0]
    elif mode in ("LA", "PA"):
        arr = arr[..., 0]
    elif arr.ndim != 2:
        raise InputError(f"{path}: unsupported image mode {mode!r} for a label map")
    return arr.astype(np.int32, copy=False)


class LabelMapSource:
    """A parsing backend over label-map sequences: ``parse(frame) -> Parsing``.

    ``labels`` and ``people`` are sequence patterns (see :mod:`m2fp_roto.sources.frames`). Without a
    person map, every part belongs to person 1.
    """

    def __init__(self, labels, people=None, label_set: str = "cihp", frames=None,
                 skip_missing: bool = False, fps: float = 24.0, pixel_aspect: float = 1.0):
        self.label_set = get_label_set(label_set)
        self.labels = find_sequence(labels, frames, skip_missing=skip_missing, what="label maps")
        self.people = None
        if people is not None:
            self.people = find_sequence(people, self.labels.frames, skip_missing=skip_missing,
                                        what="person maps")
        self.frames = [f for f in self.labels.frames if self.people is None or f in self.people.paths]
        self.fps, self.pixel_aspect = fps, pixel_aspect
        self.source = self.labels.pattern
        first = read_index_image(self.labels.path(self.frames[0]))
        self.height, self.width = first.shape

    def parse(self, frame: int) -> Parsing:
        ls = self.label_set
        parts = read_index_image(self.labels.path(frame))
        where = f"label map {self.labels.path(frame)} (frame {frame})"
        if parts.shape != (self.height, self.width):
            raise InputError(f"{where} is {parts.shape[1]}x{parts.shape[0]}, but the sequence is "
                             f"{self.width}x{self.height}")
        if ls.name == "matte":
            parts = (parts != 0)
        else:
            bad = np.unique(parts[(parts < 0) | (parts >= ls.n_labels)])
            if bad.size:
                raise InputError(f"{where}: label ids {', '.join(map(str, bad[:8]))} are not in label set "
                                 f"{ls.name!r} (ids 0-{ls.n_labels - 1}); is --label-set right?")
        parts = parts.astype(np.uint8)
        if self.people is not None:
            people = read_index_image(self.people.path(frame))
            if people.shape != parts.shape:
                raise InputError(f"person map {self.people.path(frame)} (frame {frame}) is "
                                 f"{people.shape[1]}x{people.shape[0]}, but its label map is "
                                 f"{parts.shape[1]}x{parts.shape[0]}")
            unowned = (parts != 0) & (people == 0)
            if unowned.any():
                log.warning("frame %d: %d part pixels belong to no person; they are dropped",
                            frame, int(unowned.sum()))
                parts = np.where(unowned, 0, parts).astype(np.uint8)
            people = np.where(parts != 0, people, 0).astype(np.int32)
        else:
            people = (parts != 0).astype(np.int32)
        if not parts.any():
            log.warning("frame %d: the label map is empty (no parts)", frame)
        ids = [int(p) for p in np.unique(people) if p]
        return Parsing(frame=frame, parts=parts, people=people, label_set=ls.name,
                       scores={p: 1.0 for p in ids})
