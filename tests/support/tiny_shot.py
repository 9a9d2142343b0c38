"""A small shot for command-line tests: the demo's two walking figures at a fifth of their size.

Big enough that tracking runs in worker processes (more than 200 track-frames), small enough
that a whole export (vectorize, track, write) takes a few seconds.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from m2fp_roto.cli.demo import render_frame
from m2fp_roto.labelsets import display_palette

FIRST = 1001
SCALE = 4


def write_shot(folder, n: int = 30, first: int = FIRST) -> tuple[str, str]:
    """Palette label maps and grey person maps ``labels/shot.####.png``, ``people/shot.####.png``."""
    folder = Path(folder)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "people").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        parts, people = render_frame(i, n)
        parts, people = parts[::SCALE, ::SCALE], people[::SCALE, ::SCALE]
        img = Image.fromarray(np.ascontiguousarray(parts), mode="P")
        img.putpalette(display_palette())
        img.save(folder / "labels" / f"shot.{first + i:04d}.png")
        Image.fromarray(np.ascontiguousarray(people), mode="L").save(folder / "people" / f"shot.{first + i:04d}.png")
    return str(folder / "labels" / "shot.####.png"), str(folder / "people" / "shot.####.png")
