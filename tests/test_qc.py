"""The QC view: what ``preview --qc`` finds on each frame, and draws."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from m2fp_roto.cli.main import main
from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto.preview import CROSSING
from m2fp_roto.qc import frame_findings, tally


def square(x0, y0, size):
    x0, y0 = x0 + 100, y0 + 80  # clear of the findings listed in the top-left corner
    return [[x0, y0, 0, 0, 0, 0], [x0 + size, y0, 0, 0, 0, 0], [x0 + size, y0 + size, 0, 0, 0, 0],
            [x0, y0 + size, 0, 0, 0, 0]]


def shot() -> tuple[RotoDocument, np.ndarray]:
    """Three frames, two people side by side in the person map; person 1's arm reaches onto
    person 2 on 1002, their hair crosses itself on 1003, their hand starts on 1002 and is
    hidden on 1003."""
    doc = RotoDocument(width=240, height=140, first_frame=1001, last_frame=1003)
    twisted = np.array(square(10, 10, 20))[[0, 2, 1, 3]]
    doc.shapes += [
        Shape("p1_hair", 1, "hair", (1001, 1003), [Key(1002, square(10, 10, 20)), Key(1003, twisted)]),
        Shape("p1_left_arm", 1, "left_arm", (1001, 1003), [Key(1001, square(22, 5, 8)), Key(1002, square(38, 5, 8)),
                                                            Key(1003, square(22, 5, 8))]),
        Shape("p1_left_hand", 1, "left_hand", (1002, 1003), [Key(1002, square(12, 32, 4))], hidden=[(1003, 1003)]),
        Shape.static("p2_face", 2, "face", 1001, 1003, square(50, 10, 20)),
    ]
    people = np.zeros((140, 240), np.uint8)
    people[:, :140], people[:, 140:] = 1, 2
    return doc.validate(), people


def test_findings_name_the_shape_and_what_to_look_at():
    doc, people = shot()
    assert [str(f) for f in frame_findings(doc, 1001, people)] == []
    on_1002 = frame_findings(doc, 1002, people)
    assert [str(f) for f in on_1002] == ["p1_left_arm off-person (25% on its person)", "p1_left_hand starts"]
    on_1003 = frame_findings(doc, 1003, people)
    assert [(f.shape, f.kind) for f in on_1003] == [("p1_hair", "crosses"), ("p1_left_hand", "hidden")]
    assert on_1003[0].segments  # the crossing curve segments, to draw thick
    assert tally(on_1002 + on_1003) == {"off-person": 1, "starts": 1, "crosses": 1, "hidden": 1}
    # without person maps nobody can be off their person
    assert "off-person" not in tally(frame_findings(doc, 1002))


def test_preview_qc_draws_and_counts(tmp_path):
    doc, people = shot()
    doc.save(tmp_path / "shot.json")
    for f in doc.frames:
        Image.fromarray(people).save(tmp_path / f"people.{f}.png")
    r = CliRunner().invoke(main, ["preview", str(tmp_path / "shot.json"), "--qc", "--people",
                                  str(tmp_path / "people.####.png"), "-o", str(tmp_path / "qc") + "/"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "qc: 1 crosses, 1 off-person, 1 hidden, 1 starts, 0 ends (shape-frames)"
    images = [np.asarray(Image.open(tmp_path / "qc" / f"shot.{f}.png")).astype(int) for f in doc.frames]
    red = [(np.abs(img - CROSSING).max(-1) < 40).sum() for img in images]
    assert red[0] == red[1] == 0 and red[2] > 20
    r = CliRunner().invoke(main, ["preview", str(tmp_path / "shot.json"), "--people", "x.####.png", "-o", "q/"])
    assert r.exit_code == 2 and "add --qc" in r.output
