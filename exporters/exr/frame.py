"""One matte EXR frame: layer and Cryptomatte names, the header, the channels, the file.

:class:`FrameWriter` holds what every frame of a sequence shares (layer names, the manifest,
the base header) and writes one frame at a time, atomically.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

import m2fp_roto
from m2fp_roto.atomic import atomic_path
from m2fp_roto.errors import InputError
from m2fp_roto.sources.frames import PADDING

from . import cryptomatte as cm
from .coverage import part_coverages

PERSON_TYPE = "CryptoPerson"
PART_TYPE = "CryptoPart"


def crypto_pattern(pattern) -> Path:
    """Where a split Cryptomatte goes: ``shot.####.exr`` -> ``shot_crypto.####.exr``."""
    path = Path(pattern)
    name = path.name
    m = PADDING.search(name)
    cut = m.start() if m else len(name) - len(path.suffix)
    head = name[:cut]
    stem = head.rstrip("._-")
    return path.with_name(stem + "_crypto" + head[len(stem):] + name[cut:])


def layer_names(keys) -> dict[tuple[int, str], str]:
    """EXR layer names ``p{person}_{part}`` for (person, part) keys: runs of anything but
    ``[A-Za-z0-9]`` become one ``_``, so Nuke and AE keep the names as they are."""
    names: dict[tuple[int, str], str] = {}
    for person, part in keys:
        name = f"p{person}_" + (re.sub(r"[^A-Za-z0-9]+", "_", part).strip("_") or "part")
        clash = [k for k, v in names.items() if v == name]
        if clash:
            raise InputError(f"parts {clash[0][1]!r} and {part!r} of person {person} both become the "
                             f"EXR layer {name!r}; rename one of them")
        names[(person, part)] = name
    return names


def crypto_names(keys) -> tuple[list[str], list[str]]:
    """Cryptomatte names of (person, part) keys: ``(["p1/hair", ...], ["p1", ...])``, parts in
    key order, people in order of first appearance."""
    return [f"p{p}/{part}" for p, part in keys], [f"p{p}" for p in dict.fromkeys(p for p, _ in keys)]


def rational_fps(fps: float) -> Fraction:
    """The EXR ``framesPerSecond`` rational: NTSC rates as n*1000/1001, others as they are.

    >>> rational_fps(23.976), rational_fps(25.0)
    (Fraction(24000, 1001), Fraction(25, 1))
    """
    for n in (24, 30, 48, 60, 120):
        if abs(fps - n * 1000 / 1001) < 5e-3:
            return Fraction(n * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def _data_window(tiles) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` bounding every tile; one pixel at the origin when all are empty
    (an EXR data window cannot be empty)."""
    boxes = np.array([t.bbox for t in tiles if t is not None]).reshape(-1, 4)
    if not len(boxes):
        return 0, 0, 1, 1
    return (*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist())


def _cryptomatte_channels(tiles, keys, window, ranks) -> dict[str, np.ndarray]:
    """CryptoPart and CryptoPerson channels over ``window`` from the parts' coverage tiles."""
    h, w = window[2] - window[0], window[3] - window[1]
    part_names, person_names = crypto_names(keys)
    people = list(dict.fromkeys(p for p, _ in keys))
    parts, persons = cm.tile_ranks([tiles[k] for k in keys], [cm.name_hash(n) for n in part_names],
                                   [people.index(p) for p, _ in keys], [cm.name_hash(n) for n in person_names],
                                   window, ranks)
    return {**cm.channels(PART_TYPE, *parts, (h, w)), **cm.channels(PERSON_TYPE, *persons, (h, w))}


def _write(path: Path, header: dict, channels: dict) -> Path:
    import OpenEXR

    try:
        with atomic_path(path) as tmp:
            with OpenEXR.File(dict(header), dict(channels)) as f:  # copies: the binding mutates them
                f.write(str(tmp))
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot write {path}: {exc}") from None
    return path


class FrameWriter:
    """Writes the frames of one EXR sequence of ``doc`` (validated, with shapes).

    ``settings`` are the exporter's options, recorded in every header; ``file_for(pattern,
    frame)`` names a frame's file; ``split_pattern`` (or None) is where a split Cryptomatte goes.
    """

    def __init__(self, doc, path, file_for, *, layers: bool, cryptomatte: bool, split_pattern, compression: str,
                 ranks: int, tolerance: float, settings: dict):
        import OpenEXR

        self.doc, self.path, self.file_for, self.split_pattern = doc, path, file_for, split_pattern
        self.layers, self.cryptomatte, self.ranks, self.tolerance = layers, cryptomatte, ranks, tolerance
        self.keys = list(dict.fromkeys((s.person, s.part) for s in doc.shapes))
        self.names = layer_names(self.keys)
        self.crypto_meta = {}
        if cryptomatte:
            part_names, person_names = crypto_names(self.keys)
            self.crypto_meta.update(cm.metadata(PERSON_TYPE, person_names))
            self.crypto_meta.update(cm.metadata(PART_TYPE, part_names))
        self.header = {
            "compression": getattr(OpenEXR, f"{'NO' if compression == 'none' else compression.upper()}_COMPRESSION"),
            "type": OpenEXR.scanlineimage,
            "displayWindow": (np.array([0, 0], np.int32), np.array([doc.width - 1, doc.height - 1], np.int32)),
            "pixelAspectRatio": float(doc.pixel_aspect),
            "framesPerSecond": rational_fps(doc.fps),  # a Fraction: the binding's own Rational is refused
            "m2fp/version": m2fp_roto.__version__,
            "m2fp/label_set": doc.label_set,
            "m2fp/settings": json.dumps(settings, sort_keys=True),
            "m2fp/layers": json.dumps({self.names[k]: {"person": k[0], "part": k[1]} for k in self.keys}),
        }
        for attr, value in (("m2fp/source", doc.source), ("m2fp/plate", doc.plate)):
            if value:  # OpenImageIO drops empty strings; leave them out
                self.header[attr] = str(value)
        if doc.metadata:
            self.header["m2fp/document"] = json.dumps(doc.metadata, sort_keys=True, default=str)

    def write(self, frame: int) -> list[Path]:
        """Write ``frame``'s file(s); returns them."""
        tiles = part_coverages(self.doc, frame, self.tolerance)
        y0, x0, y1, x1 = window = _data_window(tiles.values())
        header = {**self.header, "m2fp/frame": int(frame),
                  "dataWindow": (np.array([x0, y0], np.int32), np.array([x1 - 1, y1 - 1], np.int32))}
        mattes = {}
        if self.layers:
            union = np.zeros((y1 - y0, x1 - x0), np.float32)
            for key in self.keys:
                # Each tile goes into its layer as half floats where it lies (the rest is zeros):
                # the whole window in float32 first, then converted, cost more than the write.
                plane = np.zeros((y1 - y0, x1 - x0), np.float16)
                tile = tiles[key]
                if tile is not None:
                    tile.paste(plane, (y0, x0))
                    union[tile.slices((y0, x0))] += tile.data
                mattes[f"{self.names[key]}.A"] = plane
            # The default layer's alpha: every selected shape at once, so a Read node gives a
            # usable alpha without picking a layer (parts meet edge to edge: their sum is the union).
            mattes["A"] = np.minimum(union, 1.0).astype(np.float16)
        crypto = _cryptomatte_channels(tiles, self.keys, window, self.ranks) if self.cryptomatte else {}
        if self.split_pattern is None:
            return [_write(self.file_for(self.path, frame), {**header, **self.crypto_meta}, {**mattes, **crypto})]
        out = [_write(self.file_for(self.path, frame), header, mattes)] if mattes else []
        return out + [_write(self.file_for(self.split_pattern, frame), {**header, **self.crypto_meta}, crypto)]
