"""The parse cache and PlateParsingSource on real CIHP frames, with a parser made of real label maps."""

import logging
import os

import numpy as np
import pytest
from PIL import Image

from conftest import need, shared_path
from m2fp_roto.parsing import Parsing
from m2fp_roto.sources.labelmaps import LabelMapSource
from m2fp_roto.sources.parse_cache import CACHE_DIRNAME, CACHE_ENV, ParseCache, default_cache_root, merge_cache
from m2fp_roto.sources.plate import open_plate
from m2fp_roto.sources.plate_parsing import ParserOutputError, PlateParsingSource

FRAMES = [1001, 1002, 1003, 1004]


@pytest.fixture
def shot(tmp_path):
    """A 4-frame plate made from one real CIHP photo panning right, with its real label maps."""
    root = shared_path("data", "cihp_train_slice")
    rgb = np.asarray(Image.open(root / "Images" / "0000006.jpg").convert("RGB"))
    parts = np.asarray(Image.open(root / "Category_ids" / "0000006.png"))
    people = np.asarray(Image.open(root / "Human_ids" / "0000006.png"))
    for sub in ("plate", "labels", "people"):
        (tmp_path / sub).mkdir()
    for i, f in enumerate(FRAMES):
        shift = 5 * i
        Image.fromarray(np.roll(rgb, shift, axis=1)).save(tmp_path / "plate" / f"shot.{f}.png")
        Image.fromarray(np.roll(parts, shift, axis=1)).save(tmp_path / "labels" / f"parts.{f}.png")
        Image.fromarray(np.roll(people, shift, axis=1)).save(tmp_path / "people" / f"people.{f}.png")
    return tmp_path


class LabelMapParser:
    """A parser whose output is the real label maps of each frame; it counts what it was asked."""

    def __init__(self, shot, batch_size=1, fail_after=None):
        self.maps = LabelMapSource(shot / "labels" / "parts.####.png", shot / "people" / "people.####.png")
        self.settings = {"backend": "labelmaps", "labels": self.maps.source}
        self.batch_size, self.fail_after = batch_size, fail_after
        self.calls, self.batches = [], []

    def parse(self, rgb, frame):
        assert rgb.dtype == np.uint8 and rgb.shape == (self.maps.height, self.maps.width, 3)
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # the farm killed the task
        self.calls.append(frame)
        return self.maps.parse(frame)

    def parse_batch(self, items):
        self.batches.append([f for f, _ in items])
        return [self.parse(rgb, f) for f, rgb in items]


def source_for(shot, root, frames=None, **parser_kw):
    plate = open_plate(shot / "plate" / "shot.####.png", frames)
    parser = LabelMapParser(shot, **parser_kw)
    return PlateParsingSource.open(plate, parser, root), parser


def assert_same(a: Parsing, b: Parsing):
    assert a.frame == b.frame and a.label_set == b.label_set and a.scores == b.scores
    np.testing.assert_array_equal(a.parts, b.parts)
    np.testing.assert_array_equal(a.people, b.people)


def test_put_get_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    parsing = Parsing(frame=1017, parts=rng.integers(0, 20, (30, 40)).astype(np.uint8),
                      people=rng.integers(0, 300, (30, 40)).astype(np.int32), scores={1: 0.93, 2: 0.5, 299: 0.25},
                      part_logits=rng.normal(size=(20, 8, 10)).astype(np.float16))
    cache = ParseCache(tmp_path, "shot.####.exr", {"model": "m2fp", "precision": "fp16"})
    path = cache.put(parsing)
    assert path.name == "1017.npz" and path.parent.parent == tmp_path
    back = cache.get(1017)
    assert_same(back, parsing)
    assert back.people.dtype == np.int32
    assert back.part_logits.dtype == np.float16
    np.testing.assert_array_equal(back.part_logits, parsing.part_logits)
    assert cache.frames == [1017] and cache.get(1018) is None
    assert (cache.folder / "settings.json").is_file()
    assert not [p for p in cache.folder.iterdir() if ".tmp" in p.name]  # atomic writes leave no temp files


def test_logits_are_stored_bit_for_bit_in_a_plain_npz(tmp_path):
    special = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 6e-8, 6.1e-5, 65504, -20, 1 / 3], np.float16)
    logits = np.resize(special, (3, 5, 7))
    parsing = Parsing(frame=7, parts=np.zeros((10, 14), np.uint8), people=np.zeros((10, 14), np.int32),
                      part_logits=logits)
    cache = ParseCache(tmp_path, "shot.####.exr", {})
    with np.load(cache.put(parsing), allow_pickle=False) as npz:  # any numpy reads it
        assert npz["part_logits"].dtype == np.uint8 and npz["part_logits"].shape == (2, logits.size)
        assert npz["part_logits_shape"].tolist() == [3, 5, 7]
    back = cache.get(7).part_logits
    assert back.dtype == np.float16 and back.shape == logits.shape
    np.testing.assert_array_equal(back.view(np.uint16), logits.view(np.uint16))


class LogitParser(LabelMapParser):
    """Adds float32 part scores (a smoothed one-hot of the real labels), as a model would."""

    def parse(self, rgb, frame):
        p = super().parse(rgb, frame)
        onehot = (p.parts[None, ::2, ::2] == np.arange(20)[:, None, None]).astype(np.float32)
        p.part_logits = onehot * 7.3 - 3.1 + np.float32(frame) * 1e-4
        return p


def test_fresh_and_cached_parses_are_identical(shot, tmp_path):
    """Logits are stored as float16; a fresh parse is handed on exactly as a resumed run reads it."""
    plate = open_plate(shot / "plate" / "shot.####.png")
    fresh = PlateParsingSource.open(plate, LogitParser(shot), tmp_path / "cache").parse(1002)
    parser = LogitParser(shot)
    cached = PlateParsingSource.open(plate, parser, tmp_path / "cache").parse(1002)
    assert parser.calls == [] and fresh.part_logits.dtype == cached.part_logits.dtype == np.float16
    np.testing.assert_array_equal(fresh.part_logits, cached.part_logits)
    assert_same(fresh, cached)
    expected = LogitParser(shot).parse(np.zeros((plate.height, plate.width, 3), np.uint8), 1002).part_logits
    assert np.abs(cached.part_logits.astype(np.float32) - expected).max() < 5e-3


def test_settings_or_colour_change_misses(shot, tmp_path):
    need("PyOpenColorIO")
    src, parser = source_for(shot, tmp_path / "cache")
    list(src.parse_frames())
    plate = src.reader
    same = ParseCache.for_plate(tmp_path / "cache", plate, dict(parser.settings))
    assert same.get(1002) is not None
    other_model = ParseCache.for_plate(tmp_path / "cache", plate, {**parser.settings, "precision": "fp16"})
    assert other_model.folder != same.folder and other_model.get(1002) is None
    graded = open_plate(shot / "plate" / "shot.####.png", colorspace="Gamma 2.2 Rec.709 - Texture")
    assert ParseCache.for_plate(tmp_path / "cache", graded, parser.settings).get(1002) is None
    # another spelling of the same plate finds the same parses
    respelled = open_plate(shot / "plate" / "shot.%04d.png")
    assert ParseCache.for_plate(tmp_path / "cache", respelled, parser.settings).get(1002) is not None


def test_rerendered_frame_misses(shot, tmp_path):
    src, parser = source_for(shot, tmp_path / "cache")
    list(src.parse_frames())
    frame = shot / "plate" / "shot.1003.png"
    Image.open(frame).transpose(Image.FLIP_LEFT_RIGHT).save(frame)
    os.utime(frame, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    again, parser2 = source_for(shot, tmp_path / "cache")
    list(again.parse_frames())
    assert parser2.calls == [1003]


def test_corrupt_cache_file_is_parsed_again(shot, tmp_path, caplog):
    src, _ = source_for(shot, tmp_path / "cache")
    list(src.parse_frames())
    src.cache.path(1002).write_bytes(b"PK\x03\x04 truncated")
    again, parser = source_for(shot, tmp_path / "cache")
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        out = {p.frame: p for p in again.parse_frames()}
    assert parser.calls == [1002] and "unreadable" in caplog.text
    assert_same(out[1002], parser.maps.parse(1002))
    assert again.cache.get(1002) is not None  # rewritten whole


def test_interrupted_run_resumes(shot, tmp_path):
    src, parser = source_for(shot, tmp_path / "cache", fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        list(src.parse_frames())
    assert parser.calls == [1001, 1002] and src.cache.frames == [1001, 1002]
    resumed, parser2 = source_for(shot, tmp_path / "cache")
    parses = list(resumed.parse_frames())
    assert parser2.calls == [1003, 1004]  # done frames come from the cache
    assert [p.frame for p in parses] == FRAMES
    for p in parses:
        assert_same(p, parser2.maps.parse(p.frame))


def test_farm_chunks_merge(shot, tmp_path):
    a, pa = source_for(shot, tmp_path / "node_a", "1001-1002")
    b, pb = source_for(shot, tmp_path / "node_b", "1003-1004")
    list(a.parse_frames()), list(b.parse_frames())
    assert pa.calls == [1001, 1002] and pb.calls == [1003, 1004]
    merged = tmp_path / "shot_cache"
    folder = a.cache.folder
    (folder / ".1001.abc123.tmp.npz").write_bytes(b"half a frame")  # what a killed writer leaves
    assert merge_cache(tmp_path / "node_a", merged) == 2
    assert not list(merged.glob("*/.*")), "temp files are not copied"
    assert merge_cache(tmp_path / "node_b", merged) == 2
    assert merge_cache(tmp_path / "node_b", merged) == 0  # already there
    whole, parser = source_for(shot, merged)
    parses = list(whole.parse_frames())
    assert parser.calls == [] and [p.frame for p in parses] == FRAMES
    # chunks run straight into one shared cache add up the same way
    c, _ = source_for(shot, tmp_path / "shared", "1001-1003")
    d, _ = source_for(shot, tmp_path / "shared", "1004")
    list(c.parse_frames()), list(d.parse_frames())
    assert source_for(shot, tmp_path / "shared")[0].cache.frames == FRAMES


def test_batches_and_order(shot, tmp_path):
    warm, _ = source_for(shot, tmp_path / "cache", "1002")
    list(warm.parse_frames())
    src, parser = source_for(shot, tmp_path / "cache", batch_size=2)
    seen = []
    parses = list(src.parse_frames(progress=lambda done, total, frame: seen.append((done, total, frame))))
    assert [p.frame for p in parses] == FRAMES
    assert parser.batches == [[1003, 1004]]  # 1001 alone before the cached 1002 keeps the order
    assert parser.calls == [1001, 1003, 1004]
    assert seen == [(1, 4, 1001), (2, 4, 1002), (3, 4, 1003), (4, 4, 1004)]


def test_parse_without_cache_and_bad_parser_output(shot):
    src, parser = source_for(shot, None)
    assert src.cache is None
    assert (src.width, src.height, src.fps, src.pixel_aspect) == (parser.maps.width, parser.maps.height, 24.0, 1.0)
    assert src.label_set.name == "cihp" and src.plate.endswith("shot.####.png")
    assert_same(src.parse(1003), parser.maps.parse(1003))
    src.parse(1003)
    assert parser.calls == [1003, 1003]


class CroppingParser(LabelMapParser):
    """Returns its label maps one row short, like a model that forgot to resize to the plate."""

    def parse(self, rgb, frame):
        p = super().parse(rgb, frame)
        return Parsing(frame + self.frame_offset, p.parts[:-1], p.people[:-1], scores=p.scores)


@pytest.mark.parametrize("offset, message", [(0, r"the parser returned a \d+x\d+ parse for a"),
                                             (1, "labelled frame 1001 as frame 1002")])
def test_parser_output_that_does_not_fit_is_refused(shot, tmp_path, offset, message):
    parser = CroppingParser(shot)
    parser.frame_offset = offset
    src = PlateParsingSource.open(open_plate(shot / "plate" / "shot.####.png"), parser, tmp_path / "cache")
    with pytest.raises(ParserOutputError, match=message):
        src.parse(1001)
    assert src.cache.frames == []  # nothing wrong is cached


def test_document_from_plate_equals_document_from_label_maps(shot, tmp_path):
    from m2fp_roto import pipeline
    src, parser = source_for(shot, tmp_path / "cache")
    from_plate = pipeline.build_document(src)
    from_maps = pipeline.build_document(parser.maps)
    assert from_plate.to_dict()["shapes"] == from_maps.to_dict()["shapes"]
    assert len(from_plate.shapes) > 10 and from_plate.plate == src.plate
    again, parser2 = source_for(shot, tmp_path / "cache")
    assert pipeline.build_document(again).to_dict()["shapes"] == from_maps.to_dict()["shapes"]
    assert parser2.calls == []


def test_default_cache_root(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert default_cache_root(tmp_path / "out" / "shot.nk") == (tmp_path / "out" / CACHE_DIRNAME).resolve()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "farm cache"))
    assert default_cache_root(tmp_path / "out" / "shot.nk") == tmp_path / "farm cache"


def test_frame_by_frame_parsing_batches_ahead(shot, tmp_path):
    """The document builder asks frame by frame; misses still reach the parser in batches."""
    warm, _ = source_for(shot, tmp_path / "cache", "1003")
    list(warm.parse_frames())
    src, parser = source_for(shot, tmp_path / "cache", batch_size=3)
    parses = [src.parse(f) for f in FRAMES]
    assert parser.batches == [[1001, 1002]]  # stops at the cached 1003
    assert parser.calls == [1001, 1002, 1004]
    for p in parses:
        assert_same(p, parser.maps.parse(p.frame))
