"""Bring-your-own parsing: part label maps (and optional person maps) from image sequences.

Label maps hold part ids (grey, 16-bit or palette images). With the ``matte`` label set they are
mattes instead: a pixel is inside where the matte reaches ``matte_threshold`` of its range
(default half), so an anti-aliased or blurred matte keeps its size; the matte is the image's
grey value, the luminance of an RGB image, or the alpha of an RGBA/LA image whose alpha is not
constant (a palette or 1-bit image: any non-zero index). Where a matte is soft, its values also
go to vectorizing as a score field, so the outline follows the threshold's sub-pixel iso-line
instead of the pixel staircase.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import FrameSkipped, InputError
from ..labelsets import get_label_set
from ..parsing import Parsing
from .frames import find_sequence, format_frames

log = logging.getLogger("m2fp_roto")


def _open(path):
    """(mode, array) of an image file, or a one-line error."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return img.mode, np.asarray(img)
    except FileNotFoundError:
        raise InputError(f"missing file {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def read_index_image(path) -> np.ndarray:
    """An (H, W) integer array of the stored indices of a grey, 16-bit or palette image.

    Palette images give their palette indices (not colours); an RGB image is accepted only if
    it is grey (R == G == B), since colours cannot be told apart from ids without a palette.
    """
    mode, arr = _open(path)
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


def read_matte(path) -> np.ndarray:
    """An (H, W) float32 matte in [0, 1]: grey value, RGB luminance (Rec. 709), or the alpha of
    an image whose alpha varies; a palette or 1-bit image gives 1 wherever its index is not 0."""
    mode, arr = _open(path)
    if mode in ("P", "PA", "1"):
        return ((arr[..., 0] if arr.ndim == 3 else arr) != 0).astype(np.float32)
    if arr.dtype.kind == "f":
        full = 1.0
    elif arr.dtype.itemsize == 1:
        full = 255.0
    elif arr.dtype == np.uint16:
        full = 65535.0
    else:  # 32-bit "I": 16-bit greys that Pillow widened, or 8-bit values
        full = 65535.0 if arr.max() > 255 else 255.0
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and np.ptp(arr[..., -1]) > 0:
        value = arr[..., -1].astype(np.float32)
    elif arr.ndim == 3 and arr.shape[2] >= 3:
        rgb = arr[..., :3].astype(np.float32)
        value = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    elif arr.ndim == 3:
        value = arr[..., 0].astype(np.float32)
    else:
        value = arr.astype(np.float32)
    return np.clip(value / full, 0.0, 1.0)


class LabelMapSource:
    """A parsing backend over label-map sequences: ``parse(frame) -> Parsing``.

    ``labels`` and ``people`` are sequence patterns (see :mod:`m2fp_roto.sources.frames`). Without a
    person map, every part belongs to person 1. ``first_frame`` numbers a single label map (default:
    the number in its name, else 1). ``matte_threshold`` (``matte`` label set only): the fraction
    of the matte's range from which a pixel is inside. With ``skip_missing``, a frame that cannot be
    read raises :class:`FrameSkipped` (the pipeline drops it with a warning).
    """

    def __init__(self, labels, people=None, label_set: str = "cihp", frames=None,
                 skip_missing: bool = False, fps: float = 24.0, pixel_aspect: float = 1.0,
                 first_frame: int | None = None, matte_threshold: float | None = None):
        self.label_set = get_label_set(label_set)
        if matte_threshold is not None and self.label_set.name != "matte":
            raise InputError("--matte-threshold applies to --label-set matte only")
        threshold = 0.5 if matte_threshold is None else float(matte_threshold)
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"--matte-threshold must be above 0 and at most 1, got {matte_threshold}")
        self.matte_threshold = threshold
        self.skip_missing = skip_missing
        self.labels = find_sequence(labels, frames, skip_missing=skip_missing, what="label maps",
                                    first_frame=first_frame)
        self.people = None
        if people is not None:
            self.people = find_sequence(people, self.labels.frames, skip_missing=skip_missing,
                                        what="person maps", first_frame=first_frame)
        self.frames = [f for f in self.labels.frames if self.people is None or f in self.people.paths]
        self.fps, self.pixel_aspect = fps, pixel_aspect
        self.source = self.labels.pattern
        self.empty: set[int] = set()  # frames whose label map held no part
        self.height, self.width = self._size()

    def _size(self) -> tuple[int, int]:
        """The first (readable, with ``skip_missing``) label map's size."""
        for frame in self.frames:
            try:
                return read_index_image(self.labels.path(frame)).shape[:2]
            except InputError:
                if not self.skip_missing:
                    raise
        raise InputError(f"label maps: none of the frames {format_frames(self.frames)} of {self.source} is readable")

    def parse(self, frame: int) -> Parsing:
        try:
            return self._parse(frame)
        except InputError as exc:
            if self.skip_missing:
                raise FrameSkipped(f"frame {frame}: {exc}") from None
            raise

    def _parse(self, frame: int) -> Parsing:
        ls = self.label_set
        path = self.labels.path(frame)
        where = f"label map {path} (frame {frame})"
        logits = None
        if ls.name == "matte":
            matte = read_matte(path)
            parts = matte >= self.matte_threshold - 1e-6
            if matte.any() and not parts.any():
                log.warning("%s: the matte reaches only %.0f%% of its range, below --matte-threshold %g; "
                            "is it a label map of ids (then give its --label-set)?", where, 100 * matte.max(),
                            self.matte_threshold)
            if ((matte > 0) & (matte < 1)).any():  # soft: outlines follow the threshold's iso-line
                margin = 8.0 * (matte - self.matte_threshold)
                logits = np.stack([np.zeros_like(margin), margin])
        else:
            parts = read_index_image(path)
            bad = np.unique(parts[(parts < 0) | (parts >= ls.n_labels)])
            if bad.size:
                raise InputError(f"{where}: label ids {', '.join(map(str, bad[:8]))} are not in label set "
                                 f"{ls.name!r} (ids 0-{ls.n_labels - 1}); is --label-set right?")
        if parts.shape != (self.height, self.width):
            raise InputError(f"{where} is {parts.shape[1]}x{parts.shape[0]}, but the sequence is "
                             f"{self.width}x{self.height}")
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
        if not parts.any():  # said once for the shot (see ``empty``), or as the error when all are
            log.info("frame %d: the label map is empty (no parts)", frame)
            self.empty.add(frame)
        ids = [int(p) for p in np.unique(people) if p]
        return Parsing(frame=frame, parts=parts, people=people, label_set=ls.name,
                       scores={p: 1.0 for p in ids}, part_logits=logits)
