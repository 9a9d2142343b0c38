"""The parse cache: one compressed ``.npz`` per plate frame, so runs resume and farm chunks merge.

Layout: ``<root>/<plate name>-<key>/<frame>.npz`` where ``key`` hashes the plate's source and
everything that changes a parse: the plate's colour settings and the parser's ``settings``
(model, precision, resolution ...). Each file also records the identity of the frame file it
was parsed from (path, size, modification time), so a re-rendered plate frame is parsed again
rather than served stale. Files are written atomically: an interrupted run leaves only whole
frames, and chunks run on different machines into the same folder, or merged with
:func:`merge_cache`, add up to the whole shot.

The root is ``cache_dir`` if given, else ``$M2FP_ROTO_CACHE``, else ``<output dir>/.m2fp_roto_cache``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, atomic_write_bytes, atomic_write_text
from ..errors import InputError
from ..parsing import Parsing

log = logging.getLogger("m2fp_roto")

CACHE_ENV = "M2FP_ROTO_CACHE"
CACHE_DIRNAME = ".m2fp_roto_cache"
FORMAT_VERSION = 2     # in the key: a change of layout starts a new folder, never misread
ZIP_LEVEL = 1          # zlib's fastest: level 6 took twice as long for files 5 % smaller


def storable(parsing: Parsing) -> Parsing:
    """``parsing`` as the cache stores it (float16 part logits, int32 people), so that a frame
    served from the cache and one parsed fresh give the same result downstream."""
    logits = parsing.part_logits
    if logits is not None and logits.dtype != np.float16:
        logits = np.asarray(logits).astype(np.float16)
    return Parsing(frame=parsing.frame, parts=np.asarray(parsing.parts, np.uint8),
                   people=np.asarray(parsing.people).astype(np.int32, copy=False), label_set=parsing.label_set,
                   scores={int(k): float(v) for k, v in parsing.scores.items()}, part_logits=logits)


def pack_float16(values: np.ndarray) -> np.ndarray:
    """float16 values as (2, N) bytes, every value's low byte first, then every high byte: the
    high bytes (sign, exponent) repeat a lot and compress well on their own. Lossless."""
    bits = np.asarray(values, np.float16).reshape(-1).view(np.uint16)
    packed = np.empty((2, bits.size), np.uint8)
    np.bitwise_and(bits, 0xFF, out=packed[0], casting="unsafe")
    np.right_shift(bits, 8, out=packed[1], casting="unsafe")
    return packed


def unpack_float16(packed: np.ndarray, shape) -> np.ndarray:
    """The float16 array of ``shape`` that :func:`pack_float16` packed."""
    bits = np.left_shift(packed[1], 8, dtype=np.uint16)
    bits |= packed[0]
    return bits.view(np.float16).reshape(tuple(int(n) for n in shape))


def default_cache_root(output=None) -> Path:
    """``$M2FP_ROTO_CACHE``, else ``.m2fp_roto_cache`` beside the output (or in the working folder)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = Path(output).expanduser().resolve().parent if output else Path.cwd()
    return base / CACHE_DIRNAME


def cache_key(source: str, settings: dict) -> str:
    """A short stable hash of a plate source and the settings that change its parses."""
    blob = json.dumps({"source": str(source), "settings": settings, "version": FORMAT_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _folder_name(source: str, key: str) -> str:
    stem = Path(str(source)).name or "plate"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "plate"
    return f"{stem[:60]}-{key}"


class ParseCache:
    """Parsings of one plate under one set of settings, one file per frame.

    Parameters
    ----------
    root : path
        The cache root (see :func:`default_cache_root`).
    source : str
        The plate's source (pattern or path), for the folder name and key.
    settings : dict
        Everything that changes a parse: the parser's ``settings`` merged with the plate's.
    identity : callable, optional
        ``identity(frame) -> dict`` naming the file version the frame is read from
        (:meth:`m2fp_roto.sources.plate.Plate.identity`); a cached frame whose identity differs is a miss.
    """

    def __init__(self, root, source: str, settings: dict, identity=None):
        self.root = Path(root).expanduser()
        self.source = str(source)
        self.settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        self.key = cache_key(self.source, self.settings)
        self.folder = self.root / _folder_name(self.source, self.key)
        self.identity = identity

    @classmethod
    def for_plate(cls, root, plate, parser_settings: dict) -> ParseCache:
        """The cache of ``plate`` parsed with ``parser_settings``."""
        return cls(root, plate.canonical, {"parser": parser_settings, "plate": plate.settings}, plate.identity)

    def path(self, frame: int) -> Path:
        return self.folder / f"{int(frame)}.npz"

    @property
    def frames(self) -> list[int]:
        """Frame numbers with a cached parse (whatever their file identity)."""
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.npz") if re.fullmatch(r"-?\d+", p.stem))

    def _identity(self, frame: int) -> str:
        return json.dumps(self.identity(frame) if self.identity else {"frame": int(frame)}, sort_keys=True)

    def get(self, frame: int) -> Parsing | None:
        """The cached parse of ``frame``, or None (absent, stale or unreadable)."""
        path = self.path(frame)
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["identity"]) != self._identity(frame):
                    log.info("parse cache: frame %d changed on disk since it was parsed; parsing again", frame)
                    return None
                logits = (unpack_float16(data["part_logits"], data["part_logits_shape"])
                          if "part_logits" in data.files else None)
                return Parsing(frame=int(data["frame"]), parts=data["parts"], people=data["people"].astype(np.int32),
                               label_set=str(data["label_set"]),
                               scores={int(p): float(s) for p, s in zip(data["score_ids"], data["score_values"])},
                               part_logits=logits)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("parse cache: %s is unreadable (%s); parsing frame %d again", path, exc, frame)
            return None

    def put(self, parsing: Parsing) -> Path:
        """Store ``parsing`` (atomically) and return its file."""
        self._write_settings()
        parsing = storable(parsing)
        people = parsing.people
        people = people.astype(np.uint16 if people.max(initial=0) < 65536 else np.int32, copy=False)
        ids = sorted(parsing.scores)
        arrays = dict(frame=np.int64(parsing.frame), parts=np.asarray(parsing.parts, np.uint8), people=people,
                      label_set=np.str_(parsing.label_set), identity=np.str_(self._identity(parsing.frame)),
                      score_ids=np.asarray(ids, np.int64),
                      score_values=np.asarray([parsing.scores[i] for i in ids], np.float64))
        if parsing.part_logits is not None:
            arrays["part_logits"] = pack_float16(parsing.part_logits)
            arrays["part_logits_shape"] = np.asarray(parsing.part_logits.shape, np.int64)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as npz:  # as np.savez writes
            for name, value in arrays.items():
                with npz.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
        return atomic_write_bytes(self.path(parsing.frame), buf.getvalue())

    def _write_settings(self) -> None:
        info = self.folder / "settings.json"
        if not info.exists():
            atomic_write_text(info, json.dumps({"source": self.source, "key": self.key, "settings": self.settings,
                                                "version": FORMAT_VERSION}, indent=2, sort_keys=True) + "\n")

    def clear(self) -> None:
        """Remove every cached frame of this plate and settings."""
        shutil.rmtree(self.folder, ignore_errors=True)


def merge_cache(source_root, dest_root, *, overwrite: bool = False) -> int:
    """Copy every cached frame under ``source_root`` into ``dest_root``; returns the count copied.

    Chunks parsed into separate roots (e.g. each farm node's local scratch) merge into one:
    folders are keyed by plate and settings, so only matching parses meet. Existing frames in
    ``dest_root`` are kept unless ``overwrite``. Each copy is atomic.
    """
    source_root, dest_root = Path(source_root).expanduser(), Path(dest_root).expanduser()
    if not source_root.is_dir():
        raise InputError(f"no parse cache folder {source_root}")
    copied = 0
    for folder in sorted(p for p in source_root.iterdir() if (p / "settings.json").is_file()):
        for src in sorted(folder.iterdir()):
            dst = dest_root / folder.name / src.name
            if src.name.startswith(".") or src.suffix not in (".npz", ".json"):  # ".": a killed writer's temp
                continue
            if dst.exists() and (not overwrite or src.suffix == ".json"):
                continue
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
            copied += src.suffix == ".npz"
    return copied
