"""The QC view: what ``preview --qc`` finds on each frame, and draws."""

from __future__ import annotations

import re
import shutil

import numpy as np
from click.testing import CliRunner
from PIL import Image

from conftest import shared_path
from m2fp_roto.cli.main import main
from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto.labelsets import get_label_set
from m2fp_roto.preview import CROSSING, OFF_PART
from m2fp_roto.qc import frame_findings, tally


def square(x0, y0, size):
    x0, y0 = x0 + 100, y0 + 80  # clear of the findings listed in the top-left corner
    return [[x0, y0, 0, 0, 0, 0], [x0 + size, y0, 0, 0, 0, 0], [x0 + size, y0 + size, 0, 0, 0, 0],
            [x0, y0 + size, 0, 0, 0, 0]]


def shot() -> tuple[RotoDocument, np.ndarray]:
    """Three frames, two people side by side in the person map; person 1's arm reaches onto
    person 2 on 1002, their hair crosses itself on 1003, their glove starts on 1002 and is
    hidden on 1003."""
    doc = RotoDocument(width=240, height=140, first_frame=1001, last_frame=1003)
    twisted = np.array(square(10, 10, 20))[[0, 2, 1, 3]]
    doc.shapes += [
        Shape("p1_hair", 1, "hair", (1001, 1003), [Key(1002, square(10, 10, 20)), Key(1003, twisted)]),
        Shape("p1_left_arm", 1, "left_arm", (1001, 1003), [Key(1001, square(22, 5, 8)), Key(1002, square(38, 5, 8)),
                                                            Key(1003, square(22, 5, 8))]),
        Shape("p1_glove", 1, "glove", (1002, 1003), [Key(1002, square(12, 32, 4))], hidden=[(1003, 1003)]),
        Shape.static("p2_face", 2, "face", 1001, 1003, square(50, 10, 20)),
    ]
    people = np.zeros((140, 240), np.uint8)
    people[:, :140], people[:, 140:] = 1, 2
    return doc.validate(), people


def label_maps(doc) -> dict[int, np.ndarray]:
    """The shot's label maps: each part's region where the shapes were drawn on 1001, so the arm
    that moves on 1002 leaves its region behind; person 2's face is 10 px to the right on 1003."""
    ids = get_label_set(doc.label_set)
    maps = {}
    for f in doc.frames:
        parts = np.zeros((doc.height, doc.width), np.uint8)
        for s in doc.shapes:
            x0, y0 = s.points_at(1001 if s.part == "left_arm" else f)[0, :2].astype(int)
            size = 4 if s.part == "glove" else 8 if s.part == "left_arm" else 20
            x0 += 10 if (s.part, f) == ("face", 1003) else 0
            parts[y0:y0 + size, x0:x0 + size] = ids.part_id(s.part)
        maps[f] = parts
    return maps


def test_findings_name_the_shape_and_what_to_look_at():
    doc, people = shot()
    assert [str(f) for f in frame_findings(doc, 1001, people)] == []
    on_1002 = frame_findings(doc, 1002, people)
    assert [str(f) for f in on_1002] == ["p1_left_arm off-person (75% on other people)", "p1_glove starts"]
    on_1003 = frame_findings(doc, 1003, people)
    assert [(f.shape, f.kind) for f in on_1003] == [("p1_hair", "crosses"), ("p1_glove", "hidden")]
    assert on_1003[0].segments  # the crossing curve segments, to draw thick
    assert tally(on_1002 + on_1003) == {"off-person": 1, "starts": 1, "crosses": 1, "hidden": 1}
    # without person maps nobody can be on other people
    assert "off-person" not in tally(frame_findings(doc, 1002))


def test_parts_that_miss_their_region_in_the_label_map_are_found():
    doc, people = shot()
    parts = label_maps(doc)
    assert [str(f) for f in frame_findings(doc, 1001, people, parts[1001])] == []
    on_1002 = [str(f) for f in frame_findings(doc, 1002, people, parts[1002])]
    assert on_1002 == ["p1_left_arm off-person (75% on other people)", "p1_left_arm off-part (IoU 0% with its part)",
                       "p1_glove starts"]
    on_1003 = [(f.shape, f.kind, f.note) for f in frame_findings(doc, 1003, people, parts[1003])]
    assert ("p2_face", "off-part", "IoU 33% with its part") in on_1003  # 200 px shared of 600
    # the twisted hair covers half its square (two triangles): it misses its part too
    assert [k for name, k, _ in on_1003 if name == "p1_hair"] == ["crosses", "off-part"]
    # a shape on its part is not flagged however small, and without person maps the part's
    # pixels of everybody are its region (the face is person 2's alone here)
    assert "p1_glove" not in {f.shape for f in frame_findings(doc, 1002, None, parts[1002]) if f.kind == "off-part"}
    assert ("p2_face", "off-part") in {(f.shape, f.kind) for f in frame_findings(doc, 1003, None, parts[1003])}
    faceless = np.where(parts[1001] == get_label_set(doc.label_set).part_id("face"), 0, parts[1001])
    assert [str(f) for f in frame_findings(doc, 1001, people, faceless)] == ["p2_face off-part (no region of its "
                                                                             "part here)"]


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


def test_preview_qc_with_label_maps_marks_parts_off_their_region(tmp_path):
    doc, people = shot()
    doc.save(tmp_path / "shot.json")
    for f, parts in label_maps(doc).items():
        Image.fromarray(people).save(tmp_path / f"people.{f}.png")
        Image.fromarray(parts).save(tmp_path / f"labels {f}.png")  # a path with a space
    args = ["preview", str(tmp_path / "shot.json"), "--qc", "--labels", str(tmp_path / "labels ####.png")]
    people_maps = ["--people", str(tmp_path / "people.####.png")]
    r = CliRunner().invoke(main, args + people_maps + ["-o", str(tmp_path / "qc") + "/"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == ("qc: 1 crosses, 1 off-person, 3 off-part, 1 hidden, 1 starts, 0 ends "
                                         "(shape-frames)")
    images = [np.asarray(Image.open(tmp_path / "qc" / f"shot.{f}.png")).astype(int) for f in doc.frames]
    # violet, half blended with the grey where an outline runs between two rows of pixels
    r, g, b = OFF_PART
    violet = [((img[..., 2] - img[..., 0] > (b - r) // 3) & (img[..., 0] - img[..., 1] > (r - g) // 3)).sum()
              for img in images]
    assert violet[0] == 0 and violet[2] > 20  # the face on 1003 (the arm on 1002 is orange: on person 2)
    # two people and no person maps: whose region each part is cannot be told
    r = CliRunner().invoke(main, args + ["-o", str(tmp_path / "q2") + "/"])
    assert r.exit_code == 2 and "needs --people too" in r.output
    r = CliRunner().invoke(main, ["preview", str(tmp_path / "shot.json"), "--labels", "x.####.png", "-o", "q/"])
    assert r.exit_code == 2 and "add --qc" in r.output


def test_the_demo_previews_are_checked_and_few_shape_frames_need_a_look(tmp_path):
    r = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("previews: "))
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) ([a-z-]+)", line.split("qc: ")[1])}
    assert counts["crosses"] == 0
    # of 473 shape-frames: 6 with 5-10 % on the other figure where the two overlap (1020-1023),
    # 13 under 85 % IoU with their region (an arm and a leg cut in two by the other figure's
    # limbs, the small head parts' edges)
    assert counts["off-person"] <= 8 and counts["off-part"] <= 16
    assert len(list((tmp_path / "demo" / "preview").glob("shot.*.png"))) == 24


def test_qc_reads_label_maps_as_export_does_mattes_and_bad_ids(tmp_path):
    """DAVIS mattes (0/255) are thresholded as ``export --label-set matte`` reads them; ids the
    label set lacks stop the preview with the file named."""
    for p in sorted(shared_path("data", "davis", "Annotations", "lucia").glob("*.png"))[:6]:
        shutil.copy(p, tmp_path / p.name)
    mattes, doc = str(tmp_path / "#####.png"), str(tmp_path / "lucia.json")
    r = CliRunner().invoke(main, ["export", "--labels", mattes, "--label-set", "matte", "-o", doc])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["preview", doc, "--qc", "--labels", mattes, "-o", str(tmp_path / "qc") + "/"])
    assert r.exit_code == 0, r.output
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) ([a-z-]+)", r.output.splitlines()[-1])}
    assert counts["crosses"] == 0 and "off-person" not in counts  # no person maps given
    shapes = RotoDocument.load(doc)
    assert counts["off-part"] < sum(len(shapes.shapes_at(f)) for f in shapes.frames) / 2  # most fit
    r = CliRunner().invoke(main, ["preview", doc, "--qc", "--label-set", "cihp", "--labels", mattes, "-o",
                                  str(tmp_path / "qc2") + "/"])
    assert r.exit_code == 2 and "are not in label set 'cihp'" in r.output and "00000.png" in r.output
