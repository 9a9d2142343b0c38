"""The original service's answers, made from one :class:`~m2fp_roto.parsing.Parsing`.

``POST /api/parse`` answers ``{"status": "success", "masks": {part: base64 PNG},
"colored_result": base64 PNG}`` as the service this grew from did, so existing clients keep
working, plus what it lacked: per-person masks, the label and person maps themselves, the
size, the label set and timings. ``POST /predict`` answers the coloured part map as a JPEG.

Colours are :func:`m2fp_roto.labelsets.display_palette` (the colours of every label map the
tool writes), one per part id: the coloured map is exactly ``palette[label_map]``.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from ..labelsets import display_palette, get_label_set


def palette_rgb() -> np.ndarray:
    """(256, 3) uint8: the colour of each label id."""
    return np.array(display_palette(), np.uint8).reshape(-1, 3)


def colour_map(parts: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: each pixel the palette colour of its part id."""
    return palette_rgb()[parts]


def png_bytes(array: np.ndarray, palette: bool = False) -> bytes:
    """PNG of a uint8 (H, W) or (H, W, 3) array; ``palette`` stores (H, W) ids with the display
    palette, so viewers show colours and readers get the ids back."""
    from PIL import Image

    array = np.ascontiguousarray(array, np.uint8)
    if palette:
        img = Image.frombytes("P", array.shape[::-1], array.tobytes())
        img.putpalette(display_palette())
    else:
        img = Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def b64_png(array: np.ndarray, palette: bool = False) -> str:
    return base64.b64encode(png_bytes(array, palette)).decode("ascii")


def mask_png(mask: np.ndarray) -> str:
    """A boolean mask as a base64 8-bit PNG, 255 inside and 0 outside (the original format)."""
    return b64_png(mask.astype(np.uint8) * 255)


def parse_payload(parsing) -> dict:
    """The ``/api/parse`` answer (without timings) for one parsed image."""
    ls = get_label_set(parsing.label_set)
    parts, people = parsing.parts, parsing.people
    present = [int(k) for k in np.unique(parts) if k != 0]
    masks = {ls.part_name(k): mask_png(parts == k) for k in present}
    persons = []
    for pid in parsing.person_ids:
        own = people == pid
        ids = [int(k) for k in np.unique(parts[own]) if k != 0]
        persons.append({"id": pid, "score": round(float(parsing.scores.get(pid, 1.0)), 4), "mask": mask_png(own),
                        "parts": {ls.part_name(k): mask_png(own & (parts == k)) for k in ids}})
    height, width = parsing.shape
    return {
        "status": "success",
        "masks": masks,
        "colored_result": b64_png(colour_map(parts)),
        "people": persons,
        "label_map": b64_png(parts.astype(np.uint8), palette=True),
        "person_map": b64_png(np.clip(people, 0, 255).astype(np.uint8)),
        "width": width,
        "height": height,
        "label_set": ls.name,
        "parts": list(ls.parts),
    }


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
