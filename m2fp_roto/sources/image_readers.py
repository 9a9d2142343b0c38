"""Image files of a plate: what a header says (``probe``) and the pixels (``read``), by extension.

- EXR, DPX, Cineon, HDR, TIFF: OpenImageIO (``plates`` extra); TIFF falls back to Pillow.
  Data windows are padded to the display window.
- PNG, JPEG, BMP, WebP, TGA: Pillow.

Float files come back as float32, integer files as uint8/uint16, always (H, W, 3) RGB;
colour is the plate's business (:mod:`.colour`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError

OIIO_EXTENSIONS = frozenset({".exr", ".sxr", ".dpx", ".cin", ".hdr", ".tif", ".tiff"})
PILLOW_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tga"})

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


def reader_for(path: Path):
    """(probe, read) functions for a file, by extension."""
    ext = path.suffix.lower()
    if ext in OIIO_EXTENSIONS and (ext not in (".tif", ".tiff") or _has_oiio()):
        return _probe_oiio, _read_oiio
    if ext in PILLOW_EXTENSIONS or ext in (".tif", ".tiff"):
        return _probe_pillow, _read_pillow
    from .movie import MOVIE_EXTENSIONS

    raise InputError(f"{path}: unknown plate format {ext or '(no extension)'!r}; readable: "
                     f"{', '.join(sorted(OIIO_EXTENSIONS | PILLOW_EXTENSIONS | MOVIE_EXTENSIONS))}")


def file_identity(path: Path) -> dict:
    """What tells one version of a file from another: path, size, modification time."""
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
