"""A Cryptomatte decoder for tests, written from the specification and independent of the
encoder: it reads with OpenImageIO, hashes names itself and rebuilds mattes by ID.

It accepts both channel spellings seen in the wild (``.R/.G/.B/.A`` and Nuke's
``.red/.green/.blue/.alpha``), metadata keys with or without Nuke's ``exr/`` prefix, embedded
and sidecar manifests, and data windows smaller than the display window.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import mmh3
import numpy as np

_SUFFIXES = {"R": ("R", "r", "red"), "G": ("G", "g", "green"), "B": ("B", "b", "blue"), "A": ("A", "a", "alpha")}
_KEY = re.compile(r"^(?:exr/)?cryptomatte/([0-9a-f]{7})/(.+)$")


def id_bits(name: str) -> int:
    """MurmurHash3_x86_32 of the UTF-8 name with the specification's exponent fix-up."""
    h = mmh3.hash(name.encode("utf-8"), 0, signed=False)
    exponent = (h >> 23) & 0xFF
    if exponent == 0 or exponent == 0xFF:
        h ^= 1 << 23
    return h


def id_float(name: str) -> float:
    return struct.unpack("<f", struct.pack("<I", id_bits(name)))[0]


@dataclass
class Image:
    """Every channel of an EXR as float32 over its display window, plus the header."""

    channels: dict[str, np.ndarray]
    attributes: dict[str, object]
    data_window: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    display_size: tuple[int, int]  # width, height
    formats: dict[str, str] = field(default_factory=dict)


def read_image(path) -> Image:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise OSError(f"OpenImageIO cannot open {path}: {oiio.geterror()}")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
    finally:
        inp.close()
    pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), np.float32)
    ys, xs = spec.y - spec.full_y, spec.x - spec.full_x
    full[ys:ys + spec.height, xs:xs + spec.width] = pixels
    formats = spec.channelformats or (spec.format,) * spec.nchannels
    return Image(
        channels={n: full[..., i] for i, n in enumerate(spec.channelnames)},
        attributes={a.name: a.value for a in spec.extra_attribs},
        data_window=(spec.x, spec.y, spec.x + spec.width - 1, spec.y + spec.height - 1),
        display_size=(spec.full_width, spec.full_height),
        formats={n: str(f) for n, f in zip(spec.channelnames, formats)},
    )


@dataclass
class Cryptomatte:
    """One Cryptomatte type of a file."""

    key: str
    name: str
    metadata: dict[str, str]
    manifest: dict[str, str]  # name -> 8-hex ID
    ranks: list[tuple[np.ndarray, np.ndarray]]  # (ID bits uint32, coverage float32), rank order
    channels: list[str]

    def matte(self, names) -> np.ndarray:
        """The summed coverage of ``names`` (or raw uint32 IDs), rebuilt from every rank."""
        ids = np.array([n if isinstance(n, (int, np.integer)) else id_bits(n) for n in names], np.uint32)
        out = np.zeros(self.ranks[0][0].shape, np.float32)
        for id_plane, cov in self.ranks:
            out += np.where(np.isin(id_plane, ids), cov, 0.0)
        return out

    def pixel_ids(self) -> set[int]:
        """Every ID that some pixel carries with non-zero coverage."""
        return {int(i) for ids, cov in self.ranks for i in np.unique(ids[cov != 0])}


def _channel(channels, layer, component):
    for suffix in _SUFFIXES[component]:
        if f"{layer}.{suffix}" in channels:
            return f"{layer}.{suffix}"
    raise KeyError(f"{layer} has no {component} channel")


def decode(path, image: Image | None = None) -> dict[str, Cryptomatte]:
    """Every Cryptomatte type in ``path``, by type name."""
    path = Path(path)
    image = image or read_image(path)
    by_key: dict[str, dict[str, str]] = {}
    for attr, value in image.attributes.items():
        m = _KEY.match(attr)
        if m:
            by_key.setdefault(m[1], {})[m[2]] = value
    found = {}
    for key, meta in by_key.items():
        name = meta["name"]
        if "manifest" in meta:
            manifest = json.loads(meta["manifest"])
        elif "manif_file" in meta:
            manifest = json.loads((path.parent / meta["manif_file"]).read_text(encoding="utf-8"))
        else:
            manifest = {}
        layer = re.compile(rf"^{re.escape(name)}(\d+)\.(?:R|r|red)$")
        numbers = sorted(int(m[1]) for c in image.channels if (m := layer.match(c)))
        ranks, used = [], []
        for n in numbers:
            base = f"{name}{n:02d}"
            for id_c, cov_c in (("R", "G"), ("B", "A")):
                ic, cc = _channel(image.channels, base, id_c), _channel(image.channels, base, cov_c)
                ranks.append((image.channels[ic].view(np.uint32), image.channels[cc]))
                used += [ic, cc]
        found[name] = Cryptomatte(key, name, meta, manifest, ranks, used)
    return found
