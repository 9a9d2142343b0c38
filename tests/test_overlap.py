"""The parse overlapped with the work around it: the plate read one frame ahead, each frame
vectorized in a second thread while the next is parsed. Same results, bounded waits."""

import logging
import threading

import numpy as np
import pytest
from test_parse_cache import FRAMES, LabelMapParser, shot, source_for  # noqa: F401  (shot is a fixture)

from m2fp_roto import pipeline
from m2fp_roto.errors import InputError
from m2fp_roto.sources.plate import open_plate
from m2fp_roto.sources.plate_parsing import PlateParsingSource
from m2fp_roto.vectorize import vectorize_parsing

WAIT = 10  # s: a bound on every wait below, never reached when the stages overlap


def same_contours(a, b):
    assert a.keys() == b.keys()
    for f in a:
        assert [(c.person, c.part, c.component, c.hole) for c in a[f]] == \
            [(c.person, c.part, c.component, c.hole) for c in b[f]]
        for x, y in zip(a[f], b[f]):
            np.testing.assert_array_equal(x.points, y.points)


def recording_reads(plate):
    """Each read's (frame, thread name), and an event per frame set when its read starts."""
    reads, started = [], {f: threading.Event() for f in plate.frames}
    read = plate.read

    def recorded(frame):
        reads.append((frame, threading.current_thread().name))
        started[frame].set()
        return read(frame)

    plate.read = recorded
    return reads, started


class WaitingParser(LabelMapParser):
    """Parses frame N only once the plate has started reading frame N + 1 (or WAIT passed)."""

    def __init__(self, shot, started):  # noqa: F811
        super().__init__(shot)
        self.started, self.saw_next_read = started, []

    def parse(self, rgb, frame):
        nxt = frame + 1
        if nxt in self.started:
            self.saw_next_read.append(self.started[nxt].wait(WAIT))
        return super().parse(rgb, frame)


def test_the_next_frame_is_read_in_its_own_thread_while_this_one_is_parsed(shot, tmp_path):  # noqa: F811
    warm, _ = source_for(shot, tmp_path / "cache", "1003")
    list(warm.parse_frames())  # 1003 is cached: never read again
    plate = open_plate(shot / "plate" / "shot.####.png")
    reads, started = recording_reads(plate)
    parser = WaitingParser(shot, {f: e for f, e in started.items() if f != 1003})
    src = PlateParsingSource.open(plate, parser, tmp_path / "cache")
    parses = list(src.parse_frames())
    assert [p.frame for p in parses] == FRAMES and parser.calls == [1001, 1002, 1004]
    assert [f for f, _ in reads] == [1001, 1002, 1004]  # each once, in order, not the cached one
    assert {name for _, name in reads} == {"m2fp-roto read-ahead_0"}
    assert parser.saw_next_read == [True]  # 1002 was being read while 1001 was parsed; 1003 is cached
    fresh = PlateParsingSource.open(open_plate(shot / "plate" / "shot.####.png"), LabelMapParser(shot), None)
    for a, b in zip(parses, fresh.parse_frames()):
        np.testing.assert_array_equal(a.parts, b.parts)


def test_a_chunk_of_the_plate_reads_no_frame_outside_it(shot):  # noqa: F811
    plate = open_plate(shot / "plate" / "shot.####.png")
    reads, _ = recording_reads(plate)
    src = PlateParsingSource.open(plate, LabelMapParser(shot), None)
    assert [p.frame for p in src.parse_frames([1002, 1003])] == [1002, 1003]
    assert [f for f, _ in reads] == [1002, 1003]  # a farm task's chunk: 1004 is another task's


def test_an_unreadable_frame_read_ahead_fails_or_is_skipped_when_its_turn_comes(shot, tmp_path, caplog):  # noqa: F811
    (shot / "plate" / "shot.1003.png").write_bytes(b"not a png")
    src, parser = source_for(shot, None)
    assert src.parse(1001).frame == 1001 and src.parse(1002).frame == 1002  # 1003 was read ahead
    with pytest.raises(InputError, match="1003"):
        src.parse(1003)
    plate = open_plate(shot / "plate" / "shot.####.png", skip_missing=True)
    skipping = PlateParsingSource.open(plate, LabelMapParser(shot), None)
    with caplog.at_level(logging.WARNING, logger="m2fp_roto"):
        assert [p.frame for p in skipping.parse_frames()] == [1001, 1002, 1004]
    assert "1003" in caplog.text and skipping.frames == [1001, 1002, 1004]


def test_frames_are_vectorized_beside_the_next_parse_with_the_same_contours(shot, monkeypatch):  # noqa: F811
    source = LabelMapParser(shot).maps
    parse, parsing_started = source.parse, {f: threading.Event() for f in FRAMES}
    seen, threads = [], []

    def parse_and_tell(frame):
        parsing_started[frame].set()
        return parse(frame)

    def vectorize_and_look(parsing, options):
        # Frame N's vectorizing sees frame N + 1's parse begin: they run side by side.
        threads.append(threading.current_thread().name)
        if parsing.frame + 1 in parsing_started:
            seen.append(parsing_started[parsing.frame + 1].wait(WAIT))
        return vectorize_parsing(parsing, options)

    monkeypatch.setattr(source, "parse", parse_and_tell)
    monkeypatch.setattr(pipeline, "vectorize_parsing", vectorize_and_look)
    overlapped = pipeline.vectorize_source(source)
    assert seen == [True, True, True] and set(threads) == {"m2fp-roto vectorize_0"}
    same_contours(overlapped, {f: vectorize_parsing(parse(f)) for f in FRAMES})


def test_an_error_while_vectorizing_stops_the_run_at_once(shot, monkeypatch):  # noqa: F811
    source = LabelMapParser(shot).maps
    parsed = []
    parse = source.parse

    def counted(frame):
        parsed.append(frame)
        return parse(frame)

    def fails_on_1002(parsing, options):
        if parsing.frame == 1002:
            raise InputError("frame 1002 cannot be vectorized")
        return vectorize_parsing(parsing, options)

    monkeypatch.setattr(source, "parse", counted)
    monkeypatch.setattr(pipeline, "vectorize_parsing", fails_on_1002)
    with pytest.raises(InputError, match="1002"):
        pipeline.vectorize_source(source)
    assert parsed == [1001, 1002, 1003]  # one frame parsed past the failure at most
    assert not [t for t in threading.enumerate() if t.name.startswith("m2fp-roto vectorize")]
