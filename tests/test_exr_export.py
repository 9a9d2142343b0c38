"""The matte EXR target: files per frame, layers, windows, header, options, errors, atomic writes.

Also home of the synthetic documents and the independent supersampled rasterizer that the
other EXR tests share.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction

import numpy as np
import OpenEXR
import pytest

from m2fp_roto import exporters
from m2fp_roto.bezier import fill_polygons, flatten
from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto.errors import InputError, RotoError
from m2fp_roto.progress import Progress
from m2fp_roto_exporters import exr

PARTS = ("hair", "face", "upper_clothes", "left_arm")


def ellipse(cx, cy, rx, ry, n=6, reverse=False):
    """A closed cubic Bezier ellipse in document point form (n anchors)."""
    th = np.arange(n) * 2 * np.pi / n
    k = 4 / 3 * np.tan(np.pi / (2 * n))
    tx, ty = -rx * np.sin(th) * k, ry * np.cos(th) * k
    p = np.c_[cx + rx * np.cos(th), cy + ry * np.sin(th), -tx, -ty, tx, ty]
    if reverse:
        p = p[::-1].copy()
        p[:, 2:4], p[:, 4:6] = p[:, 4:6].copy(), p[:, 2:4].copy()
    return p


def synthetic_document(width=160, height=96, overlap=False) -> RotoDocument:
    """Two people, four parts each, three frames (1001-1003), keys that move, a hole, an extra
    component and a shape that appears late. Parts do not overlap unless ``overlap``."""
    doc = RotoDocument(width=width, height=height, first_frame=1001, last_frame=1003, pixel_aspect=2.0,
                       source="synthetic/shot.####.png", metadata={"tool": "tests"})
    for person, x in ((1, 12.3), (2, 86.7)):
        for i, part in enumerate(PARTS):
            cx, cy = x + 17.5 * (i % 2) - (9 if overlap and i == 1 else 0), 22.4 + 36 * (i // 2)
            name = f"p{person}_{part}"
            first = 1002 if (person, part) == (2, "left_arm") else 1001
            doc.shapes.append(Shape(name, person, part, (first, 1003),
                                    [Key(first, ellipse(cx, cy, 7.6, 15.2, reverse=i == 2)),
                                     Key(1003, ellipse(cx + 3.3, cy + 1.7, 8.1, 14.6, reverse=i == 2))]))
        # a hole in the upper clothes, and a second component of the left arm
        doc.shapes.append(Shape.static(f"p{person}_upper_clothes_hole1", person, "upper_clothes", 1001, 1003,
                                       ellipse(x + 1.5, 59.1, 3.1, 5.3), hole=True,
                                       parent=f"p{person}_upper_clothes"))
        if person == 1:
            doc.shapes.append(Shape.static("p1_left_arm_1", 1, "left_arm", 1001, 1003,
                                           ellipse(x + 17.5 + 3, 86.0, 5.2, 6.4), component=1))
    return doc.validate()


def supersampled(shapes, frame, size, k=16) -> np.ndarray:
    """Independent reference: even-odd point sampling on a k x k grid per pixel, each hole cut
    from its parent, shapes unioned, then box-averaged."""
    h, w = size
    union = np.zeros((h * k, w * k), bool)
    alive = [s for s in shapes if s.alive(frame)]
    for s in alive:
        if s.hole:
            continue
        mask = fill_polygons([flatten(s.points_at(frame)) * k], (h * k, w * k))
        for hole in alive:
            if hole.hole and hole.parent == s.name:
                mask &= ~fill_polygons([flatten(hole.points_at(frame)) * k], (h * k, w * k))
        union |= mask
    return union.reshape(h, k, w, k).mean(axis=(1, 3))


def read_exr(path):
    with OpenEXR.File(str(path), separate_channels=True) as f:
        header = dict(f.header())  # the binding empties these when the file closes
        channels = {k: v.pixels.copy() for k, v in f.channels().items()}
    return header, channels


def full_frame(header, plane):
    """A data-window plane pasted into the display window."""
    (dx0, dy0), (dx1, dy1) = header["dataWindow"]
    (_, _), (wx1, wy1) = header["displayWindow"]
    out = np.zeros((wy1 + 1, wx1 + 1), np.float32)
    out[dy0:dy1 + 1, dx0:dx1 + 1] = plane
    return out


@pytest.fixture(scope="module")
def doc():
    return synthetic_document()


@pytest.fixture(scope="module")
def written(doc, tmp_path_factory):
    out = tmp_path_factory.mktemp("exr") / "mattes dir" / "shot.####.exr"
    return exr.write_to_file(doc, out)


def test_one_file_per_plate_frame(written):
    assert [p.name for p in written] == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    assert all(p.is_file() for p in written)
    assert not [p for p in written[0].parent.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("pattern, name", [("s.%04d.exr", "s.1002.exr"), ("s.@@@@@.exr", "s.01002.exr"),
                                           ("s_$F4.exr", "s_1002.exr"), ("s.#.exr", "s.1002.exr"),
                                           ("s.%d.exr", "s.1002.exr")])
def test_frame_patterns(pattern, name):
    assert exr.frame_path(pattern, 1002).name == name


def test_ntsc_rates_are_exact_rationals():
    assert exr.rational_fps(23.976) == Fraction(24000, 1001) and exr.rational_fps(29.97) == Fraction(30000, 1001)
    assert exr.rational_fps(24) == 24 and exr.rational_fps(12.5) == Fraction(25, 2)


def test_crypto_pattern():
    assert exr.crypto_pattern("a/shot.####.exr").as_posix() == "a/shot_crypto.####.exr"
    assert exr.crypto_pattern("shot_%04d.exr").name == "shot_crypto_%04d.exr"
    assert exr.crypto_pattern("still.exr").name == "still_crypto.exr"


def test_layers_are_half_alpha_channels_per_person_and_part(doc, written):
    header, channels = read_exr(written[1])
    layers = {f"p{p}_{part}.A" for p in (1, 2) for part in PARTS}
    assert layers <= set(channels)
    assert all(channels[c].dtype == np.float16 for c in layers)
    assert {c for c in channels if not c.startswith("Crypto")} - layers == {"A"}  # and the union, below
    assert channels["A"].dtype == np.float16


def test_default_alpha_is_the_union_of_the_selected_shapes(doc, written):
    """``A`` (Nuke's rgba.alpha): every shape of the frame at once, so a Read node needs no layer."""
    for path, frame in zip(written, doc.frames):
        header, channels = read_exr(path)
        got = full_frame(header, channels["A"])
        want = np.minimum(supersampled(doc.shapes_at(frame), frame, (doc.height, doc.width)), 1.0)
        assert np.abs(got - want).max() < 0.07 and np.abs(got - want).mean() < 2e-3
        layers = sum(full_frame(header, v).astype(np.float32) for k, v in channels.items()
                     if k.endswith(".A") and not k.startswith("Crypto"))
        np.testing.assert_allclose(got, np.minimum(layers, 1.0), atol=2e-3)  # parts do not overlap here


def test_layers_equal_independent_rasterization(doc, written):
    for path, frame in zip(written, doc.frames):
        header, channels = read_exr(path)
        for person in (1, 2):
            for part in PARTS:
                got = full_frame(header, channels[f"p{person}_{part}.A"])
                shapes = [s for s in doc.shapes if s.person == person and s.part == part]
                want = supersampled(shapes, frame, (doc.height, doc.width))
                assert np.abs(got - want).max() < 0.07, (frame, person, part)  # 16x16 grid + half
                assert np.abs(got - want).mean() < 2e-3
                assert abs(got.sum() - want.sum()) <= 0.005 * max(want.sum(), 1)


def test_late_shape_is_zero_before_it_appears(written):
    header, channels = read_exr(written[0])  # p2_left_arm starts at 1002
    assert not channels["p2_left_arm.A"].any()
    assert read_exr(written[1])[1]["p2_left_arm.A"].any()


def test_windows_pixel_aspect_compression_and_provenance(doc, written):
    header, channels = read_exr(written[2])
    assert [list(v) for v in header["displayWindow"]] == [[0, 0], [doc.width - 1, doc.height - 1]]
    assert header["pixelAspectRatio"] == 2.0
    assert header["framesPerSecond"] == 24
    assert header["compression"] == OpenEXR.ZIPS_COMPRESSION
    assert header["m2fp/frame"] == 1003
    assert header["m2fp/source"] == "synthetic/shot.####.png"
    assert header["m2fp/version"]
    assert json.loads(header["m2fp/settings"])["compression"] == "zips"
    assert json.loads(header["m2fp/layers"])["p1_upper_clothes"] == {"person": 1, "part": "upper_clothes"}
    # the data window is tight: every edge row and column holds a covered pixel
    stack = np.stack([v for k, v in channels.items() if k.endswith(".A") and not k.startswith("Crypto")])
    covered = stack.max(axis=0) > 0
    assert covered[0].any() and covered[-1].any() and covered[:, 0].any() and covered[:, -1].any()
    (x0, y0), (x1, y1) = header["dataWindow"]
    assert x0 > 0 and y0 > 0 and x1 < doc.width - 1 and y1 < doc.height - 1


def test_hole_is_cut_out(doc, written):
    header, channels = read_exr(written[0])
    clothes = full_frame(header, channels["p1_upper_clothes.A"])
    assert clothes[59, 13] == 0.0 and clothes[59, 6] == 1.0  # inside the hole / inside the shape


def test_options_layers_off_split_and_compression(doc, tmp_path):
    only_crypto = exr.write_to_file(doc, tmp_path / "c.####.exr", layers=False, frames="1002")
    assert [p.name for p in only_crypto] == ["c.1002.exr"]
    assert not [c for c in read_exr(only_crypto[0])[1] if not c.startswith("Crypto")]

    mattes_only = exr.write_to_file(doc, tmp_path / "m.####.exr", cryptomatte=False, compression="piz",
                                    frames=[1001])
    header, channels = read_exr(mattes_only[0])
    assert header["compression"] == OpenEXR.PIZ_COMPRESSION
    assert not [c for c in channels if c.startswith("Crypto")]
    assert not [k for k in header if k.startswith("cryptomatte/")]

    split = exr.write_to_file(doc, tmp_path / "s.####.exr", split=True, frames="1001-1002")
    assert [p.name for p in split] == ["s.1001.exr", "s_crypto.1001.exr", "s.1002.exr", "s_crypto.1002.exr"]
    h_mattes, c_mattes = read_exr(split[0])
    h_crypto, c_crypto = read_exr(split[1])
    assert all((c == "A" or c.endswith(".A")) and not c.startswith("Crypto") for c in c_mattes)
    assert all(c.startswith("Crypto") for c in c_crypto)
    assert any(k.startswith("cryptomatte/") for k in h_crypto)
    assert h_crypto["dataWindow"][0].tolist() == h_mattes["dataWindow"][0].tolist()


def test_rle_mattes_allowed_but_not_for_cryptomatte(doc, tmp_path):
    assert exr.write_to_file(doc, tmp_path / "r.####.exr", cryptomatte=False, compression="rle", frames=[1001])
    with pytest.raises(InputError, match="Cryptomatte needs"):
        exr.write_to_file(doc, tmp_path / "r.####.exr", compression="rle")
    with pytest.raises(InputError, match="unknown EXR compression"):
        exr.write_to_file(doc, tmp_path / "r.####.exr", compression="dwaa")
    assert "dwaa" not in exr.COMPRESSIONS and "b44" not in exr.COMPRESSIONS


@pytest.mark.parametrize("kwargs, message", [
    ({"layers": False, "cryptomatte": False}, "nothing to write"),
    ({"people": [7]}, "no shapes"),
    ({"frames": "990-1001"}, "outside the document"),
    ({"people": "one"}, "cannot read the person ids"),
])
def test_bad_options_are_one_line_errors(doc, tmp_path, kwargs, message):
    selection = {k: kwargs.pop(k) for k in ("people", "parts") if k in kwargs}
    with pytest.raises(InputError, match=message) as info:
        if selection:  # people and parts are chosen on the way in, the same for every target
            exporters.write(doc, tmp_path / "x.####.exr", **selection)
        else:
            exr.write_to_file(doc, tmp_path / "x.####.exr", **kwargs)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_multi_frame_output_needs_a_pattern(doc, tmp_path):
    with pytest.raises(InputError, match="frame number pattern"):
        exr.write_to_file(doc, tmp_path / "shot.exr")
    single = RotoDocument(**{**doc.__dict__, "first_frame": 1002, "last_frame": 1002,
                             "shapes": [Shape.static("p1_face", 1, "face", 1002, 1002, ellipse(20, 20, 5, 6))]})
    assert [p.name for p in exr.write_to_file(single, tmp_path / "still.exr")] == ["still.exr"]


def test_selection_people_parts_and_progress(doc, tmp_path):
    calls = []
    out = exporters.write(doc, tmp_path / "sel.####.exr", people="2", parts=["hair", "face"],
                          progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    header, channels = read_exr(out[0])
    assert {c for c in channels if not c.startswith("Crypto")} == {"A", "p2_hair.A", "p2_face.A"}
    manifest = json.loads(next(v for k, v in header.items() if k.endswith("/manifest") and "p2/hair" in v))
    assert set(manifest) == {"p2/hair", "p2/face"}


def test_progress_lines_for_farm_logs(doc, tmp_path, capsys):
    exr.write_to_file(doc, tmp_path / "p.####.exr", progress=Progress.reporter("exr"), cryptomatte=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["PROGRESS 0% exr", "PROGRESS 33% exr", "PROGRESS 66% exr", "PROGRESS 100% exr"]


def test_empty_frame_gets_a_one_pixel_data_window(tmp_path):
    doc = RotoDocument(width=32, height=24, first_frame=1, last_frame=2,
                       shapes=[Shape.static("p1_hair", 1, "hair", 2, 2, ellipse(10, 10, 4, 4))])
    first, second = exr.write_to_file(doc, tmp_path / "e.#.exr")
    header, channels = read_exr(first)
    assert [list(v) for v in header["dataWindow"]] == [[0, 0], [0, 0]]
    assert not channels["p1_hair.A"].any()
    assert read_exr(second)[1]["p1_hair.A"].any()


def test_awkward_names_and_paths(tmp_path):
    part = 'left arm [x] "$y" {z}\\n\n'
    doc = RotoDocument(width=40, height=30, first_frame=1, last_frame=1,
                       shapes=[Shape.static("p1_odd", 1, part, 1, 1, ellipse(20, 15, 6, 8))])
    out = exr.write_to_file(doc, tmp_path / "with space $HOME [1]" / "odd.####.exr")
    header, channels = read_exr(out[0])
    layer = [c for c in channels if not c.startswith("Crypto")]
    assert sorted(layer) == ["A", "p1_left_arm_x_y_z_n.A"]
    manifests = [json.loads(v) for k, v in header.items() if k.endswith("/manifest")]
    assert {f"p1/{part}", "p1"} == {n for m in manifests for n in m}
    assert json.loads(header["m2fp/layers"])["p1_left_arm_x_y_z_n"]["part"] == part


def test_layer_name_clash_is_refused(tmp_path):
    doc = RotoDocument(width=40, height=30, first_frame=1, last_frame=1, shapes=[
        Shape.static("a", 1, "left arm", 1, 1, ellipse(10, 10, 4, 4)),
        Shape.static("b", 1, "left_arm", 1, 1, ellipse(30, 10, 4, 4))])
    with pytest.raises(InputError, match="both become the EXR layer 'p1_left_arm'"):
        exr.write_to_file(doc, tmp_path / "x.#.exr")


def test_failed_write_keeps_the_old_file(doc, tmp_path, monkeypatch):
    out = exr.write_to_file(doc, tmp_path / "a.####.exr", frames=[1001])[0]
    before = out.read_bytes()

    def broken(self, filename):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(OpenEXR.File, "write", broken)
    with pytest.raises(RotoError, match="disk full"):
        exr.write_to_file(doc, tmp_path / "a.####.exr", frames=[1001])
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.1001.exr"]


def test_cli_export_from_a_document(doc, tmp_path):
    from click.testing import CliRunner

    from m2fp_roto.cli.main import main

    doc.save(tmp_path / "shot.json")
    result = CliRunner().invoke(main, ["export", "--doc", str(tmp_path / "shot.json"), "--target", "exr",
                                       "--part", "hair", "--cryptomatte", "false", "--compression", "zip",
                                       "-o", str(tmp_path / "out" / "shot.####.exr")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    header, channels = read_exr(tmp_path / "out" / "shot.1002.exr")
    assert sorted(channels) == ["A", "p1_hair.A", "p2_hair.A"] and header["compression"] == OpenEXR.ZIP_COMPRESSION


def test_modules_stay_light_and_their_examples_run():
    import doctest
    import subprocess
    import sys

    from m2fp_roto_exporters.exr import coverage, cryptomatte

    code = ("import sys, m2fp_roto_exporters.exr, m2fp_roto_exporters.exr.coverage, m2fp_roto_exporters.exr.cryptomatte; "
            "print(sorted({'OpenEXR', 'mmh3', 'OpenImageIO'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for module in (exr, coverage, cryptomatte):
        assert doctest.testmod(module).failed == 0, module.__name__
