"""Temporal clean-up of a parse: each pixel's part is the majority over a few frames around it.

A parser's output flickers: a region blinks out for a frame, a speck of another part appears
for a frame, a part is briefly split by a sliver of its neighbour. Tracked as they are, these
become shapes of their own (one-frame fragments an artist would delete by hand). ``Majority``
wraps any parsing source (``LabelMapSource``, ``PlateParsingSource``) and hands out each frame
with every pixel's part replaced by the part it has on most of the ``window`` frames centred
on it (the frame's own part wins ties), so a blink shorter than half the window is gone, and
anything that lasts longer is kept as it is. Edges move by at most what the majority of the
frames agrees on: on fast motion a moving edge is one frame late at worst for a window of 3.

Person ids come from the frame itself where it has a person at the pixel, else from the
nearest frame of the window with the chosen part there: person maps must name people
consistently over a few frames (as ``identify_people`` does over the shot) for the filled
pixels to go to the right person.

This is the ``--temporal-window`` option of ``m2fp-roto export`` (1, the default, is off).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError


class Majority:
    """A parsing source whose frames are the temporal majority of ``source``'s (see the module).

    ``window``: odd number of frames (1: the source unchanged). Frames of the window that the
    source does not have (the ends of the shot, skipped frames) are left out of the vote.
    """

    def __init__(self, source, window: int = 3):
        if window < 1 or window % 2 == 0:
            raise ValueError(f"the temporal window must be an odd number of frames, not {window}")
        self.base, self.window = source, window
        self._cache: dict = {}

    def __getattr__(self, name):  # frames, width, height, fps, label_set ... are the source's
        if name.startswith("_") or name in ("base", "window"):  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.base, name)

    def _raw(self, frame: int):
        if frame not in self._cache:
            if len(self._cache) > 2 * self.window:  # keep the frames nearest the one asked for
                self._cache.pop(max(self._cache, key=lambda f: abs(f - frame)))
            self._cache[frame] = self.base.parse(frame)
        return self._cache[frame]

    def parse(self, frame: int):
        centre = self._raw(frame)
        if self.window == 1:
            return centre
        r = self.window // 2
        have = set(self.base.frames)
        around = [f for f in sorted(range(frame - r, frame + r + 1), key=lambda f: abs(f - frame))
                  if f != frame and f in have]
        others = []
        for f in around:
            try:
                others.append(self._raw(f))
            except InputError:  # a neighbour that cannot be read does not vote (the frame itself may)
                continue
        if not others:
            return centre
        parts, people = majority([centre.parts] + [o.parts for o in others],
                                 [centre.people] + [o.people for o in others])
        return replace(centre, parts=parts, people=people)


def majority(parts: list, people: list) -> tuple[np.ndarray, np.ndarray]:
    """(parts, people) of the first frame after the vote over ``parts`` (frames nearest first).

    Each pixel takes the part most frames give it; the first frame's part wins a tie. Its person
    is the first frame's where that frame has the chosen part, else the nearest frame's that has.
    """
    stack = np.stack(parts)
    votes = np.zeros(stack.shape, np.int32)
    for k in range(len(stack)):
        votes += stack == stack[k:k + 1]  # votes[j] = frames agreeing with frame j's part
    votes[0] = 2 * votes[0] + 1  # the frame's own part wins ties: compare 2 * count (+1 for the first)
    votes[1:] *= 2
    best = np.argmax(votes, axis=0)
    out = np.take_along_axis(stack, best[None], 0)[0]
    who = np.stack(people)
    agree = stack == out[None]
    first = np.argmax(agree, axis=0)  # nearest frame with the chosen part (frame 0 first)
    persons = np.take_along_axis(who, first[None], 0)[0]
    return out.astype(parts[0].dtype), np.where(out > 0, persons, 0).astype(people[0].dtype)
