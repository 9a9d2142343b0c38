"""The label sets a part map can use: one table of ids and snake_case part names each.

CIHP is the multi-person set of M2FP and the default. ``matte`` turns any plain matte into
one region per person: every non-zero pixel is the part ``matte``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class LabelSet:
    name: str
    parts: tuple[str, ...]  # index = label id; parts[0] is the background
    description: str

    def part_name(self, label_id: int) -> str:
        return self.parts[label_id]

    def part_id(self, name: str) -> int:
        try:
            return self.parts.index(name)
        except ValueError:
            raise InputError(
                f"unknown part {name!r} in label set {self.name!r}; known: {', '.join(self.parts[1:])}"
            ) from None

    @property
    def n_labels(self) -> int:
        return len(self.parts)


_CIHP = ("background", "hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat",
         "socks", "pants", "torso_skin", "scarf", "skirt", "face", "left_arm", "right_arm",
         "left_leg", "right_leg", "left_shoe", "right_shoe")

LABEL_SETS: dict[str, LabelSet] = {
    ls.name: ls
    for ls in (
        LabelSet("cihp", _CIHP, "CIHP, 20 labels: the M2FP multi-person model's ids"),
        # LIP shares CIHP's ids except id 10, which is jumpsuits instead of torso skin.
        LabelSet("lip", _CIHP[:10] + ("jumpsuits",) + _CIHP[11:], "LIP, 20 labels (single person)"),
        LabelSet("atr", ("background", "hat", "hair", "sunglasses", "upper_clothes", "skirt", "pants",
                         "dress", "belt", "left_shoe", "right_shoe", "face", "left_leg", "right_leg",
                         "left_arm", "right_arm", "bag", "scarf"), "ATR, 18 labels"),
        LabelSet("pascal", ("background", "head", "torso", "upper_arms", "lower_arms", "upper_legs",
                            "lower_legs"), "Pascal-Person-Part, 7 labels"),
        LabelSet("matte", ("background", "matte"), "any non-zero pixel is one region"),
    )
}


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise InputError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}") from None


def display_palette() -> list[int]:
    """A fixed colour per label id (768 ints, PIL palette form) for label maps people look at."""
    rng = np.random.default_rng(7)
    colours = rng.integers(40, 255, size=(256, 3))
    colours[0] = 0
    return colours.astype(np.uint8).ravel().tolist()
