"""Every command behaves: one-line errors, options that act or are refused, outputs named and
numbered as an artist expects. One test per behaviour, run through the real command line (the
signal handling lives in test_cli_signals.py, the random search in test_cli_fuzz.py)."""

import json
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from click.testing import CliRunner
from PIL import Image

from m2fp_roto.bezier import flatten
from m2fp_roto.cli.main import main
from m2fp_roto.document import RotoDocument
from m2fp_roto.geometry import polygon_area
from support.ae_node import synthetic_document
from support.tiny_shot import write_shot

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"json": "out.json", "nuke": "out.nk", "ae": "out.jsx", "exr": "out.####.exr"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def messages(result) -> list[str]:
    """stderr without progress lines."""
    return [ln for ln in result.stderr.splitlines() if not ln.startswith("PROGRESS")]


def assert_one_line_error(result, *needles):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = messages(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def files(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny shot")
    return write_shot(folder, 6)


@pytest.fixture(scope="module")
def doc_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("doc") / "shot.json"
    synthetic_document(frames=(1001, 1010), width=320, height=180).save(path)
    return path


def raw(doc_path) -> dict:
    return json.loads(Path(doc_path).read_text())


def write_json(path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def grey_maps(folder, frames, draw, name="m") -> str:
    """Grey label maps ``name.NNNN.png`` from ``draw(frame) -> uint8 array``."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        Image.fromarray(draw(f)).save(folder / f"{name}.{f:04d}.png")
    return str(folder / f"{name}.####.png")


def square(f):
    arr = np.zeros((40, 60), np.uint8)
    arr[10:30, 10 + f % 5:40 + f % 5] = 13  # a face: CIHP id 13
    return arr


# -- 3: --doc with options that cannot apply, and the ones that can -------------------------------

def test_doc_applies_frames_and_fps_and_refuses_what_cannot_apply(doc_path, tmp_path):
    r = run("export", "--doc", doc_path, "--frames", "1003-1005", "-o", tmp_path / "x.####.exr")
    assert r.exit_code == 0, r.output
    assert files(tmp_path) == ["x.1003.exr", "x.1004.exr", "x.1005.exr"]  # a farm chunk, not 10 files
    r = run("export", "--doc", doc_path, "--frames", "1002-1004", "--fps", "25", "-o", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    cut, full = RotoDocument.load(tmp_path / "c.json"), RotoDocument.load(doc_path)
    assert (cut.first_frame, cut.last_frame, cut.fps) == (1002, 1004, 25.0)
    for s in cut.shapes:  # trimmed exactly: every kept frame looks as before
        whole = next(w for w in full.shapes if w.name == s.name)
        for f in range(s.frames[0], s.frames[1] + 1):
            np.testing.assert_allclose(s.points_at(f), whole.points_at(f), atol=1e-4)
    for option, value in (("--tolerance", "1"), ("--first-frame", "5"), ("--no-track", None), ("--people", "x")):
        r = run("export", "--doc", doc_path, option, *([value] if value else []), "-o", tmp_path / "n.nk")
        assert_one_line_error(r, f"{option} does not apply to --doc")
    r = run("export", "--doc", doc_path, "--frames", "1001-1010x2", "-o", tmp_path / "g.nk")
    assert_one_line_error(r, "has gaps")
    assert not (tmp_path / "n.nk").exists() and not (tmp_path / "g.nk").exists()


def test_model_options_do_not_apply_to_label_maps(shot, tmp_path):
    labels, _ = shot
    r = run("export", "--labels", labels, "--device", "cuda", "--cache", tmp_path / "c", "-o", tmp_path / "x.json")
    assert_one_line_error(r, "--device, --cache do not apply to --labels (only to a PLATE")


# -- 4: --skip-missing skips an unreadable frame -------------------------------------------------

def test_skip_missing_skips_an_unreadable_frame(tmp_path):
    labels = grey_maps(tmp_path / "maps", range(1001, 1006), square)
    broken = tmp_path / "maps" / "m.1003.png"
    broken.write_bytes(broken.read_bytes()[:60])  # truncated
    r = run("export", "--labels", labels, "-o", tmp_path / "a.json")
    assert_one_line_error(r, "m.1003.png")
    r = run("export", "--labels", labels, "--skip-missing", "-o", tmp_path / "b.json")
    assert r.exit_code == 0, r.output
    assert any("frame 1003" in ln and "skipped" in ln for ln in messages(r))
    doc = RotoDocument.load(tmp_path / "b.json")
    assert (doc.first_frame, doc.last_frame) == (1001, 1005) and doc.metadata["source_frames"] == "1001-1002,1004-1005"
    assert doc.metadata["skipped_frames"] == "1003"
    assert "1 frame(s) skipped (1003)" in r.output
    # A skipped frame has nothing to key: shapes are interpolated through it, never keyed there.
    assert doc.shapes and all(k.frame != 1003 for s in doc.shapes for k in s.keys)


# -- 5: one line instead of a traceback ------------------------------------------------------------

def test_os_and_range_errors_are_one_line(doc_path, shot, tmp_path):
    labels, _ = shot
    (tmp_path / "taken.json").mkdir()
    assert_one_line_error(run("export", "--doc", doc_path, "-o", tmp_path / "taken.json"), "is a folder")
    assert_one_line_error(run("export", "--doc", doc_path, "-o", "/dev/null/x.json"), "error: /dev/null: is a file, not a folder")
    assert_one_line_error(run("export", "--labels", labels, "--frames", "1-100000000", "-o", tmp_path / "x.json"),
                          "1-100000000")
    assert_one_line_error(run("preview", doc_path, "--frames", "1-100000000", "-o", tmp_path / "p.####.png"),
                          "1-100000000")
    data = raw(doc_path)
    data["shapes"][0]["keys"][0]["points"][1] = [1, 2, 3]
    bad = write_json(tmp_path / "ragged.json", data)
    assert_one_line_error(run("export", "--doc", bad, "-o", tmp_path / "x.nk"), "rows of 6 numbers")
    data = raw(doc_path)
    data["shapes"][0]["keys"][0]["points"][0][0] = 1e300
    huge = write_json(tmp_path / "huge.json", data)
    assert_one_line_error(run("preview", huge, "-o", tmp_path / "p.####.png"), "frame sizes outside")
    assert files(tmp_path) == ["huge.json", "ragged.json"]


# -- 6: one validation for every target ------------------------------------------------------------

@pytest.mark.parametrize("value, needle", [
    (1e300, "more than 4 frame sizes outside"), (-3000.0, "more than 4 frame sizes outside"),
    ("12", "rows of 6 numbers"), (None, "rows of 6 numbers")])
def test_bad_coordinates_are_refused_alike_by_every_target(doc_path, tmp_path, value, needle):
    data = raw(doc_path)
    name = data["shapes"][1]["name"]
    frame = data["shapes"][1]["keys"][1]["frame"]
    data["shapes"][1]["keys"][1]["points"][2][0] = value
    bad = write_json(tmp_path / "bad.json", data)
    seen = set()
    for target, out in TARGETS.items():
        seen.add(assert_one_line_error(run("export", "--doc", bad, "-t", target, "-o", tmp_path / "o" / out),
                                       needle, repr(name), f"frame {frame}"))
    seen.add(assert_one_line_error(run("preview", bad, "-o", tmp_path / "o" / "p.####.png"), needle))
    seen.add(assert_one_line_error(run("info", bad), needle))
    assert len(seen) == 1  # the same words from every command
    assert not (tmp_path / "o").exists()


def test_holes_need_a_parent_and_a_reversed_lifetime_is_named(doc_path, tmp_path):
    data = raw(doc_path)
    hole = next(s for s in data["shapes"] if s["hole"])
    del hole["parent"]
    assert_one_line_error(run("info", write_json(tmp_path / "h.json", data)), f"hole {hole['name']!r} names no parent")
    data = raw(doc_path)
    data["shapes"][0]["frames"] = data["shapes"][0]["frames"][::-1]
    assert_one_line_error(run("info", write_json(tmp_path / "r.json", data)), "is reversed")
    data = raw(doc_path)
    data["shapes"][0]["hole"] = "false"
    assert_one_line_error(run("info", write_json(tmp_path / "t.json", data)), "hole must be true or false")


# -- 7: preview into a folder ----------------------------------------------------------------------

def test_preview_into_a_folder_writes_inside_it(doc_path, tmp_path):
    r = run("preview", doc_path, "--frames", "1001-1002", "-o", f"{tmp_path / 'd2'}/")
    assert r.exit_code == 0, r.output
    assert files(tmp_path) == ["shot.1001.png", "shot.1002.png"] and (tmp_path / "d2" / "shot.1001.png").is_file()
    assert any("created the folder" in ln for ln in messages(r))
    assert run("preview", doc_path, "--frames", "1003", "-o", tmp_path / "d2" / "q.####").exit_code == 0
    assert (tmp_path / "d2" / "q.1003.png").is_file()
    assert_one_line_error(run("preview", doc_path, "-o", tmp_path / "x.####.txt"), "PNG, JPEG or TIFF")
    assert_one_line_error(run("preview", doc_path, "--label-set", "lip", "-o", tmp_path / "y.png"), "--over")


# -- 8: one label map keeps its frame number -------------------------------------------------------

def test_single_label_map_keeps_its_frame_number(tmp_path):
    grey_maps(tmp_path, [1003], square, name="shot")
    single = tmp_path / "shot.1003.png"
    assert run("export", "--labels", single, "-o", tmp_path / "a.json").exit_code == 0
    doc = RotoDocument.load(tmp_path / "a.json")
    assert (doc.first_frame, doc.last_frame) == (1003, 1003) and doc.source == str(single)
    assert run("export", "--labels", single, "--first-frame", "1101", "-o", tmp_path / "b.json").exit_code == 0
    assert RotoDocument.load(tmp_path / "b.json").first_frame == 1101
    r = run("export", "--labels", tmp_path / "shot.####.png", "--first-frame", "1", "-o", tmp_path / "c.json")
    assert_one_line_error(r, "--first-frame renumbers a single image")


# -- 9: an empty result is an error for every target -----------------------------------------------

def test_empty_results_are_errors_for_every_target(doc_path, tmp_path):
    empty = grey_maps(tmp_path / "zero", range(1, 4), lambda f: np.zeros((20, 30), np.uint8))
    for target, out in TARGETS.items():
        assert_one_line_error(run("export", "--labels", empty, "-t", target, "-o", tmp_path / "o" / out), "no shapes")
        assert_one_line_error(run("export", "--doc", doc_path, "--person", "99", "-t", target,
                                  "-o", tmp_path / "o" / out), "no shapes for person 99", "people 1, 2")
        assert_one_line_error(run("export", "--doc", doc_path, "--part", "hiar", "-t", target,
                                  "-o", tmp_path / "o" / out), "unknown part(s) hiar", "hat, hair, glove")
    assert not (tmp_path / "o").exists()
    r = run("export", "--doc", doc_path, "--person", "1,99", "-o", tmp_path / "p.json")  # partly: a warning
    assert r.exit_code == 0 and any("no shapes for person 99" in ln for ln in messages(r))


# -- 11: an output named for another target ------------------------------------------------------

def test_output_named_for_another_target_is_refused(doc_path, tmp_path):
    assert_one_line_error(run("export", "--doc", doc_path, "-t", "nuke", "-o", tmp_path / "x.jsx"),
                          "'x.jsx' is named for the 'ae' target", ".nk")
    assert run("export", "--doc", doc_path, "-t", "nuke", "-o", tmp_path / "x.txt").exit_code == 0  # nobody's
    assert files(tmp_path) == ["x.txt"]


# -- 12: soft mattes -------------------------------------------------------------------------------

def disk(radius=30.0, blur=2.0, size=(96, 128), centre=(64.3, 47.6)):
    from scipy.ndimage import gaussian_filter

    yy, xx = np.mgrid[:size[0] * 4, :size[1] * 4] / 4.0 + 0.125
    hard = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius ** 2).astype(np.float64)
    cover = hard.reshape(size[0], 4, size[1], 4).mean(axis=(1, 3))  # anti-aliased
    return np.clip(gaussian_filter(cover, blur), 0, 1)


def matte_area(tmp_path, name, image, *extra):
    image.save(tmp_path / f"{name}.0001.png")
    r = run("export", "--labels", tmp_path / f"{name}.####.png", "--label-set", "matte", *extra,
            "-o", tmp_path / f"{name}.json")
    assert r.exit_code == 0, r.output
    doc = RotoDocument.load(tmp_path / f"{name}.json")
    return sum(polygon_area(flatten(s.points_at(1))) * (-1 if s.hole else 1) for s in doc.shapes)


def test_soft_matte_keeps_its_size_and_rgb_mattes_are_read(tmp_path):
    soft = disk()
    truth = np.pi * 30.0 ** 2  # the 50 % iso-line of a blurred disk is (nearly) the disk
    grey = Image.fromarray(np.round(soft * 255).astype(np.uint8))
    area = matte_area(tmp_path, "grey", grey)
    assert abs(area - truth) < 0.01 * truth, (area, truth)  # any non-zero pixel: +20 %
    rgb = Image.fromarray(np.round(np.dstack([soft * 255] * 3)).astype(np.uint8), "RGB")
    assert matte_area(tmp_path, "rgb", rgb) == pytest.approx(area, rel=1e-3)
    assert matte_area(tmp_path, "low", grey, "--matte-threshold", "0.1") > 1.1 * truth
    r = run("export", "--labels", tmp_path / "grey.####.png", "--matte-threshold", "0.5", "-o", tmp_path / "x.json")
    assert_one_line_error(r, "--matte-threshold applies to --label-set matte only")


def test_soft_matte_outline_is_sub_pixel(tmp_path):
    """The outline follows the matte's 50 % iso-line between pixel centres, not its staircase."""
    soft = disk(radius=25.0, blur=1.0)
    matte_area(tmp_path, "aa", Image.fromarray(np.round(soft * 255).astype(np.uint8)), "--no-track",
               "--tolerance", "0.1")
    xy = flatten(RotoDocument.load(tmp_path / "aa.json").shapes[0].points_at(1))
    error = np.abs(np.hypot(xy[:, 0] - 64.3, xy[:, 1] - 47.6) - 25.0)
    assert error.mean() < 0.08 and error.max() < 0.2, (error.mean(), error.max())  # thresholded: 0.13, 0.6


# -- 13: messages and help -------------------------------------------------------------------------

def test_usage_errors_are_one_line_naming_the_help(tmp_path):
    line = assert_one_line_error(run("export", "--bogus", "-o", tmp_path / "x.json"))
    assert line.startswith("error: no such option '--bogus'") and line.endswith("(see m2fp-roto export --help)")
    assert_one_line_error(run("export", "-o", tmp_path / "x.json"), "give exactly one input")
    assert_one_line_error(run("export", "--doc", "x.json", "--fps", "fast", "-o", "y.json"), "--fps", "fast")


def test_paths_are_shown_as_artists_write_them(tmp_path):
    labels = grey_maps(tmp_path / "seq", [1001, 1002, 1004, 1005, 1006], square, name="shot")
    line = assert_one_line_error(run("export", "--labels", labels, "-o", tmp_path / "x.json"))
    assert "missing frame(s) 1003 of " + labels in line and "####.png" in line and "1001-" not in line
    r = run("export", "--labels", labels, "--skip-missing", "-o", tmp_path / "a.jsx")
    assert r.exit_code == 0, r.output
    assert "var M2FP_DATA = {schema:\"m2fp-roto/ae/1\",name:\"shot roto\"" in (tmp_path / "a.jsx").read_text()


def test_help_texts_say_what_the_commands_do():
    assert "two walking figures" in " ".join(run("demo", "--help").output.split())
    parse_help = " ".join(run("parse", "--help").output.split())
    assert "in the current folder" in parse_help and "beside the output" not in parse_help
    readme = (ROOT / "README.md").read_text()
    test_command = next(ln for ln in readme.splitlines() if "pip install -e \".[test" in ln)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    around = readme[readme.index(test_command) - 600:readme.index(test_command) + 800]
    assert "GB" in around  # the test install downloads torch with its CUDA libraries


# -- 14: the source is the pattern as written, and the frames read ---------------------------------

def test_source_is_the_pattern_and_the_frames_read(tmp_path):
    folder = tmp_path / "rollerblade"  # as a clip is often shipped: 00000.png, 00001.png ...
    folder.mkdir()
    for f in range(10):
        Image.fromarray(square(f)).save(folder / f"{f:05d}.png")
    r = run("export", "--labels", folder, "--frames", "3-5", "-o", tmp_path / "a.####.exr")
    assert r.exit_code == 0, r.output
    header = OpenEXR.File(str(tmp_path / "a.0004.exr")).header()
    assert header["m2fp/source"] == str(folder / "#####.png")
    assert json.loads(header["m2fp/document"])["source_frames"] == "3-5"
    assert run("export", "--labels", folder / "#####.png", "--frames", "0-9x3", "-o", tmp_path / "b.jsx").exit_code == 0
    text = (tmp_path / "b.jsx").read_text()
    assert 'name:"rollerblade roto"' in text
    assert run("export", "--labels", folder / "#####.png", "--frames", "0-9x3", "-o", tmp_path / "b.json").exit_code == 0
    doc = RotoDocument.load(tmp_path / "b.json")
    assert doc.source == str(folder / "#####.png") and doc.metadata["source_frames"] == "0-9x3"
    assert run("export", "--labels", folder / "00004.png", "-o", tmp_path / "c.json").exit_code == 0
    doc = RotoDocument.load(tmp_path / "c.json")
    assert doc.source == str(folder / "00004.png") and doc.metadata["source_frames"] == "4"


# -- 16: -v after the command ----------------------------------------------------------------------

def test_verbose_flag_after_any_command(shot, tmp_path):
    labels, people = shot
    r = run("export", "--labels", labels, "--people", people, "--frames", "1001-1002", "--min-area", "400", "-v",
            "-o", tmp_path / "v.json")
    assert r.exit_code == 0, r.output
    assert any(ln.startswith("info: frame 1001: dropped") for ln in messages(r))  # said so with -v
    assert run("install", "nuke", "--print", "-v").exit_code == 0
    assert run("info", "-vv", tmp_path / "v.json").exit_code == 0


# -- beyond the list: info -------------------------------------------------------------------------

def test_info_lists_shapes_as_a_table_and_json(doc_path):
    doc = RotoDocument.load(doc_path)
    r = run("info", doc_path)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{doc_path}: 320x180, pixel aspect 1, 24 fps, frames 1001-1010 (10)")
    header = next(i for i, ln in enumerate(lines) if ln.startswith("shape "))
    rows = [ln.split() for ln in lines[header + 1:]]
    assert [r[0] for r in rows] == [s.name for s in doc.shapes]
    hole = next(s for s in doc.shapes if s.hole)
    assert next(r for r in rows if r[0] == hole.name)[3] == hole.parent
    assert {r[0]: int(r[-2]) for r in rows} == {s.name: len(s.keys) for s in doc.shapes}
    data = json.loads(run("info", doc_path, "--json").stdout)
    assert data["people"] == [1, 2] and len(data["shapes"]) == len(doc.shapes)
    assert {s["name"]: s["points"] for s in data["shapes"]} == {s.name: s.n_points for s in doc.shapes}
    assert data["keys"] == sum(len(s.keys) for s in doc.shapes)
