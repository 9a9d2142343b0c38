"""Plates: the frames a shot is parsed from, as display-sRGB uint8 RGB with their own frame numbers.

A plate is an image sequence in any spelling :mod:`.frames` reads (``shot.####.exr``,
``shot.%04d.exr``, ``shot.@@@@.exr``, ``shot.1001-1100#.exr``, a folder), one image, or a
movie. Files are read by :mod:`.image_readers` (OpenImageIO for EXR/DPX/TIFF, Pillow for
PNG/JPEG), movies by :mod:`.movie` (PyAV, decoded forward with the decoder kept open, so reading
frames in order decodes each frame once); :func:`open_plate` picks by extension.

Colour goes through :mod:`.colour` (float files default to the OCIO config's
scene-linear role; integer files and movies are taken as sRGB). Pixel aspect comes from the
EXR/DPX header or the movie stream; it is metadata, never a resample.

>>> plate = open_plate("shot.####.exr", "1001-1010")          # doctest: +SKIP
>>> rgb = plate.read(1001)                                      # (H, W, 3) uint8 sRGB
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from .colour import DisplayTransform, display_transform, to_uint8
from .frames import DEFAULT_FPS, FrameSequence, find_sequence, format_frames, hash_pattern, parse_frames
from .image_readers import FrameReadError, ImageInfo, file_identity, reader_for
from .movie import MOVIE_EXTENSIONS, MovieDecoder

log = logging.getLogger("m2fp_roto")


class Plate:
    """Frames of one shot with their numbers, size, pixel aspect and fps.

    ``read(frame)`` gives (H, W, 3) uint8 display sRGB in RGB order. ``settings`` is what
    changes those pixels beyond the files themselves (the colour transform), and
    ``identity(frame)`` names the file version a frame comes from: together they key the
    parse cache.
    """

    kind = "plate"

    def __init__(self, source: str, frames: list[int], width: int, height: int, pixel_aspect: float,
                 fps: float, transform: DisplayTransform | None, skip_missing: bool = False):
        self.source = source
        self.frames = list(frames)
        self.width, self.height = int(width), int(height)
        self.pixel_aspect, self.fps = float(pixel_aspect), float(fps)
        self.transform = transform
        self.skip_missing = skip_missing

    @property
    def settings(self) -> dict:
        return self.transform.settings if self.transform else {"colorspace": "none"}

    @property
    def canonical(self) -> str:
        """One name for the plate however it was spelled (absolute, Nuke-style padding)."""
        return str(Path(self.source).resolve())

    def read(self, frame: int) -> np.ndarray:
        raise NotImplementedError

    def identity(self, frame: int) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        """Release open files (a movie decoder); reading again reopens them."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return (f"{type(self).__name__}({self.source!r}, frames {format_frames(self.frames)}, "
                f"{self.width}x{self.height}, pixel aspect {self.pixel_aspect:g}, {self.fps:g} fps)")

    def _check_frame(self, frame: int) -> None:
        if frame not in self.frames:
            raise InputError(f"frame {frame} is not in the plate {self.source} ({format_frames(self.frames)})")

    def _display(self, pixels: np.ndarray) -> np.ndarray:
        """Freshly read pixels (this plate's to overwrite) -> uint8 display sRGB."""
        if self.transform is None:
            return to_uint8(pixels, scratch=True)
        if pixels.dtype != np.float32:
            pixels = pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
        return self.transform.apply(pixels)


class SequencePlate(Plate):
    """An image sequence, or one image (frame 1 unless told otherwise)."""

    kind = "sequence"

    def __init__(self, sequence: FrameSequence, *, colorspace=None, ocio_config=None, fps=None,
                 skip_missing=False, source: str | None = None):
        self.sequence = sequence
        first = sequence.path(sequence.frames[0])
        self._probe, self._read = reader_for(first)
        info = self._first_readable(skip_missing)
        if info.transfer and colorspace is None and any(w in info.transfer.lower() for w in ("log", "density")):
            log.warning("%s is %s encoded; it is read as sRGB unless --colorspace names its colour space "
                        "(e.g. 'ADX10' or 'ARRI LogC3 (EI800)')", first.name, info.transfer)
        transform = display_transform(colorspace, is_float=info.is_float, ocio_config=ocio_config)
        if source is None:
            source = sequence.pattern
        super().__init__(source, sequence.frames, info.width, info.height, info.pixel_aspect,
                         fps or info.fps or DEFAULT_FPS, transform, skip_missing)
        self.kind = "image" if len(sequence) == 1 and sequence.pattern == str(first) else "sequence"
        if skip_missing:
            self._drop_unreadable()

    def _first_readable(self, skip_missing: bool) -> ImageInfo:
        """The header of the first frame (the first readable one with ``skip_missing``)."""
        for frame in self.sequence.frames:
            try:
                return self._probe(self.sequence.path(frame))
            except FrameReadError:
                if not skip_missing:
                    raise
        raise InputError(f"plate {self.sequence.pattern}: no frame is readable")

    def _drop_unreadable(self) -> None:
        """Drop frames whose header cannot be read or whose size differs, with one warning."""
        bad = set()
        for frame in self.frames:
            try:
                info = self._probe(self.path(frame))
                if (info.width, info.height) != (self.width, self.height):
                    bad.add(frame)
            except InputError:
                bad.add(frame)
        if bad:
            log.warning("plate %s: unreadable or mis-sized frame(s) %s skipped", self.source, format_frames(bad))
            self.frames = [f for f in self.frames if f not in bad]

    @property
    def canonical(self) -> str:
        first = self.sequence.path(self.sequence.frames[0]).resolve()
        return str(first) if self.kind == "image" else hash_pattern(first)

    def path(self, frame: int) -> Path:
        self._check_frame(frame)
        return self.sequence.path(frame)

    def identity(self, frame: int) -> dict:
        return {"frame": frame, **file_identity(self.path(frame))}

    def read(self, frame: int) -> np.ndarray:
        path = self.path(frame)
        try:
            pixels = self._read(path)
        except FrameReadError as exc:
            raise FrameReadError(f"plate frame {frame}: {exc}") from None
        if pixels.shape[:2] != (self.height, self.width):
            raise FrameReadError(f"plate frame {frame} ({path}) is {pixels.shape[1]}x{pixels.shape[0]}, "
                                 f"but the plate is {self.width}x{self.height}")
        return self._display(pixels)


class MoviePlate(Plate):
    """A movie file; frame numbers start at ``first_frame`` (default 1)."""

    kind = "movie"

    def __init__(self, path: Path, frames=None, *, first_frame=None, colorspace=None, ocio_config=None,
                 fps=None, skip_missing=False):
        self.path = Path(path)
        self.first_frame = 1 if first_frame is None else int(first_frame)
        decoder = MovieDecoder(self.path)
        self._decoder = decoder
        all_frames = [self.first_frame + i for i in range(decoder.count)]
        wanted = parse_frames(frames) if not isinstance(frames, list) else sorted(frames)
        if wanted is not None:
            missing = [f for f in wanted if not self.first_frame <= f < self.first_frame + decoder.count]
            if missing:
                message = (f"movie {self.path} has frames {format_frames(all_frames)}; "
                           f"missing frame(s) {format_frames(missing)}")
                if not skip_missing:
                    raise InputError(message + " (--skip-missing to go on without them, --first-frame to renumber)")
                log.warning(message + "; skipped")
            all_frames = [f for f in wanted if f not in set(missing)]
            if not all_frames:
                raise InputError(f"movie {self.path}: none of the frames {format_frames(wanted)} exist")
        transform = display_transform(colorspace, is_float=False, ocio_config=ocio_config)
        super().__init__(str(path), all_frames, decoder.width, decoder.height, decoder.pixel_aspect,
                         fps or decoder.fps, transform, skip_missing)

    def identity(self, frame: int) -> dict:
        return {"frame": frame, "first_frame": self.first_frame, **file_identity(self.path)}

    def read(self, frame: int) -> np.ndarray:
        self._check_frame(frame)
        if self._decoder is None:
            self._decoder = MovieDecoder(self.path)
        return self._display(self._decoder.rgb(frame - self.first_frame))

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None

    def __getstate__(self):  # an open decoder cannot travel to another process; it reopens there
        state = dict(self.__dict__)
        state["_decoder"] = None
        return state


def open_plate(spec, frames=None, *, skip_missing: bool = False, colorspace: str | None = None,
               first_frame: int | None = None, ocio_config: str | None = None,
               fps: float | None = None) -> Plate:
    """Open a plate: an image sequence (any spelling), one image, or a movie.

    Parameters
    ----------
    spec : str or Path
        ``shot.####.exr``, ``shot.%04d.dpx``, ``shot.1001-1100#.exr``, a folder holding one
        sequence, ``frame.png`` or ``shot.mov``.
    frames : str or list of int, optional
        The frames to use (``"1001-1050"``); default all.
    skip_missing : bool
        Drop missing and unreadable frames with a warning instead of failing.
    colorspace : str, optional
        The plate's OCIO colour space (a name or alias), ``"none"`` for no transform. Default:
        float files are the config's scene_linear role, integer files and movies sRGB.
    first_frame : int, optional
        Frame number of a movie's first frame or of a single image (default 1).
    ocio_config : str, optional
        OCIO config path or ``ocio://`` name; default ``$OCIO``, else the pinned built-in.
    fps : float, optional
        Overrides the fps from the file (default: the movie stream's, an EXR's
        FramesPerSecond, else 24).
    """
    if isinstance(spec, Plate):
        return spec
    path = Path(str(spec)).expanduser()
    if path.suffix.lower() in MOVIE_EXTENSIONS and not path.is_dir():
        if not path.is_file():
            raise InputError(f"no movie file {path}")
        return MoviePlate(path, frames, first_frame=first_frame, colorspace=colorspace, ocio_config=ocio_config,
                          fps=fps, skip_missing=skip_missing)
    sequence = find_sequence(spec, frames, skip_missing=skip_missing, what="plate frames", first_frame=first_frame)
    return SequencePlate(sequence, colorspace=colorspace, ocio_config=ocio_config, fps=fps,
                         skip_missing=skip_missing, source=sequence.pattern)
