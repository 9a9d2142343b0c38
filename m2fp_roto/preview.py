"""QC previews: the shapes drawn over the plate or the coloured label map, one image per frame."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .bezier import flatten
from .errors import InputError
from .labelsets import LabelSet, display_palette, get_label_set
from .progress import Progress
from .qc import frame_findings
from .sources.frames import PADDING, find_sequence, format_frames, frame_path, parse_frames
from .sources.labelmaps import read_index_image

OUTER, HOLE, ANCHOR, HANDLE = (60, 255, 60), (255, 80, 200), (255, 255, 0), (120, 200, 255)
CROSSING, OFF_PERSON, OFF_PART = (255, 40, 40), (255, 160, 0), (180, 100, 255)
QC_GREY, QC_TEXT = (170, 170, 170), (255, 255, 255)
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


def output_pattern(output, name: str = "preview") -> Path:
    """Where the previews go: a folder (one that exists, or any path ending in ``/``) gets
    ``name.####.png`` inside it; a pattern without an extension gets ``.png``; an extension
    that is not an image format (PNG, JPEG, TIFF) is an error."""
    text = os.fspath(output)
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir():
        return path / f"{name}.####.png"
    suffix = Path(PADDING.sub("", path.name)).suffix.lower()
    if not suffix:
        return path.with_name(path.name + ".png")
    if suffix not in FORMATS:
        raise InputError(f"previews are PNG, JPEG or TIFF images; {path.name!r} is not (e.g. qc/shot.####.png)")
    return path


def _background(doc, frame, sequence, label_set: LabelSet):
    """What the shapes are drawn over: a palette label map in its colours, a grey one whose
    values are ids of ``label_set`` in the display palette (both dimmed), any other image as it
    is, and grey where there is no file."""
    from PIL import Image

    if sequence is None or frame not in sequence.paths:
        return np.full((doc.height, doc.width, 3), 48, np.uint8)
    path = sequence.path(frame)
    try:
        with Image.open(path) as img:
            if img.size != (doc.width, doc.height):
                raise InputError(f"preview background {path} is {img.size[0]}x{img.size[1]}, but the document "
                                 f"is {doc.width}x{doc.height}")
            if img.mode == "P":  # a label map: show its palette colours, dimmed
                return (np.asarray(img.convert("RGB")) * 0.6).astype(np.uint8)
            if img.mode in ("L", "I", "I;16"):
                ids = read_index_image(path)
                if ids.min() >= 0 and ids.max() < label_set.n_labels:
                    colours = np.array(display_palette(), np.uint8).reshape(-1, 3)
                    return (colours[ids] * 0.6).astype(np.uint8)
            return np.asarray(img.convert("RGB")).copy()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read the preview background {path}: {exc}") from None


def _person_map(doc, frame: int, sequence) -> np.ndarray | None:
    """The person map of ``frame`` (ids), None where there is none."""
    if sequence is None or frame not in sequence.paths:
        return None
    ids = read_index_image(sequence.path(frame))
    if ids.shape != (doc.height, doc.width):
        raise InputError(f"person map {sequence.path(frame)} is {ids.shape[1]}x{ids.shape[0]}, but the document "
                         f"is {doc.width}x{doc.height}")
    return ids


def _maps(pattern, frames, what: str):
    """The sequence of ``pattern`` (one image, its own frame number, or a sequence covering
    ``frames``; frames without a file are skipped), None without a pattern."""
    if not pattern:
        return None
    single = Path(os.fspath(pattern)).expanduser().is_file()
    return find_sequence(pattern, None if single else frames, skip_missing=True, what=what)


def _label_maps(doc, label_maps, labels: LabelSet, frames):
    """The shot's label maps for the QC, read as ``export --labels`` reads them (ids checked
    against the label set, mattes thresholded), on the frames that have one."""
    from .sources.labelmaps import LabelMapSource

    present = _maps(label_maps, frames, "label map").paths
    source = LabelMapSource(label_maps, label_set=labels.name, frames=[f for f in frames if f in present])
    if (source.width, source.height) != (doc.width, doc.height):
        raise InputError(f"label maps {label_maps} are {source.width}x{source.height}, but the document is "
                         f"{doc.width}x{doc.height}")
    return source


def draw_frame(doc, frame: int, background: np.ndarray, indices: bool = True, findings=None) -> np.ndarray:
    """Outlines, anchors (with their index) and tangent handles of every shape drawn at ``frame``.

    ``findings`` (:func:`m2fp_roto.qc.frame_findings`): marked too - a crossing outline in red
    with its crossing segments thick, a shape on other people in orange, one that misses its
    part's region in violet, a hidden shape's outline dotted in grey, where a shape starts or
    ends its name beside it, and every finding listed in the top-left corner.
    """
    import cv2

    img = np.ascontiguousarray(background[..., ::-1])  # OpenCV draws BGR
    s = 16.0  # fixed-point sub-pixel drawing (shift=4)

    def fx(xy):
        return np.round((np.asarray(xy) - 0.5) * s).astype(np.int32)

    marks: dict = {}
    for f in findings or ():
        marks.setdefault(f.shape, {})[f.kind] = f
    for shape in doc.shapes_at(frame):
        pts = shape.points_at(frame)
        mark = marks.get(shape.name, {})
        colour = (CROSSING if "crosses" in mark else OFF_PERSON if "off-person" in mark
                  else OFF_PART if "off-part" in mark else HOLE if shape.hole else OUTER)
        cv2.polylines(img, [fx(flatten(pts))], True, colour[::-1], 1, cv2.LINE_AA, shift=4)
        for i, j in mark["crosses"].segments if "crosses" in mark else ():
            for k in {i, j}:
                segment = np.stack([pts[k], pts[(k + 1) % len(pts)]])
                cv2.polylines(img, [fx(flatten(segment)[:-1])], False, CROSSING[::-1], 3, cv2.LINE_AA, shift=4)
        for i, p in enumerate(pts):
            a = fx(p[:2])
            for h in (p[2:4], p[4:6]):
                if h.any():
                    cv2.line(img, tuple(a), tuple(fx(p[:2] + h)), HANDLE[::-1], 1, cv2.LINE_AA, shift=4)
            cv2.circle(img, tuple(a), 2 * 16, ANCHOR[::-1], -1, cv2.LINE_AA, shift=4)
            if indices:
                cv2.putText(img, str(i), (int(p[0]) + 3, int(p[1]) - 3), cv2.FONT_HERSHEY_PLAIN, 0.7,
                            (255, 255, 255), 1, cv2.LINE_AA)
    if findings:
        _mark_lifetimes(img, doc, frame, marks, fx)
        _list_findings(img, findings)
    return img[..., ::-1]


def _mark_lifetimes(img, doc, frame: int, marks: dict, fx) -> None:
    """Hidden shapes dotted in grey; the names of shapes that start or end here beside them."""
    import cv2

    for shape in doc.shapes:
        mark = marks.get(shape.name, {})
        if not mark.keys() & {"hidden", "starts", "ends"}:
            continue
        outline = flatten(shape.points_at(frame))
        if "hidden" in mark:
            for a, b in zip(outline[::4], np.roll(outline, -2, axis=0)[::4]):
                cv2.line(img, tuple(fx(a)), tuple(fx(b)), QC_GREY[::-1], 1, cv2.LINE_AA, shift=4)
        for kind in ("starts", "ends"):
            if kind in mark:
                x, y = outline.mean(0)
                cv2.putText(img, f"{shape.name} {kind}", (int(x), int(y)), cv2.FONT_HERSHEY_PLAIN, 0.8,
                            QC_TEXT[::-1], 1, cv2.LINE_AA)


def _list_findings(img, findings, most: int = 12) -> None:
    """The findings as lines of text on a dark box in the top-left corner."""
    import cv2

    lines = [str(f) for f in findings[:most]] + ([f"+{len(findings) - most} more"] if len(findings) > most else [])
    width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_PLAIN, 1.0, 1)[0][0] for t in lines)
    img[4:10 + 14 * len(lines), 4:12 + width] //= 3
    for i, text in enumerate(lines):
        cv2.putText(img, text, (8, 18 + 14 * i), cv2.FONT_HERSHEY_PLAIN, 1.0, QC_TEXT[::-1], 1, cv2.LINE_AA)


def write_previews(doc, output, over=None, label_set=None, frames=None, indices=True,
                   progress: bool = False, qc: list | None = None, people=None, label_maps=None) -> list[Path]:
    """Write one image per frame to the ``output`` pattern (see :func:`output_pattern`); returns
    the paths.

    ``over``: a sequence to draw on (label maps or pictures); ``label_set``: the label set of
    grey label maps among them (default: the document's). ``frames`` must lie in the
    document's range. ``progress``: report each image (``PROGRESS n% preview``).
    ``qc``: a list to fill with every frame's findings (:mod:`m2fp_roto.qc`), which are then
    drawn too; ``people``: person maps (a pattern) that tell shapes lying on other people;
    ``label_maps``: the shot's label maps (a pattern, ids of ``label_set``) that tell shapes
    that miss their part's region.
    """
    from PIL import Image

    output = output_pattern(output)
    wanted = parse_frames(frames) if isinstance(frames, str) else frames
    outside = [f for f in wanted or () if f not in doc.frames]
    if outside:
        raise InputError(f"frame(s) {format_frames(outside)} are outside the document's range "
                         f"{doc.first_frame}-{doc.last_frame}")
    frames = [f for f in doc.frames if wanted is None or f in wanted]
    sequence = _maps(over, frames, "preview background")
    person_maps = _maps(people, frames, "person map")
    labels = get_label_set(label_set or doc.label_set)
    parses = _label_maps(doc, label_maps, labels, frames) if label_maps else None
    image_format = FORMATS[Path(PADDING.sub("", output.name)).suffix.lower()]
    written = []
    with Progress(len(frames), "preview", enabled=progress) as bar:
        for frame in frames:
            findings = None
            if qc is not None:
                parts = parses.parse(frame).parts if parses is not None and frame in parses.frames else None
                findings = frame_findings(doc, frame, _person_map(doc, frame, person_maps), parts, labels.name)
                qc += findings
            img = draw_frame(doc, frame, _background(doc, frame, sequence, labels), indices, findings)
            path = frame_path(output, frame)
            with atomic_path(path) as tmp:
                Image.fromarray(img).save(tmp, format=image_format)
            written.append(path)
            bar.advance()
    return written
