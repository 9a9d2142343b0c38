"""Matte EXRs and Cryptomatte: one file per frame, numbered with the plate's frame numbers.

Each file holds, over a data window that bounds the covered pixels (display window = plate
format, pixel aspect in the header):

- one half-float single-channel layer per (person, part), ``p1_hair.A`` (Nuke reads ``.A``
  as the layer's alpha), the anti-aliased coverage of exactly the roto shapes of that part
  (``m2fp_roto_exporters.exr.coverage``);
- two Cryptomattes, ``CryptoPerson`` (names ``p1``) and ``CryptoPart`` (names ``p1/hair``),
  6 float32 ranks with the manifest embedded (``m2fp_roto_exporters.exr.cryptomatte``), optionally in a
  separate ``*_crypto.####.exr`` sequence;
- provenance in ``m2fp/*`` string attributes (source, plate, frame, version, settings).

Compression is always lossless (ZIPS by default, as in Nuke's Write node); Cryptomatte IDs
allow only ZIP, ZIPS or PIZ. Each frame file is written atomically; frames are written in
parallel threads, so a failed frame never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from m2fp_roto.atomic import atomic_path
from m2fp_roto.errors import InputError
from m2fp_roto.sources.frames import PADDING, frame_path
from m2fp_roto.exporters import Option

NAME = "exr"
SUFFIXES = (".exr",)
DESCRIPTION = "matte EXRs per frame: a half-float alpha layer per person and part, plus Cryptomatte"

COMPRESSIONS = ("zips", "zip", "piz", "rle", "none")
CRYPTO_COMPRESSIONS = ("zips", "zip", "piz")  # lossless codecs every Cryptomatte reader handles
PERSON_TYPE = "CryptoPerson"
PART_TYPE = "CryptoPart"

OPTIONS = (
    Option("layers", True, "write one half-float alpha layer per person and part (p1_hair.A)", type=bool),
    Option("cryptomatte", True, "write CryptoPerson and CryptoPart Cryptomattes (6 ranks, manifest "
           "embedded)", type=bool),
    Option("split", False, "write the Cryptomatte to its own sequence beside the mattes "
           "(shot_crypto.####.exr)", type=bool),
    Option("compression", "zips", "lossless EXR compression (Cryptomatte: zips, zip or piz)",
           choices=COMPRESSIONS),
)
PROGRESS = True  # write_to_file reports each frame written

def _single_file(pattern, frame: int) -> Path:
    return Path(pattern)


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


def _frames(doc, frames) -> list[int]:
    from m2fp_roto.sources.frames import parse_frames

    if frames is None:
        return list(doc.frames)
    wanted = parse_frames(frames) if isinstance(frames, str) else sorted({int(f) for f in frames})
    outside = [f for f in (wanted or []) if f not in doc.frames]
    if outside:
        raise InputError(f"frame(s) {outside[:5]} are outside the document's range "
                         f"{doc.first_frame}-{doc.last_frame}")
    return wanted or list(doc.frames)


def _data_window(tiles) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` bounding every tile; one pixel at the origin when all are empty
    (an EXR data window cannot be empty)."""
    boxes = np.array([t.bbox for t in tiles if t is not None]).reshape(-1, 4)
    if not len(boxes):
        return 0, 0, 1, 1
    return (*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist())


def _cryptomatte_channels(tiles, keys, window, ranks) -> dict[str, np.ndarray]:
    """CryptoPart and CryptoPerson channels over ``window`` from the parts' coverage tiles."""
    from . import cryptomatte as cm

    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    n = h * w
    pixels, names, covs = [], [], []
    for k, key in enumerate(keys):
        t = tiles[key]
        if t is None:
            continue
        ys, xs = np.nonzero(t.data)
        pixels.append((ys + (t.y0 - y0)) * w + (xs + (t.x0 - x0)))
        names.append(np.full(len(ys), k))
        covs.append(t.data[ys, xs])
    pixel = np.concatenate(pixels) if pixels else np.zeros(0, np.int64)
    name = np.concatenate(names) if names else np.zeros(0, np.int64)
    cov = cm.normalize(pixel, np.concatenate(covs) if covs else np.zeros(0), n)
    part_names, person_names = crypto_names(keys)
    part_ids = np.array([cm.name_hash(n) for n in part_names], np.uint32)
    person_ids = np.array([cm.name_hash(n) for n in person_names], np.uint32)
    people = list(dict.fromkeys(p for p, _ in keys))
    person_of = np.array([people.index(p) for p, _ in keys], np.int64)
    # A person's coverage is the sum of its parts' (already normalised) coverages.
    planes = np.bincount(person_of[name] * n + pixel, cov, minlength=len(people) * n).reshape(len(people), n)
    who, where = np.nonzero(planes)
    out = cm.channels(PART_TYPE, *cm.rank(pixel, part_ids[name], cov, n, ranks), (h, w))
    out.update(cm.channels(PERSON_TYPE, *cm.rank(where, person_ids[who], planes[who, where], n, ranks), (h, w)))
    return out


def _write(path: Path, header: dict, channels: dict) -> Path:
    import OpenEXR

    try:
        with atomic_path(path) as tmp:
            with OpenEXR.File(dict(header), dict(channels)) as f:  # copies: the binding mutates them
                f.write(str(tmp))
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot write {path}: {exc}") from None
    return path


def write_to_file(doc, path, *, layers: bool = True, cryptomatte: bool = True, split: bool = False,
                  compression: str = "zips", frames=None,
                  ranks: int = 6, tolerance: float = 0.05, threads: int | None = None,
                  progress=None) -> list[Path]:
    """Write one EXR per frame of ``doc`` to ``path`` (a pattern such as ``shot.####.exr``).

    Parameters
    ----------
    layers, cryptomatte, split, compression
        See ``OPTIONS``.
    frames
        Frame numbers (list, or text such as ``"1001-1010"``) to write; default every frame.
    ranks
        Cryptomatte ranks per type (the specification suggests 6, constant over a sequence).
    tolerance
        Curve flattening tolerance in pixels.
    threads
        Frames written at once (default: one per CPU core).
    progress
        Called as ``progress(done, total)`` after each frame, in frame order.

    Returns
    -------
    list of Path
        Every file written, in frame order.
    """
    import OpenEXR

    import m2fp_roto
    from . import cryptomatte as cm
    from .coverage import part_coverages

    compression = str(compression).lower()
    if compression not in COMPRESSIONS:
        raise InputError(f"unknown EXR compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    if cryptomatte and compression not in CRYPTO_COMPRESSIONS:
        raise InputError(f"Cryptomatte needs {', '.join(CRYPTO_COMPRESSIONS[:-1])} or {CRYPTO_COMPRESSIONS[-1]} "
                         f"compression, not {compression!r}; pick one or turn Cryptomatte off")
    if not (layers or cryptomatte):
        raise InputError("nothing to write: both the matte layers and the Cryptomatte are off")
    if int(ranks) < 1:
        raise InputError(f"Cryptomatte ranks must be at least 1, got {ranks}")
    doc.validate()
    if not doc.shapes:
        raise InputError("nothing to write: no shapes in the document (or none for the chosen people/parts)")
    frame_list = _frames(doc, frames)
    multi = len(frame_list) > 1 or doc.first_frame != doc.last_frame
    file_for = frame_path
    if not PADDING.search(Path(path).name):
        if multi:
            raise InputError(f"{Path(path).name!r} has no frame number pattern; use e.g. shot.####.exr "
                             "(one # per digit) or shot.%04d.exr")
        file_for = _single_file  # one frame to a plain name: write exactly that file

    keys = list(dict.fromkeys((s.person, s.part) for s in doc.shapes))
    names = layer_names(keys)
    crypto_meta = {}
    if cryptomatte:
        part_names, person_names = crypto_names(keys)
        crypto_meta.update(cm.metadata(PERSON_TYPE, person_names))
        crypto_meta.update(cm.metadata(PART_TYPE, part_names))
    settings = {"layers": bool(layers), "cryptomatte": bool(cryptomatte), "split": bool(split),
                "compression": compression, "ranks": int(ranks),
                "tolerance": float(tolerance)}
    base_header = {
        "compression": getattr(OpenEXR, f"{'NO' if compression == 'none' else compression.upper()}_COMPRESSION"),
        "type": OpenEXR.scanlineimage,
        "displayWindow": (np.array([0, 0], np.int32), np.array([doc.width - 1, doc.height - 1], np.int32)),
        "pixelAspectRatio": float(doc.pixel_aspect),
        "framesPerSecond": rational_fps(doc.fps),  # a Fraction: the binding's own Rational is refused
        "m2fp/version": m2fp_roto.__version__,
        "m2fp/label_set": doc.label_set,
        "m2fp/settings": json.dumps(settings, sort_keys=True),
        "m2fp/layers": json.dumps({names[k]: {"person": k[0], "part": k[1]} for k in keys}),
    }
    for attr, value in (("m2fp/source", doc.source), ("m2fp/plate", doc.plate)):
        if value:  # OpenImageIO drops empty strings; leave them out
            base_header[attr] = str(value)
    if doc.metadata:
        base_header["m2fp/document"] = json.dumps(doc.metadata, sort_keys=True, default=str)
    split_pattern = crypto_pattern(path) if cryptomatte and split else None

    def write_frame(frame: int) -> list[Path]:
        tiles = part_coverages(doc, frame, tolerance)
        y0, x0, y1, x1 = window = _data_window(tiles.values())
        header = {**base_header, "m2fp/frame": int(frame),
                  "dataWindow": (np.array([x0, y0], np.int32), np.array([x1 - 1, y1 - 1], np.int32))}
        mattes = {}
        if layers:
            for key in keys:
                plane = np.zeros((y1 - y0, x1 - x0), np.float16)
                if tiles[key] is not None:
                    tiles[key].paste(plane, (y0, x0))
                mattes[f"{names[key]}.A"] = plane
        crypto = _cryptomatte_channels(tiles, keys, window, int(ranks)) if cryptomatte else {}
        if split_pattern is None:
            return [_write(file_for(path, frame), {**header, **crypto_meta}, {**mattes, **crypto})]
        out = [_write(file_for(path, frame), header, mattes)] if mattes else []
        return out + [_write(file_for(split_pattern, frame), {**header, **crypto_meta}, crypto)]

    # OpenEXR compresses without holding the GIL, so frames in threads use every core.
    written: list[Path] = []
    workers = max(1, min(int(threads or os.cpu_count() or 1), len(frame_list)))
    with ThreadPoolExecutor(workers) as pool:
        try:
            for done, files in enumerate(pool.map(write_frame, frame_list), 1):
                written += files
                if progress is not None:
                    progress(done, len(frame_list))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return written
