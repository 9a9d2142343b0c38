"""Matte EXRs and Cryptomatte: one file per frame, numbered with the plate's frame numbers.

Each file holds, over a data window that bounds the covered pixels (display window = plate
format, pixel aspect in the header):

- one half-float single-channel layer per (person, part), ``p1_hair.A`` (Nuke reads ``.A``
  as the layer's alpha), the anti-aliased coverage of exactly the roto shapes of that part
  (:mod:`.coverage`), and ``A`` (Nuke's ``rgba.alpha``): all of them together, clamped at 1;
- two Cryptomattes, ``CryptoPerson`` (names ``p1``) and ``CryptoPart`` (names ``p1/hair``),
  6 float32 ranks with the manifest embedded (:mod:`.cryptomatte`), optionally in a separate
  ``*_crypto.####.exr`` sequence;
- provenance in ``m2fp/*`` string attributes (source, plate, frame, version, settings).

:mod:`.frame` builds and writes one frame; this module is the exporter: options, frames, threads.

Compression is always lossless (ZIPS by default, as in Nuke's Write node); Cryptomatte IDs
allow only ZIP, ZIPS or PIZ. Each frame file is written atomically; frames are written in
parallel threads, so a failed frame never leaves a half-written file behind.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from m2fp_roto.errors import InputError
from m2fp_roto.exporters import Option
from m2fp_roto.sources.frames import PADDING, frame_path, parse_frames

from .frame import PART_TYPE, PERSON_TYPE, FrameWriter, crypto_names, crypto_pattern, layer_names, rational_fps

NAME = "exr"
SUFFIXES = (".exr",)
DESCRIPTION = "matte EXRs per frame: a half-float alpha layer per person and part, plus Cryptomatte"

COMPRESSIONS = ("zips", "zip", "piz", "rle", "none")
CRYPTO_COMPRESSIONS = ("zips", "zip", "piz")  # lossless codecs every Cryptomatte reader handles

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
FRAMES = True  # one file per frame: write_to_file(frames=...) writes farm chunks


def write_to_file(doc, path, *, layers: bool = True, cryptomatte: bool = True, split: bool = False,
                  compression: str = "zips", frames=None, ranks: int = 6, tolerance: float = 0.05,
                  threads: int | None = None, progress=None) -> list[Path]:
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
    compression = _check_options(layers, cryptomatte, compression, ranks)
    doc.validate()
    if not doc.shapes:
        raise InputError("nothing to write: no shapes in the document (or none for the chosen people/parts)")
    frame_list = _frames(doc, frames)
    file_for = frame_path
    if not PADDING.search(Path(path).name):
        if len(frame_list) > 1 or doc.first_frame != doc.last_frame:
            raise InputError(f"{Path(path).name!r} has no frame number pattern; use e.g. shot.####.exr "
                             "(one # per digit) or shot.%04d.exr")
        file_for = _single_file  # one frame to a plain name: write exactly that file
    settings = {"layers": bool(layers), "cryptomatte": bool(cryptomatte), "split": bool(split),
                "compression": compression, "ranks": int(ranks), "tolerance": float(tolerance)}
    writer = FrameWriter(doc, path, file_for, layers=layers, cryptomatte=cryptomatte,
                         split_pattern=crypto_pattern(path) if cryptomatte and split else None,
                         compression=compression, ranks=int(ranks), tolerance=tolerance, settings=settings)
    return _write_frames(writer, frame_list, threads, progress)


def check_options(layers: bool = True, cryptomatte: bool = True, split: bool = False,
                  compression: str = "zips") -> None:
    """Refuse impossible options (before any work: :func:`m2fp_roto.exporters.write` calls it)."""
    _check_options(layers, cryptomatte, compression, 6)


def _check_options(layers, cryptomatte, compression, ranks) -> str:
    """The compression, normalised; every impossible combination is a one-line error."""
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
    return compression


def _single_file(pattern, frame: int) -> Path:
    return Path(pattern)


def _frames(doc, frames) -> list[int]:
    if frames is None:
        return list(doc.frames)
    wanted = parse_frames(frames) if isinstance(frames, str) else sorted({int(f) for f in frames})
    outside = [f for f in (wanted or []) if f not in doc.frames]
    if outside:
        raise InputError(f"frame(s) {outside[:5]} are outside the document's range "
                         f"{doc.first_frame}-{doc.last_frame}")
    return wanted or list(doc.frames)


def _write_frames(writer: FrameWriter, frames: list[int], threads, progress) -> list[Path]:
    """Every frame through ``writer``, in threads; returns the files in frame order."""
    # OpenEXR compresses without holding the GIL, so frames in threads use every core.
    written: list[Path] = []
    workers = max(1, min(int(threads or os.cpu_count() or 1), len(frames)))
    if progress is not None:
        progress(0, len(frames))
    with ThreadPoolExecutor(workers) as pool:
        try:
            for done, files in enumerate(pool.map(writer.write, frames), 1):
                written += files
                if progress is not None:
                    progress(done, len(frames))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return written


__all__ = ["NAME", "SUFFIXES", "DESCRIPTION", "OPTIONS", "PROGRESS", "FRAMES", "check_options", "COMPRESSIONS", "PART_TYPE", "PERSON_TYPE",
           "write_to_file", "crypto_pattern", "layer_names", "crypto_names", "rational_fps"]
