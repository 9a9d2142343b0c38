"""``PlateParsingSource``: a plate parsed by a model, through the parse cache.

It offers the interface of :class:`m2fp_roto.sources.labelmaps.LabelMapSource` (``frames``, ``width``,
``height``, ``fps``, ``pixel_aspect``, ``source``, ``label_set``, ``parse(frame)``), so the
document building that works on label maps works on plates unchanged. The parser is any object
with ``settings`` (a dict of everything that changes its output) and
``parse(rgb, frame) -> Parsing``; ``parse_batch([(frame, rgb), ...])`` is used when present.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from ..errors import InputError, RotoError
from ..labelsets import get_label_set
from ..parsing import Parsing
from .image_readers import FrameReadError
from .parse_cache import ParseCache, storable
from .plate import Plate
from .read_ahead import ReadAhead

log = logging.getLogger("m2fp_roto")


class ParserOutputError(RotoError):
    """A parser returned something that does not fit the plate."""


class PlateParsingSource:
    """Parse a plate's frames with ``parser``, serving and filling ``cache`` (optional).

    Parameters
    ----------
    plate : Plate
        From :func:`m2fp_roto.sources.plate.open_plate`.
    parser : object
        ``settings`` dict, ``parse(rgb, frame)``, optionally ``parse_batch(items)`` and
        ``batch_size`` (frames per batch, default 1) and ``label_set`` (default ``"cihp"``).
    cache : ParseCache, optional
        Usually ``ParseCache.for_plate(root, plate, parser.settings)``; None parses every time.
    """

    def __init__(self, plate: Plate, parser, cache: ParseCache | None = None):
        self.reader, self.parser, self.cache = plate, parser, cache
        self.plate = plate.source  # the document's `plate` field
        self.label_set = get_label_set(getattr(parser, "label_set", "cihp"))
        self.frames = list(plate.frames)
        self.width, self.height = plate.width, plate.height
        self.fps, self.pixel_aspect, self.source = plate.fps, plate.pixel_aspect, plate.source
        self.parsed = 0  # frames this source sent to the parser (cache misses)
        self._ahead: dict[int, Parsing] = {}  # parsed in a batch with an earlier frame, not yet asked for
        self._reads = ReadAhead(plate)

    @classmethod
    def open(cls, plate: Plate, parser, cache_root=None) -> PlateParsingSource:
        """A source whose cache lives under ``cache_root`` (None: no cache)."""
        cache = ParseCache.for_plate(cache_root, plate, parser.settings) if cache_root is not None else None
        return cls(plate, parser, cache)

    @property
    def batch_size(self) -> int:
        return max(1, int(getattr(self.parser, "batch_size", 1) or 1))

    def parse(self, frame: int) -> Parsing:
        """The parse of ``frame``: from the cache, else from the parser (then cached).

        A miss is parsed in one batch with the next uncached frames of the plate (up to the
        parser's ``batch_size``), which are then served from memory when asked for in order.
        """
        if frame in self._ahead:
            return self._ahead.pop(frame)
        if frame not in self.frames:
            raise InputError(f"frame {frame} is not in the plate {self.source}")
        cached = self.cache.get(frame) if self.cache is not None else None
        if cached is not None:
            return cached
        pending = [(frame, self._read(frame, self.frames))]
        for follower in self.frames[self.frames.index(frame) + 1:]:
            if len(pending) >= self.batch_size:
                break
            if self.cache is not None and self.cache.path(follower).exists():
                break  # cached frames are not parsed again; keep batches contiguous
            try:
                pending.append((follower, self._read(follower, self.frames)))
            except FrameReadError:
                break  # reported when that frame itself is asked for
        first, *rest = self._run(pending)
        self._ahead = {p.frame: p for p in rest}
        return first

    def parse_frames(self, frames: Iterable[int] | None = None,
                     progress: Callable[[int, int, int], None] | None = None) -> Iterator[Parsing]:
        """Yield the parses of ``frames`` (default all) in order, batching the cache misses.

        ``progress(done, total, frame)`` is called after each frame. With the plate's
        ``skip_missing``, a frame that cannot be read is dropped from ``frames`` with a warning.
        """
        frames = list(self.frames if frames is None else frames)
        pending: list[tuple[int, object]] = []
        done = 0

        def tick(frame):
            nonlocal done
            done += 1
            if progress:
                progress(done, len(frames), frame)

        def flush():
            for parsing in self._run(pending):
                yield parsing
                tick(parsing.frame)
            pending.clear()

        for frame in frames:
            cached = self.cache.get(frame) if self.cache is not None else None
            if cached is not None:
                yield from flush()  # keep frame order
                yield cached
                tick(frame)
                continue
            try:
                pending.append((frame, self._read(frame, frames)))
            except FrameReadError as exc:
                if not self.reader.skip_missing:
                    raise
                log.warning("%s; skipped", exc)
                self.frames.remove(frame)
                tick(frame)
                continue
            if len(pending) >= self.batch_size:
                yield from flush()
        yield from flush()

    def _read(self, frame: int, order: list[int]):
        """The frame's pixels; the frame after it in ``order`` (the frames being parsed) starts
        decoding meanwhile, unless it is cached."""
        at = order.index(frame) + 1
        then = order[at] if at < len(order) else None
        if then is not None and self.cache is not None and self.cache.path(then).exists():
            then = None
        return self._reads.read(frame, then)

    def _run(self, pending: list[tuple[int, object]]) -> list[Parsing]:
        """Parse ``[(frame, rgb), ...]`` in one batch (when the parser can), check and cache."""
        if not pending:
            return []
        if len(pending) > 1 and hasattr(self.parser, "parse_batch"):
            results = self.parser.parse_batch(list(pending))
        else:
            results = [self.parser.parse(rgb, frame) for frame, rgb in pending]
        if len(results) != len(pending):
            raise ParserOutputError(f"the parser returned {len(results)} parses for {len(pending)} frames")
        return [self._store(frame, parsing) for (frame, _), parsing in zip(pending, results)]

    def _store(self, frame: int, parsing: Parsing) -> Parsing:
        if parsing.frame != frame:
            raise ParserOutputError(f"the parser labelled frame {frame} as frame {parsing.frame}")
        if parsing.shape != (self.height, self.width):
            raise ParserOutputError(f"the parser returned a {parsing.shape[1]}x{parsing.shape[0]} parse for "
                                    f"a {self.width}x{self.height} plate (frame {frame})")
        self.parsed += 1
        if self.cache is not None:
            parsing = storable(parsing)
            self.cache.put(parsing)
        return parsing
