"""A synthetic shot that ships with the tool: two walking figures drawn as CIHP label maps.

Everything here is generated (no photographs, no model output): capsules and ellipses for the
body parts of two people who walk across a 960x540 frame with swinging arms and legs. It lets
a fresh install run the whole job - vectorize, track, export - with nothing else on disk.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..labelsets import display_palette, get_label_set
from ..sources.frames import frame_path

WIDTH, HEIGHT, FIRST = 960, 540, 1001


def _capsule(img, a, b, radius, value):
    import cv2

    a = tuple(int(round(v * 4)) for v in a)
    b = tuple(int(round(v * 4)) for v in b)
    cv2.line(img, a, b, value, thickness=max(1, int(round(radius * 2))), lineType=cv2.LINE_8, shift=2)


def _figure(parts, people, person: int, x: float, phase: float, scale: float, zoom: float = 1.0):
    """Draw one figure whose hips are at ``x``; ``phase`` drives the walk cycle; ``zoom``
    scales the whole drawing (frame coordinates and sizes) for a larger frame."""
    import cv2

    ids = get_label_set("cihp").parts.index
    hip = zoom * np.array([x, 300.0 - 60.0 * (1.6 - scale)])
    scale = zoom * scale
    swing = 0.45 * math.sin(phase)
    layer = np.zeros_like(parts)

    def limb(root, angle, length, radius, part):
        end = root + length * np.array([math.sin(angle), math.cos(angle)])
        _capsule(layer, root, end, radius, ids(part))
        return end

    s = scale
    knee_l = limb(hip + [-6 * s, 0], swing, 55 * s, 9 * s, "pants")
    foot_l = limb(knee_l, swing - 0.15, 50 * s, 7 * s, "left_leg")
    knee_r = limb(hip + [6 * s, 0], -swing, 55 * s, 9 * s, "pants")
    foot_r = limb(knee_r, -swing - 0.15, 50 * s, 7 * s, "right_leg")
    for foot, part, d in ((foot_l, "left_shoe", 1), (foot_r, "right_shoe", 1)):
        _capsule(layer, foot, foot + [d * 10 * s, 2 * s], 6 * s, ids(part))
    chest = hip - [0, 70 * s]
    cv2.ellipse(layer, (int(hip[0]), int(hip[1] - 35 * s)), (int(20 * s), int(42 * s)), 0, 0, 360,
                ids("upper_clothes"), -1)
    for side, part in ((-1, "left_arm"), (1, "right_arm")):
        shoulder = chest + [side * 18 * s, 4 * s]
        elbow = limb(shoulder, side * (0.3 + 0.5 * swing), 40 * s, 6 * s, part)
        limb(elbow, side * (0.15 + 0.3 * swing), 36 * s, 5 * s, part)
    head = chest - [0, 22 * s]
    cv2.ellipse(layer, (int(head[0]), int(head[1] - 2 * s)), (int(15 * s), int(17 * s)), 0, 180, 360, ids("hair"), -1)
    cv2.ellipse(layer, (int(head[0]), int(head[1] + 4 * s)), (int(12 * s), int(14 * s)), 0, 0, 360, ids("face"), -1)
    drawn = layer != 0
    parts[drawn] = layer[drawn]
    people[drawn] = person


def render_frame(i: int, n: int, zoom: float = 1.0, people: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(parts, people) label maps of frame index ``i`` of ``n``.

    ``zoom`` draws the same shot on a frame ``zoom`` times larger (2: 1920x1080); ``people``
    (even) repeats the two walkers as a crowd, each extra pair shifted, farther back and out of
    step (benchmarks use it to scale the work, the demo draws the pair once).
    """
    h, w = int(round(HEIGHT * zoom)), int(round(WIDTH * zoom))
    parts = np.zeros((h, w), np.uint8)
    who = np.zeros((h, w), np.uint8)
    t = i / max(n - 1, 1)
    pairs = max(people // 2, 1)
    for j in reversed(range(pairs)):  # the farthest pair first, so nearer people occlude it
        shift, depth = 120.0 * ((j + 1) // 2) * (1 if j % 2 else -1), 0.12 * j
        # the one behind, drawn first
        _figure(parts, who, 2 * j + 2, 780 - 240 * t + shift - 120 * (j > 0), 0.9 + i * 0.35 + 1.3 * j,
                1.2 - depth, zoom)
        _figure(parts, who, 2 * j + 1, 180 + 380 * t + shift, i * 0.4 + 1.3 * j, 1.6 - depth, zoom)
    return parts, who


def write_label_maps(folder, n: int = 24) -> tuple[str, str]:
    """Write the synthetic shot as palette PNG label maps and grey person maps."""
    from PIL import Image

    folder = Path(folder)
    labels, people = folder / "labels" / "shot.####.png", folder / "people" / "shot.####.png"
    for i in range(n):
        parts, who = render_frame(i, n)
        frame = FIRST + i
        img = Image.fromarray(parts, mode="P")
        img.putpalette(display_palette())
        for arr_img, pattern in ((img, labels), (Image.fromarray(who, mode="L"), people)):
            with atomic_path(frame_path(pattern, frame)) as tmp:
                arr_img.save(tmp, format="PNG")
    return str(labels), str(people)


def run_demo(output, n: int = 24):
    """The main job on the synthetic shot; yields one line per step for the CLI to print."""
    from .. import exporters
    from ..pipeline import build_document
    from ..preview import write_previews
    from ..progress import Progress
    from ..qc import summary
    from ..sources.labelmaps import LabelMapSource

    output = Path(output)
    labels, people = write_label_maps(output, n)
    yield f"synthetic label maps: {labels} ({n} frames, 2 people)"
    source = LabelMapSource(labels, people, label_set="cihp")
    doc = build_document(source, track=True, progress=True)
    outputs = {"json": "shot.json", "nuke": "shot_roto.nk", "ae": "shot_masks.jsx", "exr": "mattes/shot.####.exr"}
    for name, rel in outputs.items():
        if name not in exporters.exporter_names():
            continue
        written = exporters.write(doc, output / rel, name, progress=Progress.reporter(name))
        yield f"{name}: {written[0]}" + (f" (+{len(written) - 1} more)" if len(written) > 1 else "")
    findings: list = []  # what the previews mark for a check, counted below
    shots = write_previews(doc, output / "preview" / "shot.####.png", over=labels, progress=True, qc=findings,
                           people=people, label_maps=labels)
    yield f"previews: {shots[0]} (+{len(shots) - 1} more); {summary(findings)}"
    yield f"{len(doc.shapes)} shapes over frames {doc.first_frame}-{doc.last_frame}"
