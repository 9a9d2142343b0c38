"""The temporal clean-up of a parse (m2fp_roto.sources.temporal, ``--temporal-window``)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from m2fp_roto.cli.main import main
from m2fp_roto.pipeline import build_document
from m2fp_roto.sources.labelmaps import LabelMapSource
from m2fp_roto.sources.temporal import Majority, majority


def test_majority_removes_a_blink_and_keeps_what_lasts():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[1, 1] = 5  # one frame of flicker between two frames without it
    c = a.copy()
    c[2, 2] = 7  # a change that the nearer neighbour agrees with
    ppl = [np.ones((4, 4), np.int32)] * 3
    parts, people = majority([b, a, a], ppl)
    assert parts[1, 1] == 0 and people[1, 1] == 0
    parts, _ = majority([c, c, a], ppl)
    assert parts[2, 2] == 7
    parts, _ = majority([c, a], ppl[:2])  # a tie: the frame's own part wins
    assert parts[2, 2] == 7


def _maps(folder, blink_at=None):
    folder.mkdir()
    for f in range(1001, 1011):
        parts = np.zeros((60, 80), np.uint8)
        parts[10:50, 10 + f % 3:40 + f % 3] = 5  # upper clothes, moving a little
        if f == blink_at:
            parts[20:40, 50:70] = 13  # a face for one frame, away from the body: a parser's blink
        Image.fromarray(parts).save(folder / f"m.{f}.png")
    return str(folder / "m.####.png")


def test_a_one_frame_region_does_not_become_a_shape(tmp_path):
    source = LabelMapSource(_maps(tmp_path / "a", blink_at=1005), label_set="cihp")
    raw = build_document(source)
    assert any(s.part == "face" for s in raw.shapes)
    clean = build_document(source, temporal_window=3)
    assert [s.name for s in clean.shapes] == ["p1_upper_clothes"]
    assert clean.metadata["settings"]["temporal_window"] == 3
    # Frames at the ends of the shot vote with the neighbours they have.
    assert Majority(source, 5).parse(1001).parts[20, 20] == 5


def test_cli_temporal_window(tmp_path):
    labels = _maps(tmp_path / "a", blink_at=1005)
    r = CliRunner().invoke(main, ["export", "--labels", labels, "--label-set", "cihp", "--temporal-window", "3",
                                  "-o", str(tmp_path / "out.json")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["export", "--labels", labels, "--temporal-window", "4", "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "is even" in r.output
