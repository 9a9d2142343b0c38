"""Cryptomatte encoding (Psyop's specification, v1.2.0): name IDs, manifests, rank channels.

- A name's ID is MurmurHash3_x86_32 (seed 0) of its UTF-8 bytes; when the hash's float32
  exponent would be 0 or 255 (zero, denormal, inf, NaN), bit 23 is flipped. The ID channels
  hold those bits reinterpreted as float32; the manifest writes them as 8 lower-case hex digits.
- A type (e.g. ``CryptoPart``) is stored under a 7-character metadata key, the first 7 hex
  digits of its own name's ID (what Nuke, Arnold and V-Ray write), with ``name``, ``hash``,
  ``conversion`` and the embedded ``manifest``.
- Each pixel lists its objects by coverage, highest first, in ``{type}00.R/G/B/A``,
  ``{type}01...``: rank 2k in R (ID) and G (coverage), rank 2k+1 in B and A. Ranks without an
  object carry ID 0 and coverage 0 and always come after the covered ones (AE's decoder stops
  at the first zero). Coverages of a pixel sum to at most 1.

>>> f"{name_hash('torus'):08x}", type_key("special_chars")
('f19c73fd', 'fbb35e3')
"""

from __future__ import annotations

import json

import numpy as np

HASH = "MurmurHash3_32"
CONVERSION = "uint32_to_float32"
DEFAULT_RANKS = 6


def name_hash(name: str) -> int:
    """The ID of ``name`` as uint32 bits: MurmurHash3_32 of its UTF-8 bytes, exponent fixed up."""
    import mmh3

    h = mmh3.hash(name.encode("utf-8"), seed=0, signed=False)
    if (h >> 23) & 0xFF in (0, 0xFF):
        h ^= 1 << 23
    return h


def name_id(name: str) -> np.float32:
    """The float32 value stored in ID channels for ``name``."""
    return np.array([name_hash(name)], np.uint32).view(np.float32)[0]


def type_key(type_name: str) -> str:
    """The 7-character metadata key of a Cryptomatte type."""
    return f"{name_hash(type_name):08x}"[:7]


def manifest(names) -> str:
    """The JSON manifest ``{"name": "8-hex ID"}`` of ``names``, in the given order."""
    return json.dumps({n: f"{name_hash(n):08x}" for n in names}, ensure_ascii=False)


def metadata(type_name: str, names) -> dict[str, str]:
    """Header attributes of one Cryptomatte type, with its manifest embedded."""
    prefix = f"cryptomatte/{type_key(type_name)}/"
    return {prefix + "name": type_name, prefix + "hash": HASH, prefix + "conversion": CONVERSION,
            prefix + "manifest": manifest(names)}


def normalize(pixel: np.ndarray, coverage: np.ndarray, n_pixels: int | None = None) -> np.ndarray:
    """Scale coverages down where a pixel's total exceeds 1 (overlapping shapes).

    ``pixel`` indexes a frame of ``n_pixels``; without it, only the pixels listed count.
    """
    if n_pixels is None:
        pixel = np.unique(pixel, return_inverse=True)[1]
    total = np.bincount(pixel, coverage, minlength=n_pixels or 0)
    return coverage / np.maximum(total, 1.0)[pixel]


def rank(pixel, ids, coverage, n_pixels: int, ranks: int = DEFAULT_RANKS):
    """Per-pixel ranks from a sparse list of (pixel, object ID bits, coverage) entries.

    Entries must have coverage > 0 and at most one entry per (pixel, ID). Returns
    ``(ids, coverages)``, each (ranks, n_pixels): uint32 ID bits and float32 coverage, ranked
    by coverage (ties by ID), zero-coverage ranks (ID 0) last; objects past ``ranks`` are dropped.
    """
    pixel = np.asarray(pixel, np.int64)
    ids = np.asarray(ids, np.uint32)
    coverage = np.asarray(coverage, np.float64)
    out_ids = np.zeros((ranks, n_pixels), np.uint32)
    out_cov = np.zeros((ranks, n_pixels), np.float32)
    # Most pixels hold one object: they go straight to rank 0; only shared pixels are sorted.
    shared = np.bincount(pixel, minlength=n_pixels)[pixel] > 1
    alone = ~shared
    out_ids[0, pixel[alone]] = ids[alone]
    out_cov[0, pixel[alone]] = coverage[alone]
    pixel, ids, coverage = pixel[shared], ids[shared], coverage[shared]
    order = np.lexsort((ids, -coverage, pixel))
    pixel, ids, coverage = pixel[order], ids[order], coverage[order]
    starts = np.flatnonzero(np.r_[True, pixel[1:] != pixel[:-1]])
    within = np.arange(len(pixel)) - np.repeat(starts, np.diff(np.r_[starts, len(pixel)]))
    keep = within < ranks
    out_ids[within[keep], pixel[keep]] = ids[keep]
    out_cov[within[keep], pixel[keep]] = coverage[keep]
    return out_ids, out_cov


def tile_ranks(tiles, ids, owner, owner_ids, window, ranks: int = DEFAULT_RANKS):
    """Ranked Cryptomattes of objects given as coverage tiles, and of the groups that own them.

    ``tiles[k]`` (a ``coverage.Tile`` or None) is object k's coverage, ``ids[k]`` its ID bits,
    ``owner[k]`` the index of its group in ``owner_ids`` (a part's person). ``window`` is
    ``(y0, x0, y1, x1)``. Returns ``((ids, coverages), (group ids, group coverages))`` as
    :func:`rank` does for the whole window: coverages normalised where a pixel's total exceeds
    1, a group's coverage the sum of its objects'.

    The work follows the tiles: a pixel covered by one object (nearly all of them) goes
    straight to rank 0 of both mattes; only pixels that objects share are normalised, summed
    per group and sorted, as a sparse list.
    """
    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    n = h * w
    out = [(np.zeros((ranks, n), np.uint32), np.zeros((ranks, n), np.float32)) for _ in range(2)]
    count = np.zeros((h, w), np.int32)
    boxes = []
    for t in tiles:
        box = None
        if t is not None:
            box = t.slices((y0, x0))
            count[box] += t.data > 0
        boxes.append(box)
    rank0 = [(i[0].reshape(h, w), c[0].reshape(h, w)) for i, c in out]
    shared = []  # (pixel, object) of pixels two or more objects cover, in object order
    for k, (t, box) in enumerate(zip(tiles, boxes)):
        if t is None:
            continue
        covered = t.data > 0
        many = count[box] > 1
        alone = covered & ~many
        for (id_plane, cov_plane), value in zip(rank0, (ids[k], owner_ids[owner[k]])):
            id_plane[box][alone] = value
            cov_plane[box][alone] = t.data[alone]
        ys, xs = np.nonzero(covered & many)
        if len(ys):
            shared.append(((ys + box[0].start) * w + xs + box[1].start, np.full(len(ys), k), t.data[ys, xs]))
    if shared:
        pixel, obj, cov = (np.concatenate(c) for c in zip(*shared))
        cov = normalize(pixel, cov)
        _rank_shared(out[0], pixel, np.asarray(ids, np.uint32)[obj], cov, ranks)
        # a group's coverage of a pixel: its objects' normalised coverages, summed in object order
        group = np.asarray(owner, np.int64)[obj]
        keys, inverse = np.unique(pixel * len(owner_ids) + group, return_inverse=True)
        _rank_shared(out[1], keys // len(owner_ids), np.asarray(owner_ids, np.uint32)[keys % len(owner_ids)],
                     np.bincount(inverse, cov, minlength=len(keys)), ranks)
    return out[0], out[1]


def _rank_shared(out, pixel, ids, coverage, ranks: int) -> None:
    """``rank`` of the entries of shared pixels, written into ``out`` = (ids, coverages)."""
    order = np.lexsort((ids, -coverage, pixel))
    pixel, ids, coverage = pixel[order], ids[order], coverage[order]
    starts = np.flatnonzero(np.r_[True, pixel[1:] != pixel[:-1]])
    within = np.arange(len(pixel)) - np.repeat(starts, np.diff(np.r_[starts, len(pixel)]))
    keep = within < ranks
    out[0][within[keep], pixel[keep]] = ids[keep]
    out[1][within[keep], pixel[keep]] = coverage[keep]


def channels(type_name: str, ids: np.ndarray, coverages: np.ndarray, shape) -> dict[str, np.ndarray]:
    """The float32 ``{type}NN.R/G/B/A`` channels of ranked ``(ids, coverages)`` as (H, W) images."""
    out = {}
    for r in range(len(ids)):
        layer, (id_ch, cov_ch) = f"{type_name}{r // 2:02d}", (("R", "G"), ("B", "A"))[r % 2]
        out[f"{layer}.{id_ch}"] = ids[r].view(np.float32).reshape(shape)
        out[f"{layer}.{cov_ch}"] = coverages[r].reshape(shape)
    if len(ids) % 2:  # an odd rank count still fills the last layer's B/A
        layer = f"{type_name}{len(ids) // 2:02d}"
        out[f"{layer}.B"] = np.zeros(shape, np.float32)
        out[f"{layer}.A"] = np.zeros(shape, np.float32)
    return out


__all__ = ["HASH", "CONVERSION", "DEFAULT_RANKS", "name_hash", "name_id", "type_key", "manifest",
           "metadata", "normalize", "rank", "tile_ranks", "channels"]
