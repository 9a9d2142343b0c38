"""Movie plates: frames of a movie's first video stream by index, decoded forward with PyAV.

PyAV (FFmpeg inside its wheel) is the ``plates`` extra; it loads when a movie is opened.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .frames import DEFAULT_FPS
from .image_readers import FrameReadError

MOVIE_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".mkv", ".avi", ".webm", ".mxf", ".mpg", ".mpeg",
                              ".gif"})


class MovieDecoder:
    """Frames of a movie's first video stream by 0-based index, decoded forward.

    The container stays open between calls: reading frames in order decodes each one once.
    A jump backwards, or far forward in a constant-rate stream, seeks to the nearest keyframe
    before the target instead of decoding from the start.
    """

    far = 48  # frames ahead beyond which a keyframe seek beats decoding forward

    def __init__(self, path: Path):
        try:
            import av
        except ImportError:
            raise InputError("reading movies needs PyAV: pip install 'm2fp-roto[plates]'") from None
        self.path = path
        try:
            self.container = av.open(str(path))
        except FileNotFoundError:
            raise InputError(f"no movie file {path}") from None
        except av.FFmpegError as exc:
            raise FrameReadError(f"cannot read the movie {path}: {exc}") from None
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"{path} has no video stream")
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self.stream = stream
        self.rate = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or DEFAULT_FPS)
        self.fps = float(self.rate)
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        self.pixel_aspect = float(sar) if sar else 1.0
        self.constant_rate = bool(stream.average_rate and stream.base_rate
                                  and stream.average_rate == stream.base_rate)
        self.start_pts = stream.start_time or 0
        self.count = stream.frames or self._count_packets()
        if self.count <= 0:
            raise FrameReadError(f"the movie {path} has no decodable video frames")
        self._frames = None  # the decode iterator
        self._peek = None    # a frame taken from it but not yet used
        self._next = 0       # index of the frame it yields next
        self._last = None    # (index, decoded frame) of the last frame asked for
        self.decoded = 0     # frames decoded so far (how much work seeking saved)

    def _count_packets(self) -> int:
        n = sum(1 for p in self.container.demux(self.stream) if p.size and p.pts is not None)
        self.container.seek(0, stream=self.stream)
        return n

    def _index_of(self, frame) -> int:
        return int(round((frame.pts - self.start_pts) * self.stream.time_base * self.rate))

    def _restart(self, index: int) -> None:
        import av

        was_at = self._next if self._frames is not None else None
        if index and self.constant_rate:
            target = self.start_pts + int(index / self.rate / self.stream.time_base)
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        else:
            self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
        self._frames = self.container.decode(self.stream)
        self._next = None  # known from the first frame's pts
        try:
            self._peek = next(self._frames)
            self.decoded += 1
        except (StopIteration, av.FFmpegError):
            self._peek = None
        if self._peek is None:
            self._next = 0
            return
        self._next = self._index_of(self._peek) if self.constant_rate else 0
        if self._next > index:  # the seek overshot (no keyframe index): decode from the start
            self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
            self._frames, self._peek, self._next = self.container.decode(self.stream), None, 0
        elif was_at is not None and self._next < was_at <= index:
            # a forward seek landed behind where decoding already was: keyframes are sparse
            # (long GOP), so from now on go forward by decoding
            self.far = float("inf")

    def _advance(self):
        import av

        if self._peek is not None:
            frame, self._peek = self._peek, None
        else:
            try:
                frame = next(self._frames)
                self.decoded += 1
            except StopIteration:
                frame = None
            except av.FFmpegError as exc:
                raise FrameReadError(f"cannot decode frame {self._next} of {self.path}: {exc}") from None
        if frame is None:
            raise FrameReadError(f"{self.path} ended after {self._next} frames (its header says {self.count})")
        self._next += 1
        return frame

    def rgb(self, index: int) -> np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1].to_ndarray(format="rgb24")  # a new array: callers may write to theirs
        if self._frames is None or index < self._next or index - self._next > self.far:
            self._restart(index)
        while True:
            frame = self._advance()
            if self._next - 1 == index:
                break
        self._last = (index, frame)
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self.container.close()
