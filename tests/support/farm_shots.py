"""Shots for the cluster and farm tests, and a parse cache that counts its writes.

Dask workers unpickle what the tests send them by importing it, so these live in an importable
module rather than in a test file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from m2fp_roto.sources.parse_cache import ParseCache

CIHP_PHOTO = "0000006.jpg"  # two people, many parts


def write_pan(root: Path, cihp: Path, frames, *, scale: int = 1, step: int = 5, plate=True, labels=True) -> Path:
    """A shot panning right over one real CIHP photo: the plate (PNG) and its real label and
    person maps, ``step`` px further right on each frame (``scale``: shrink by this factor)."""
    stem = Path(CIHP_PHOTO).stem
    images = {"plate": (cihp / "Images" / CIHP_PHOTO, "RGB", Image.BILINEAR, "shot"),
              "labels": (cihp / "Category_ids" / f"{stem}.png", None, Image.NEAREST, "parts"),
              "people": (cihp / "Human_ids" / f"{stem}.png", None, Image.NEAREST, "people")}
    for sub, (path, mode, resample, name) in images.items():
        if (sub == "plate" and not plate) or (sub != "plate" and not labels):
            continue
        img = Image.open(path)
        img = img.convert(mode) if mode else img
        if scale > 1:
            img = img.resize((img.size[0] // scale, img.size[1] // scale), resample)
        arr = np.asarray(img)
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            Image.fromarray(np.roll(arr, step * i, axis=1)).save(root / sub / f"{name}.{f}.png")
    return root


class CountingCache(ParseCache):
    """The same cache, also appending every frame it writes to ``log`` (one short O_APPEND
    write per frame, so writes from several worker processes add up)."""

    def __init__(self, cache: ParseCache, log: Path):
        self.__dict__.update(cache.__dict__)
        self.log = Path(log)

    def put(self, parsing):
        path = super().put(parsing)
        with open(self.log, "a") as fh:
            fh.write(f"{parsing.frame}\n")
        return path

    def writes(self) -> list[int]:
        return [int(line) for line in self.log.read_text().split()] if self.log.exists() else []
