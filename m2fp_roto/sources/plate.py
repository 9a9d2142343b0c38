"""Plates: the frames a shot is parsed from, as display-sRGB uint8 RGB with their own frame numbers.

A plate is an image sequence in any spelling :mod:`m2fp_roto.sources.frames` reads (``shot.####.exr``,
``shot.%04d.exr``, ``shot.@@@@.exr``, ``shot.1001-1100#.exr``, a folder), one image, or a
movie. Readers, picked by extension:

- EXR, DPX, Cineon, HDR, TIFF: OpenImageIO (``plates`` extra); TIFF falls back to Pillow.
- PNG, JPEG, BMP, WebP, TGA: Pillow.
- Movies (mov, mp4, mkv, mxf, ...): PyAV (FFmpeg inside its wheel; ``plates`` extra), decoded
  forward with the decoder kept open, so reading frames in order decodes each frame once.

Colour goes through :mod:`m2fp_roto.sources.colour` (float files default to the OCIO config's
scene-linear role; integer files and movies are taken as sRGB). Pixel aspect comes from the
EXR/DPX header or the movie stream; it is metadata, never a resample.

>>> plate = open_plate("shot.####.exr", "1001-1010")          # doctest: +SKIP
>>> rgb = plate.read(1001)                                      # (H, W, 3) uint8 sRGB
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .frames import FrameSequence, find_sequence, format_frames, parse_frames
from .colour import DisplayTransform, display_transform, to_uint8

log = logging.getLogger("m2fp_roto")

OIIO_EXTENSIONS = frozenset({".exr", ".sxr", ".dpx", ".cin", ".hdr", ".tif", ".tiff"})
PILLOW_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tga"})
MOVIE_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".mkv", ".avi", ".webm", ".mxf", ".mpg", ".mpeg",
                              ".gif"})

DEFAULT_FPS = 24.0


class FrameReadError(InputError):
    """A plate frame that exists but cannot be read (corrupt, truncated, wrong size)."""


@dataclass
class ImageInfo:
    """What a file's header says, before any pixel is read."""

    width: int
    height: int
    is_float: bool
    pixel_aspect: float = 1.0
    fps: float | None = None
    transfer: str | None = None  # e.g. a DPX transfer characteristic


# --------------------------------------------------------------------------- file readers

def _oiio():
    try:
        import OpenImageIO
    except ImportError:
        raise InputError("reading EXR/DPX/TIFF plates needs OpenImageIO: pip install 'm2fp-roto[plates]'") from None
    return OpenImageIO


def _has_oiio() -> bool:
    try:
        _oiio()
    except InputError:
        return False
    return True


def _open_oiio(path: Path):
    oiio = _oiio()
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        reason = oiio.geterror().strip().replace("\n", " ") or "unknown format"
        raise FrameReadError(f"cannot read {path}: {reason}")
    return inp


def _fps_attribute(spec) -> float | None:
    value = spec.getattribute("FramesPerSecond")
    if value is None:
        return None
    if isinstance(value, (tuple, list)):  # a rational comes back as (numerator, denominator)
        return float(Fraction(int(value[0]), int(value[1]))) if value[1] else None
    return float(value) or None


def _probe_oiio(path: Path) -> ImageInfo:
    oiio = _oiio()
    inp = _open_oiio(path)
    try:
        spec = inp.spec()
        is_float = spec.format.basetype in (oiio.FLOAT, oiio.HALF, oiio.DOUBLE)
        return ImageInfo(spec.full_width, spec.full_height, is_float,
                         spec.get_float_attribute("PixelAspectRatio", 1.0) or 1.0, _fps_attribute(spec),
                         spec.get_string_attribute("dpx:Transfer") or None)
    finally:
        inp.close()


def _rgb_channels(names) -> list[int]:
    """Indices of R, G, B (or one luminance channel, repeated) among a file's channel names."""
    upper = [n.upper() for n in names]
    if all(c in upper for c in "RGB"):
        return [upper.index(c) for c in "RGB"]
    if "Y" in upper:
        return [upper.index("Y")] * 3
    return [0, 1, 2] if len(names) >= 3 else [0, 0, 0]


def _read_oiio(path: Path) -> np.ndarray:
    """(H, W, 3) float32 for float files, uint8/uint16 otherwise; the data window padded to
    the display window with zeros."""
    oiio = _oiio()
    inp = _open_oiio(path)
    try:
        spec = inp.spec()
        chans = _rgb_channels(spec.channelnames)
        base = spec.format.basetype
        # float files are read in their own type (half decodes faster than half -> float in OIIO)
        fmt = oiio.UNKNOWN if base in (oiio.FLOAT, oiio.HALF, oiio.DOUBLE) else (
            "uint8" if base in (oiio.UINT8, oiio.INT8) else "uint16")
        pixels = inp.read_image(0, 0, min(chans), max(chans) + 1, fmt)
        if pixels is None:
            raise FrameReadError(f"cannot read {path}: {inp.geterror().strip() or 'truncated or corrupt'}")
    finally:
        inp.close()
    pixels = np.asarray(pixels).reshape(spec.height, spec.width, -1)
    if chans != [min(chans), min(chans) + 1, min(chans) + 2]:
        pixels = pixels[..., [c - min(chans) for c in chans]]
    if pixels.dtype.kind == "f" and pixels.dtype != np.float32:
        pixels = pixels.astype(np.float32)
    if (spec.x, spec.y, spec.width, spec.height) == (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        return pixels
    full = np.zeros((spec.full_height, spec.full_width, 3), pixels.dtype)
    x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y  # data window offset in the display window
    dx0, dy0 = max(x0, 0), max(y0, 0)
    dx1, dy1 = min(x0 + spec.width, spec.full_width), min(y0 + spec.height, spec.full_height)
    if dx1 > dx0 and dy1 > dy0:
        full[dy0:dy1, dx0:dx1] = pixels[dy0 - y0:dy1 - y0, dx0 - x0:dx1 - x0]
    return full


def _pillow_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise FrameReadError(f"missing file {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FrameReadError(f"cannot read {path}: {exc}") from None
    return img


def _probe_pillow(path: Path) -> ImageInfo:
    with _pillow_image(path) as img:
        dpi = img.info.get("aspect") or img.info.get("dpi")  # PNG pHYs / JPEG density: pixels per unit
        aspect = float(dpi[1]) / float(dpi[0]) if dpi and dpi[0] and dpi[1] else 1.0
        return ImageInfo(img.width, img.height, img.mode == "F", aspect)


def _read_pillow(path: Path) -> np.ndarray:
    with _pillow_image(path) as img:
        if img.mode in ("F", "I", "I;16", "I;16B", "I;16L"):  # one float or 16-bit channel: grey
            grey = np.asarray(img)
            if img.mode == "F":
                return np.repeat(grey.astype(np.float32)[..., None], 3, axis=2)
            return np.repeat(np.clip(grey, 0, 65535).astype(np.uint16)[..., None], 3, axis=2)
        return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)


def _reader(path: Path):
    """(probe, read) functions for a file, by extension."""
    ext = path.suffix.lower()
    if ext in OIIO_EXTENSIONS and (ext not in (".tif", ".tiff") or _has_oiio()):
        return _probe_oiio, _read_oiio
    if ext in PILLOW_EXTENSIONS or ext in (".tif", ".tiff"):
        return _probe_pillow, _read_pillow
    raise InputError(f"{path}: unknown plate format {ext or '(no extension)'!r}; readable: "
                     f"{', '.join(sorted(OIIO_EXTENSIONS | PILLOW_EXTENSIONS | MOVIE_EXTENSIONS))}")


def _hash_pattern(frame_file: Path) -> str:
    """``/shots/a.1001.exr`` -> ``/shots/a.####.exr`` (Nuke-style: one ``#`` per digit)."""
    import fileseq

    seq = fileseq.FileSequence(str(frame_file))
    return f"{seq.dirname()}{seq.basename()}{'#' * max(seq.zfill(), 1)}{seq.extension()}"


def file_identity(path: Path) -> dict:
    """What tells one version of a file from another: path, size, modification time."""
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# --------------------------------------------------------------------------- plates

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
        self._probe, self._read = _reader(first)
        info = self._first_readable(skip_missing)
        if info.transfer and colorspace is None and any(w in info.transfer.lower() for w in ("log", "density")):
            log.warning("%s is %s encoded; it is read as sRGB unless --colorspace names its colour space "
                        "(e.g. 'ADX10' or 'ARRI LogC3 (EI800)')", first.name, info.transfer)
        transform = display_transform(colorspace, is_float=info.is_float, ocio_config=ocio_config)
        if source is None:  # a folder: name it by its pattern
            source = _hash_pattern(first)
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
        return str(first) if self.kind == "image" else _hash_pattern(first)

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
        decoder = _MovieDecoder(self.path)
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
            self._decoder = _MovieDecoder(self.path)
        return self._display(self._decoder.rgb(frame - self.first_frame))

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None

    def __getstate__(self):  # an open decoder cannot travel to another process; it reopens there
        state = dict(self.__dict__)
        state["_decoder"] = None
        return state


class _MovieDecoder:
    """Frames of a movie's first video stream by 0-based index, decoded forward.

    The container stays open between calls: reading frames in order decodes each one once.
    A jump backwards, or far forward in a constant-rate stream, seeks to the nearest keyframe
    before the target instead of decoding from the start.
    """

    far = 48  # frames ahead beyond which a keyframe seek beats decoding forward

    def __init__(self, path: Path):
        try:
            import av
        except ImportError:
            raise InputError("reading movies needs PyAV: pip install 'm2fp-roto[plates]'") from None
        self.path = path
        try:
            self.container = av.open(str(path))
        except FileNotFoundError:
            raise InputError(f"no movie file {path}") from None
        except av.FFmpegError as exc:
            raise FrameReadError(f"cannot read the movie {path}: {exc}") from None
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"{path} has no video stream")
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self.stream = stream
        self.rate = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or DEFAULT_FPS)
        self.fps = float(self.rate)
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        self.pixel_aspect = float(sar) if sar else 1.0
        self.constant_rate = bool(stream.average_rate and stream.base_rate
                                  and stream.average_rate == stream.base_rate)
        self.start_pts = stream.start_time or 0
        self.count = stream.frames or self._count_packets()
        if self.count <= 0:
            raise FrameReadError(f"the movie {path} has no decodable video frames")
        self._frames = None  # the decode iterator
        self._peek = None    # a frame taken from it but not yet used
        self._next = 0       # index of the frame it yields next
        self._last = None    # (index, decoded frame) of the last frame asked for
        self.decoded = 0     # frames decoded so far (how much work seeking saved)

    def _count_packets(self) -> int:
        n = sum(1 for p in self.container.demux(self.stream) if p.size and p.pts is not None)
        self.container.seek(0, stream=self.stream)
        return n

    def _index_of(self, frame) -> int:
        return int(round((frame.pts - self.start_pts) * self.stream.time_base * self.rate))

    def _restart(self, index: int) -> None:
        import av

        was_at = self._next if self._frames is not None else None
        if index and self.constant_rate:
            target = self.start_pts + int(index / self.rate / self.stream.time_base)
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        else:
            self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
        self._frames = self.container.decode(self.stream)
        self._next = None  # known from the first frame's pts
        try:
            self._peek = next(self._frames)
            self.decoded += 1
        except (StopIteration, av.FFmpegError):
            self._peek = None
        if self._peek is None:
            self._next = 0
            return
        self._next = self._index_of(self._peek) if self.constant_rate else 0
        if self._next > index:  # the seek overshot (no keyframe index): decode from the start
            self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
            self._frames, self._peek, self._next = self.container.decode(self.stream), None, 0
        elif was_at is not None and self._next < was_at <= index:
            # a forward seek landed behind where decoding already was: keyframes are sparse
            # (long GOP), so from now on go forward by decoding
            self.far = float("inf")

    def _advance(self):
        import av

        if self._peek is not None:
            frame, self._peek = self._peek, None
        else:
            try:
                frame = next(self._frames)
                self.decoded += 1
            except StopIteration:
                frame = None
            except av.FFmpegError as exc:
                raise FrameReadError(f"cannot decode frame {self._next} of {self.path}: {exc}") from None
        if frame is None:
            raise FrameReadError(f"{self.path} ended after {self._next} frames (its header says {self.count})")
        self._next += 1
        return frame

    def rgb(self, index: int) -> np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1].to_ndarray(format="rgb24")  # a new array: callers may write to theirs
        if self._frames is None or index < self._next or index - self._next > self.far:
            self._restart(index)
        while True:
            frame = self._advance()
            if self._next - 1 == index:
                break
        self._last = (index, frame)
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self.container.close()


# --------------------------------------------------------------------------- opening

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
    if first_frame is not None:
        if path.is_file():
            frames = [int(first_frame)]
        else:
            raise InputError("--first-frame renumbers movies and single images; an image sequence keeps "
                             "its own frame numbers")
    sequence = find_sequence(spec, frames, skip_missing=skip_missing, what="plate frames")
    return SequencePlate(sequence, colorspace=colorspace, ocio_config=ocio_config, fps=fps,
                         skip_missing=skip_missing, source=None if path.is_dir() else str(spec))
