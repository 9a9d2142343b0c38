"""Frame sequences on disk: every common spelling, frame ranges, missing-frame checks.

Spellings: ``shot.####.exr`` (Nuke style, one ``#`` per digit), ``shot.%04d.exr``,
``shot.@@@@.exr``, ``shot.1001-1100#.exr``, a folder holding one numbered sequence, or a
single file. Frame numbers are the files' own numbers, never 0-based indices.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import fileseq

from ..errors import InputError

log = logging.getLogger("m2fp_roto")

#: Frame rate when neither the files nor the user say otherwise.
DEFAULT_FPS = 24.0

PADDING = re.compile(r"#+|@+|%0?\d*d|\$F\d*|<UDIM>")  # frame tokens in a file name

#: The most frames one range may name (about 11 hours at 24 fps); more is a typing slip.
MAX_FRAMES = 1_000_000


def parse_frames(text: str | None) -> list[int] | None:
    """``"1001-1100"``, ``"1001-1100x2"``, ``"1001,1005-1010"`` -> sorted frame numbers.

    A step may also be written ``1001-1100:2`` (Open Job Description's range expressions, which
    farm jobs pass on), not fileseq's "staggered" meaning of ``:``.
    """
    if text is None or str(text).strip() == "":
        return None
    text = re.sub(r"(\d)\s*:\s*(\d)", r"\1x\2", str(text))
    try:
        frames = fileseq.FrameSet(text.replace(" ", ""))
    except fileseq.MaxSizeException:
        frames = None
    except (fileseq.ParseException, ValueError, TypeError):
        raise InputError(f"cannot read the frame range {text!r} (examples: 1001-1100, 1-50x2, 1001,1010)") from None
    if frames is None or len(frames) > MAX_FRAMES:
        raise InputError(f"the frame range {text!r} names more than {MAX_FRAMES:,} frames")
    return sorted(set(frames))


def format_frames(frames) -> str:
    """Compact form of a frame list, e.g. ``1001-1003,1007``."""
    return str(fileseq.FrameSet(sorted(frames))) if frames else "none"


def hash_pattern(frame_file) -> str:
    """``/shots/a.1001.exr`` -> ``/shots/a.####.exr``: a sequence as artists write it (one
    ``#`` per digit, as in Nuke), without fileseq's frame range. Takes a frame's file or a
    ``fileseq.FileSequence`` (which also knows names that are only a number, ``00042.png``)."""
    seq = frame_file if isinstance(frame_file, fileseq.FileSequence) else fileseq.FileSequence(str(frame_file))
    return f"{seq.dirname()}{seq.basename()}{'#' * max(seq.zfill(), 1)}{seq.extension()}"


def file_frame(path) -> int | None:
    """The frame number in a file name such as ``shot.1003.png`` or ``00042.png`` (None when it
    has none: ``still.png``, ``IMG_0042.jpg``)."""
    name = Path(str(path)).name
    if name.count(".") == 1 and name.split(".")[0].isdigit():
        return int(name.split(".")[0])
    try:
        frames = fileseq.FileSequence(str(path), pad_style=fileseq.PAD_STYLE_HASH1).frameSet()
    except fileseq.FileSeqException:
        return None
    return int(frames[0]) if frames is not None and len(frames) == 1 else None


@dataclass
class FrameSequence:
    """Numbered files of one sequence: frame number -> path, in frame order."""

    pattern: str
    paths: dict[int, Path]

    @property
    def frames(self) -> list[int]:
        return list(self.paths)

    def path(self, frame: int) -> Path:
        try:
            return self.paths[frame]
        except KeyError:
            raise InputError(f"frame {frame} is not in {self.pattern}") from None

    def __len__(self):
        return len(self.paths)


def find_sequence(pattern, frames: str | list[int] | None = None, *, skip_missing: bool = False,
                  what: str = "frames", first_frame: int | None = None) -> FrameSequence:
    """Resolve ``pattern`` to the numbered files on disk.

    A frame inside the requested range (or a gap inside the files on disk) that has no file is
    an error naming the missing frames, unless ``skip_missing`` is set, which drops them with a
    warning. A single file is ``first_frame`` if given, else the frame its name carries
    (``shot.1003.png`` is 1003), else the one frame ``frames`` names, else 1; ``first_frame``
    renumbers a single file only. The result's ``pattern`` is the sequence as the user wrote it
    (a folder, or a pattern with a frame range in it: as artists write it, ``dir/shot.####.png``).
    """
    text = str(pattern)
    wanted = parse_frames(frames) if not isinstance(frames, list) else sorted(frames)
    path = Path(text).expanduser()
    if path.is_dir():
        seqs = [s for s in fileseq.findSequencesOnDisk(str(path)) if s.frameSet()]
        if not seqs:
            raise InputError(f"the folder {path} holds no numbered {what}")
        if len(seqs) > 1:
            names = ", ".join(Path(hash_pattern(s)).name for s in seqs[:5])
            raise InputError(f"the folder {path} holds several sequences ({names}); give one as a pattern")
        seq = seqs[0]
    elif not PADDING.search(path.name) and not re.search(r"\d+-\d+", path.name):
        return _single_file(path, wanted, what, first_frame)
    else:
        try:
            seq = fileseq.findSequenceOnDisk(str(path), pad_style=fileseq.PAD_STYLE_HASH1)
        except fileseq.FileSeqException:
            raise InputError(f"{what}: no files match {path}") from None
    if first_frame is not None:
        raise InputError(f"--first-frame renumbers a single image or a movie; the sequence {text} keeps its "
                         "own frame numbers")
    on_disk = {int(f): Path(seq.frame(f)) for f in seq.frameSet()}
    spelled = hash_pattern(seq)
    if not path.is_dir():
        embedded = fileseq.FileSequence(str(path), pad_style=fileseq.PAD_STYLE_HASH1).frameSet()
        if embedded:  # a range in the pattern (shot.1001-1100#.exr) limits it
            wanted = wanted if wanted is not None else sorted(set(embedded))
        else:
            spelled = text
    if wanted is None:
        wanted = list(range(min(on_disk), max(on_disk) + 1))
    missing = [f for f in wanted if f not in on_disk]
    if missing:
        message = f"{what}: missing frame(s) {format_frames(missing)} of {spelled}"
        if not skip_missing:
            raise InputError(message + " (--skip-missing to go on without them)")
        log.warning(message + "; skipped")
    paths = {f: on_disk[f] for f in wanted if f in on_disk}
    if not paths:
        raise InputError(f"{what}: none of the frames {format_frames(wanted)} exist in {spelled} "
                         f"(frames {format_frames(on_disk)})")
    return FrameSequence(spelled, paths)


def _single_file(path: Path, wanted, what: str, first_frame) -> FrameSequence:
    if not path.is_file():
        raise InputError(f"{what}: no file {path}")
    frame = int(first_frame) if first_frame is not None else file_frame(path)
    if frame is None:
        frame = 1
    if wanted is not None and frame not in wanted:
        if len(wanted) != 1 or first_frame is not None:
            raise InputError(f"{what}: {path.name} is frame {frame}, which --frames {format_frames(wanted)} "
                             "leaves out")
        frame = wanted[0]  # one frame asked of one file (a still in Nuke, a person map): that frame
    return FrameSequence(str(path), {frame: path})


def frame_path(pattern, frame: int) -> Path:
    """The output path of ``frame`` in ``pattern`` (``####``/``@``: one digit each, ``%04d``).

    A pattern without padding gets ``.####`` before its extension, so a sequence never
    overwrites one file.

    >>> str(frame_path("qc/shot.####.png", 1001)), str(frame_path("m.%05d.exr", 7))
    ('qc/shot.1001.png', 'm.00007.exr')
    """
    text = str(pattern)
    match = PADDING.search(Path(text).name)
    if match is None:
        p = Path(text)
        return p.with_name(f"{p.stem}.{frame:04d}{p.suffix}")
    token = match.group(0)
    if token.startswith("%"):
        digits = int(token[1:-1] or 1)
    elif token.startswith("$F"):
        digits = int(token[2:] or 1)
    else:
        digits = len(token)
    name = Path(text).name
    start = match.start()
    return Path(text).with_name(name[:start] + f"{frame:0{digits}d}" + name[match.end():])
