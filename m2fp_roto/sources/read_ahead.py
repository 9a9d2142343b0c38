"""A plate read one frame ahead, in a thread of its own, while the current frame is parsed.

Decoding a 1080p EXR and its colour transform takes about 0.09 s, nearly a frame's parse at the
10 frames a second a GPU aims at. Decoding and the network both run in C without the GIL
(OpenImageIO, Pillow, PyAV and OpenColorIO; torch's ops), so reading the next frame while the
network works on this one hides the read. Every read goes through the one thread, so a movie's
decoder is never used by two threads at once, and reads happen in the order they were asked for.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np


class ReadAhead:
    """``read(frame, then=next_frame)``: the frame's pixels, and ``next_frame`` starts decoding.

    A read-ahead frame that is never asked for is dropped, and so is its error: a frame that
    cannot be read fails (or is skipped) when it is asked for, as without read-ahead.
    """

    def __init__(self, plate):
        self.plate = plate
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[int, Future] | None = None

    def read(self, frame: int, then: int | None = None) -> np.ndarray:
        ahead, self._next = self._next, None
        current = ahead[1] if ahead and ahead[0] == frame else self._submit(frame)
        if then is not None:
            self._next = (then, self._submit(then))
        return current.result()

    def _submit(self, frame: int) -> Future:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="m2fp-roto read-ahead")
        return self._pool.submit(self.plate.read, frame)

    def __getstate__(self):  # a thread does not travel to another process; it starts there when needed
        return {"plate": self.plate, "_pool": None, "_next": None}
