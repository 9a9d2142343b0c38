"""Plate colour: whatever a plate holds, the parser sees display-referred sRGB, 8 bits per channel.

Scene-linear and log plates go through OpenColorIO (PyOpenColorIO, the ``plates`` extra). The
config is ``ocio_config`` if given, else ``$OCIO``, else a *pinned* built-in config (never a
``-latest`` name, whose meaning changes between OCIO releases). The output is the config's sRGB
encoding of Rec.709 primaries -- the plain sRGB transfer function, no tone mapping -- which is
what a photograph (and so the parser's training data) looks like; configs without such a space
fall back to their default display and view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError

#: The built-in config used when neither an option nor ``$OCIO`` names one (needs OCIO >= 2.3).
PINNED_CONFIG = "ocio://studio-config-v2.1.0_aces-v1.3_ocio-v2.3"

#: Names of the sRGB-encoded Rec.709 space across config generations (studio/cg 2.x, ACES 1.x,
#: nuke-default); the first one the config knows is the output.
SRGB_NAMES = ("sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture", "sRGB")

#: ``colorspace`` values meaning "already display sRGB": no transform.
NO_TRANSFORM = ("none", "raw", "srgb", "display")

#: ``colorspace`` value meaning "the config's scene_linear role" (the default for float files).
SCENE_LINEAR = "scene_linear"


class ColourError(InputError):
    """A colour space or config that OpenColorIO cannot use."""


def _ocio():
    try:
        import PyOpenColorIO
    except ImportError:
        raise ColourError("colour conversion needs OpenColorIO: pip install 'm2fp-roto[plates]' "
                          "(or pass --colorspace none for plates that are already sRGB)") from None
    return PyOpenColorIO


def load_config(name: str | None = None):
    """The OCIO config: ``name`` (a path or ``ocio://`` URI), else ``$OCIO``, else the pinned one."""
    return _load_config(config_name(name))


@lru_cache(maxsize=8)
def _load_config(name: str):
    ocio = _ocio()
    try:
        return ocio.Config.CreateFromFile(name)
    except Exception as exc:  # OCIO raises its own Exception type for every failure
        raise ColourError(f"cannot load the OCIO config {name!r}: {exc}") from None


def config_name(name: str | None = None) -> str:
    """The config that :func:`load_config` would use, as a name to record."""
    return name or os.environ.get("OCIO") or PINNED_CONFIG


@dataclass(frozen=True)
class DisplayTransform:
    """A CPU transform from a plate's colour space to display sRGB.

    ``source`` is the resolved colour space name, ``target`` the sRGB space or ``display/view``.
    """

    config: str
    source: str
    target: str
    cache_id: str  # the config's content hash ("" for a built-in config)

    @property
    def settings(self) -> dict:
        """What changes the pixels the parser sees (part of the parse cache key)."""
        settings = {"ocio_config": self.config, "colorspace": self.source, "display": self.target}
        return {**settings, "ocio_cache_id": self.cache_id} if self.cache_id else settings

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) float values in ``source`` -> (H, W, 3) uint8 display sRGB.

        OCIO writes 8-bit output itself (clamped and rounded), which is about twice as fast as
        transforming in float and quantising afterwards.
        """
        import PyOpenColorIO as ocio

        src = np.ascontiguousarray(rgb, dtype=np.float32)
        src = np.nan_to_num(src, nan=0.0) if np.isnan(src).any() else src
        h, w = src.shape[:2]
        out = np.empty((h, w, 3), np.uint8)
        _processor(self.config, self.source, self.target).apply(
            ocio.PackedImageDesc(src, w, h, 3),
            ocio.PackedImageDesc(out, w, h, 3, ocio.BIT_DEPTH_UINT8, 1, 3, 3 * w))
        return out


def to_uint8(rgb: np.ndarray, scratch: bool = False) -> np.ndarray:
    """Float [0, 1] (clipped, NaN -> 0), uint16 or uint8 pixels -> uint8 with rounding.

    ``scratch=True`` lets a float input be overwritten (saves two full-frame copies).
    """
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    out = rgb if scratch and rgb.dtype == np.float32 else rgb.astype(np.float32)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(out, 0.0, 1.0, out=out)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)


def display_transform(colorspace: str | None, *, is_float: bool, ocio_config: str | None = None
                      ) -> DisplayTransform | None:
    """The transform a plate needs, or None when its pixels are already display sRGB.

    ``colorspace=None`` picks the default by pixel type: float files (EXR, HDR, float TIFF)
    are the config's ``scene_linear`` role (ACEScg in the pinned config), integer files (PNG,
    JPEG, DPX, movies) are taken as sRGB. Any name or alias the config knows is accepted.
    """
    if colorspace is None:
        if not is_float:
            return None
        colorspace = SCENE_LINEAR
    if colorspace.strip().lower() in NO_TRANSFORM:
        return None
    config = load_config(ocio_config)
    if colorspace == SCENE_LINEAR:
        source = config.getRoleColorSpace("scene_linear") or config.getCanonicalName("scene_linear")
    else:
        source = config.getCanonicalName(colorspace)
    if not source:
        known = ", ".join(repr(cs.getName()) for cs in list(config.getColorSpaces())[:12])
        raise ColourError(f"the OCIO config {config_name(ocio_config)} has no colour space {colorspace!r} "
                          f"(some it has: {known} ...)")
    target = next((config.getCanonicalName(n) for n in SRGB_NAMES if config.getCanonicalName(n)), None)
    if target is None:
        display = config.getDefaultDisplay()
        target = f"{display}/{config.getDefaultView(display)}"
    if source == target:
        return None
    name = config_name(ocio_config)
    # a built-in config is fixed by its name; a file's content may change under the same path
    return DisplayTransform(name, source, target, "" if name.startswith("ocio://") else config.getCacheID())


@lru_cache(maxsize=16)
def _processor(config_name_: str, source: str, target: str):
    ocio = _ocio()
    config = load_config(config_name_)
    if "/" in target and not config.getColorSpace(target):
        display, view = target.split("/", 1)
        transform = ocio.DisplayViewTransform(src=source, display=display, view=view)
        processor = config.getProcessor(transform)
    else:
        processor = config.getProcessor(source, target)
    return processor.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_UINT8, ocio.OPTIMIZATION_DEFAULT)
