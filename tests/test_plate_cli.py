"""``m2fp-roto parse / merge-cache / doctor / export PLATE`` on real frames.

The model is swapped for the real label maps of each frame (``LabelMapParser``), so the whole
command path -- plate, options, cache, progress lines, document -- runs without model weights.
"""

import json
import sys

import pytest
from click.testing import CliRunner
from test_parse_cache import LabelMapParser, shot  # noqa: F401  (shot is a fixture)

from conftest import need
from m2fp_roto.cli import plate as cli_plate
from m2fp_roto.cli.main import main


@pytest.fixture
def parsers(shot, monkeypatch):  # noqa: F811
    """Every parser the CLI makes, with the options it was made with."""
    made = []

    def make_parser(**options):
        parser = LabelMapParser(shot, batch_size=options["batch_size"])
        made.append((options, parser))
        return parser

    monkeypatch.setattr(cli_plate, "make_parser", make_parser)
    return made


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_parse_chunks_then_export_from_the_cache(shot, parsers, tmp_path):  # noqa: F811
    plate, cache = shot / "plate" / "shot.####.png", tmp_path / "farm cache"
    first = run("parse", plate, "--frames", "1001-1002", "--cache", cache, "--precision", "bf16",
                "--batch-size", "2", "--threads", "1", "--resolution", "320", "--runtime", "onnx")
    assert first.exit_code == 0, first.output
    assert "PROGRESS 50% parse" in first.output and "PROGRESS 100% parse" in first.output
    assert "2 parsed, 0 already cached" in first.output
    options, parser = parsers[0]
    assert options == {"model": None, "device": "cpu", "precision": "bf16", "runtime": "onnx", "batch_size": 2,
                       "threads": 1, "resolution": 320}
    assert parser.batches == [[1001, 1002]]
    second = run("parse", plate, "--frames", "1002-1004", "--cache", cache)
    assert "2 parsed, 1 already cached" in second.output and parsers[1][1].calls == [1003, 1004]

    out = tmp_path / "out" / "shot.json"
    exported = run("export", plate, "--cache", cache, "--target", "json", "--fps", "25", "-o", out)
    assert exported.exit_code == 0, exported.output
    assert parsers[2][1].calls == []  # everything came from the chunks
    doc = json.loads(out.read_text())
    assert doc["plate"] == str(plate) and doc["fps"] == 25.0
    assert (doc["first_frame"], doc["last_frame"]) == (1001, 1004) and doc["shapes"]


def test_export_caches_beside_the_output_by_default(shot, parsers, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("M2FP_ROTO_CACHE", raising=False)
    out = tmp_path / "deliver" / "shot.json"
    assert run("export", shot / "plate" / "shot.%04d.png", "--frames", "1001-1002", "-o", out).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "deliver" / ".m2fp_roto_cache").glob("*/*.npz")) == \
        ["1001.npz", "1002.npz"]
    assert run("export", shot / "plate" / "shot.%04d.png", "--frames", "1001-1002", "--no-cache",
               "-o", out).exit_code == 0
    assert parsers[1][1].calls == [1001, 1002]


def test_merge_cache_command(shot, parsers, tmp_path):  # noqa: F811
    plate = shot / "plate" / "shot.####.png"
    run("parse", plate, "--frames", "1001-1002", "--cache", tmp_path / "a")
    run("parse", plate, "--frames", "1003-1004", "--cache", tmp_path / "b")
    merged = run("merge-cache", tmp_path / "a", tmp_path / "b", "--into", tmp_path / "all")
    assert merged.exit_code == 0 and "merged 4 cached frame(s)" in merged.output
    assert "0 parsed, 4 already cached" in run("parse", plate, "--cache", tmp_path / "all").output


def test_plate_errors_are_one_line(shot, parsers, tmp_path):  # noqa: F811
    missing = run("parse", shot / "plate" / "shot.####.png", "--frames", "1001-1009", "--cache", tmp_path)
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [missing.output.strip()]
    assert missing.output.startswith("error: plate frames: missing frame(s) 1005-1009")
    both = run("export", shot / "plate" / "shot.####.png", "--labels", "x.####.png", "-o", tmp_path / "o.json")
    assert both.exit_code == 2 and "give exactly one input" in both.output
    need("PyOpenColorIO")
    bad_space = run("parse", shot / "plate" / "shot.####.png", "--colorspace", "Nope", "--cache", tmp_path)
    assert bad_space.exit_code == 2 and "no colour space 'Nope'" in bad_space.output


def test_missing_model_is_a_clear_error(shot, tmp_path):  # noqa: F811
    result = run("parse", shot / "plate" / "shot.####.png", "--model", tmp_path / "no model here",
                 "--cache", tmp_path / "cache")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_doctor(monkeypatch):
    result = run("doctor")
    assert result.exit_code == 0, result.output
    names = [line.split("  ")[0] for line in result.output.splitlines()]
    for name in ("numpy", "opencv", "OpenEXR", "OpenImageIO", "OpenColorIO", "av (PyAV)", "torch", "modelscope",
                 "OCIO config", "parse cache", "onnxruntime"):
        assert name in names
    assert "ocio://studio-config-v2.1.0" in result.output
    monkeypatch.setitem(sys.modules, "m2fp_roto.m2fp", None)  # as if the m2fp extra were not installed
    monkeypatch.setenv("M2FP_ROTO_CACHE", "/farm/cache")
    result = run("doctor")
    assert "M2FP backend" in result.output and "m2fp extra is not installed" in result.output
    assert "$M2FP_ROTO_CACHE = /farm/cache" in result.output
