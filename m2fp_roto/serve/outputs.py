"""The files a roto job hands back, all written into its ``out/`` folder.

==================  ===========================================================================
``shot.json``        the RotoDocument (always; the page draws the shapes from it)
``shot_roto.nk``     Nuke Roto nodes; ``shot_masks.jsx`` After Effects masks (the CLI's targets)
``mattes.zip``       the matte EXR sequence (one file per frame, Cryptomatte included)
``masks.zip``        per frame: the parser's label map and person map (``labels/``, ``people/``
                     palette/grey PNGs that ``m2fp-roto export --labels`` reads back) and one
                     0/255 PNG per person and part (``masks/p1_hair/p1_hair.1001.png``), indexed
                     by ``masks.json`` (also served on its own)
``previews.zip``     QC previews: outlines, anchors and handles over the picture, with what to
                     check marked (``preview --qc``)
``parts.F.png``      the coloured part map of frame F, and ``picture.F.jpg`` the picture, both
                     at most 1600 px wide, for the page
==================  ===========================================================================

Person numbers in ``masks.zip`` are the parser's, frame by frame; the roto shapes' ``p{N}``
keep one number per person over the whole shot (tracked).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from .. import exporters
from ..atomic import atomic_path, atomic_write_bytes, atomic_write_text
from ..labelsets import get_label_set
from ..progress import Progress
from .parse_api import colour_map, jpeg_bytes, palette_rgb, png_bytes

TARGET_FILES = {"json": "shot.json", "nuke": "shot_roto.nk", "ae": "shot_masks.jsx", "exr": "mattes.zip"}
DISPLAY = 1600  # longest side of the page's pictures and part maps
ZIP_NAMES = {"masks": "masks.zip", "previews": "previews.zip"}


def _describe(path: Path, label: str) -> dict:
    return {"name": path.name, "size": path.stat().st_size, "label": label}


def zip_folder(folder: Path, dest: Path) -> Path:
    """Zip every file under ``folder`` (names relative to it) into ``dest``, atomically.
    Members are stored, not deflated: PNG and EXR are compressed already."""
    with atomic_path(dest) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(folder).as_posix())
    return dest


def target_file(name: str) -> str:
    if name in TARGET_FILES:
        return TARGET_FILES[name]
    suffix = (getattr(exporters.load_exporter(name), "SUFFIXES", ()) or (".out",))[0]
    return f"shot_{name}{suffix}"


def write_targets(doc, targets: list[str], target_options: dict, folder, sink) -> list[dict]:
    """Write ``doc`` (already selected) with every target; returns the out/ files written.

    ``shot.json`` is always written. A target that writes several files (the EXR sequence)
    is zipped into one download.
    """
    order = list(TARGET_FILES)  # the document first, then Nuke, AE, EXR, then plug-in targets
    names = sorted({"json", *targets}, key=lambda t: (order.index(t) if t in order else len(order), t))
    per = max(len(doc.frames), 1)
    files = []
    with Progress(len(names) * per, "export", stream=sink) as bar:
        for i, name in enumerate(names):
            work = folder.work / "targets" / name
            out_name = target_file(name)
            pattern = work / "shot.####.exr" if name == "exr" else work / out_name

            def report(done, total, base=i * per):
                bar.advance(base + done * per // max(total, 1) - bar.done)

            written = exporters.write(doc, pattern, name, target_options.get(name) or {}, progress=report)
            if len(written) == 1 and not out_name.endswith(".zip"):
                dest = folder.out / out_name
                shutil.move(str(written[0]), dest)
            else:
                dest = zip_folder(work, folder.out / (out_name if out_name.endswith(".zip") else f"{name}.zip"))
            files.append(_describe(dest, {"json": "RotoDocument (JSON)", "nuke": "Nuke script",
                                          "ae": "After Effects script", "exr": "Matte EXRs + Cryptomatte"}
                                   .get(name, f"{name} target")))
            bar.advance((i + 1) * per - bar.done)
    return files


class FrameOutputs:
    """Per frame: masks (parser's maps and per-part PNGs), the page's part map and picture,
    and a QC preview; :meth:`finish` zips them and writes ``masks.json``."""

    def __init__(self, folder, doc, source, pictures: bool):
        self.folder, self.doc, self.source, self.pictures = folder, doc, source, pictures
        self.label_set = get_label_set(source.label_set.name)
        self.masks_dir = folder.work / "masks"
        self.previews_dir = folder.work / "previews"
        self.index: list[dict] = []
        self.qc = Counter()  # shape-frames of each kind the previews mark (m2fp_roto.qc)
        scale = min(1.0, DISPLAY / max(source.width, source.height))
        self.display = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
        self.page = {"parts": "parts.{frame}.png", "picture": "picture.{frame}.jpg" if pictures else None,
                     "width": self.display[0], "height": self.display[1]}

    def add(self, frame: int) -> None:
        import cv2

        from ..preview import draw_frame
        from ..qc import frame_findings, tally

        parsing = self.source.parse(frame)
        parts, people = parsing.parts, parsing.people
        self._masks(frame, parts, people)
        colours = colour_map(parts)
        small = cv2.resize(colours, self.display, interpolation=cv2.INTER_NEAREST)
        atomic_write_bytes(self.folder.out / f"parts.{frame}.png", png_bytes(small))
        if self.pictures:
            rgb = self.source.reader.read(frame)
            picture = cv2.resize(rgb, self.display, interpolation=cv2.INTER_AREA)
            atomic_write_bytes(self.folder.out / f"picture.{frame}.jpg", jpeg_bytes(picture, 90))
        else:
            rgb = (colours * 0.6).astype(np.uint8)
        findings = frame_findings(self.doc, frame, people, parts, self.label_set.name)
        self.qc += tally(findings)
        preview = draw_frame(self.doc, frame, rgb, indices=True, findings=findings)
        atomic_write_bytes(self.previews_dir / f"shot.{frame:04d}.png", png_bytes(preview))

    def _masks(self, frame: int, parts: np.ndarray, people: np.ndarray) -> None:
        d = self.masks_dir
        atomic_write_bytes(d / "labels" / f"shot.{frame:04d}.png", png_bytes(parts.astype(np.uint8), palette=True))
        atomic_write_bytes(d / "people" / f"shot.{frame:04d}.png",
                           png_bytes(np.clip(people, 0, 255).astype(np.uint8)))
        key = people.astype(np.int64) * 256 + parts
        for k in np.unique(key[parts != 0]):
            person, part_id = divmod(int(k), 256)
            if not person:
                continue
            mask = key == k
            name = f"p{person}_{self.label_set.part_name(part_id)}"
            rel = f"masks/{name}/{name}.{frame:04d}.png"
            atomic_write_bytes(d / rel, png_bytes(mask.astype(np.uint8) * 255))
            ys, xs = np.nonzero(mask)
            self.index.append({"frame": frame, "person": person, "part": self.label_set.part_name(part_id),
                               "file": rel, "area": int(mask.sum()),
                               "bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]})

    def finish(self) -> list[dict]:
        palette = palette_rgb()
        index = {"width": self.source.width, "height": self.source.height, "label_set": self.label_set.name,
                 "parts": list(self.label_set.parts),
                 "colours": {name: palette[i].tolist() for i, name in enumerate(self.label_set.parts)},
                 "frames": list(self.source.frames), "label_maps": "labels/shot.####.png",
                 "person_maps": "people/shot.####.png",
                 "note": "person numbers are the parser's on each frame; the roto shapes (shot.json) keep "
                         "one tracked number per person over the shot",
                 "masks": self.index}
        text = json.dumps(index, indent=1)
        atomic_write_text(self.masks_dir / "masks.json", text)
        atomic_write_text(self.folder.out / "masks.json", text)
        files = [_describe(zip_folder(self.masks_dir, self.folder.out / ZIP_NAMES["masks"]),
                           "Masks (PNG + JSON) and label maps"),
                 _describe(self.folder.out / "masks.json", "Mask index (JSON)"),
                 _describe(zip_folder(self.previews_dir, self.folder.out / ZIP_NAMES["previews"]), "QC previews")]
        return files


def clean_work(folder) -> None:
    """Remove what a finished job no longer needs (its input, cache and unzipped files)."""
    for path in (folder.input, folder.work):
        shutil.rmtree(path, ignore_errors=True)
