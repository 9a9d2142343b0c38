"""The After Effects target: generated .jsx checked as ES3 and executed against the AE mock."""

from __future__ import annotations

import numpy as np
import pytest

from m2fp_roto.document import Key, RotoDocument, Shape
from m2fp_roto.errors import InputError
from m2fp_roto_exporters import ae
from m2fp_roto_exporters.jstext import js_string
from support.ae_node import PANEL, RUNTIME, masks_of, shape_rows, synthetic_document, write_script

TOL = 0.01  # px: vertices and tangents in AE equal the document's within this, on every key


def assert_round_trip(doc: RotoDocument, masks: list[dict], time_of, scale=(1.0, 1.0)):
    """Every mask: name, order, mode, and every key's time, vertices and tangents."""
    order = ae.mask_order(doc)
    assert [m["name"] for m in masks] == [s.name for s in order]
    worst = 0.0
    for shape, mask in zip(order, masks):
        assert mask["mode"] == ("SUBTRACT" if shape.hole else "ADD")
        keys = mask["path"]["keys"]
        if len(shape.keys) == 1:  # a static shape: a plain value, no keyframe
            assert keys == [], shape.name
            keys = [{"value": mask["path"]["value"]}]
        assert len(keys) == len(shape.keys), shape.name
        for key, ae_key in zip(shape.keys, keys):
            if "time" in ae_key:
                assert ae_key["time"] == pytest.approx(time_of(key.frame), abs=1e-9)
                assert ae_key["in"] == ae_key["out"] == "LINEAR"
            assert ae_key["value"]["closed"] is True
            got = shape_rows(ae_key["value"])
            want = key.points * np.repeat([scale], 3, axis=0).ravel()
            worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= TOL
    return worst


def test_round_trip_new_comp_with_solid(jsx, tmp_path):
    doc = synthetic_document()
    script = write_script(doc, tmp_path / "shot_masks.jsx")
    report = jsx.run([script])
    assert report["error"] is None
    comp = report["dump"]["comps"][0]
    assert (comp["width"], comp["height"], comp["frameRate"], comp["pixelAspect"]) == (640, 360, 24, 1)
    assert comp["duration"] == pytest.approx((doc.last_frame - doc.first_frame + 1) / doc.fps)
    assert comp["displayStartFrame"] == doc.first_frame and comp["openedInViewer"]
    layer = comp["layers"][0]
    assert layer["source"]["file"] is None and layer["startTime"] == 0
    assert_round_trip(doc, layer["masks"], lambda f: (f - doc.first_frame) / doc.fps)
    calls = report["dump"]["calls"]
    multi = sum(len(s.keys) > 1 for s in doc.shapes)
    assert calls["setValuesAtTimes"] == multi + 1  # one per keyed mask path + the glove's opacity
    assert "setValueAtTime" not in calls
    assert calls["beginUndoGroup"] == calls["endUndoGroup"] == 1 and report["dump"]["undo"]["depth"] == 0
    assert report["dump"]["alerts"] == [report["results"][0]]  # run on its own: one summary alert
    assert f"{len(doc.shapes)} masks" in report["results"][0]


def test_holes_subtract_right_after_their_parent(jsx, tmp_path):
    doc = synthetic_document(people=1)
    masks = masks_of(jsx.run([write_script(doc, tmp_path / "a.jsx")]))
    names = [m["name"] for m in masks]
    i = names.index("p1_upper_clothes_hole1")
    assert names[i - 1] == "p1_upper_clothes" and masks[i]["mode"] == "SUBTRACT"
    assert {m["mode"] for m in masks if "hole" not in m["name"]} == {"ADD"}
    masks = masks_of(jsx.run([write_script(doc, tmp_path / "b.jsx", mask_mode="none")]))
    assert {m["mode"] for m in masks} == {"NONE"}


def _comp_with_layer(footage_file, start, stretch=100, width=640, height=360):
    setup = {"comps": [{"name": "edit", "width": width, "height": height, "frameRate": 24, "duration": 30,
                        "active": True,
                        "layers": [{"name": "other", "startTime": 0},
                                   {"name": "plate", "startTime": start, "stretch": stretch, "selected": True,
                                    **({"footage": 0} if footage_file else {"width": width, "height": height})}]}]}
    if footage_file:
        setup["footage"] = [{"name": "plate", "file": str(footage_file), "width": width, "height": height,
                             "frameRate": 24, "frames": 40}]
    return setup


@pytest.mark.parametrize("start", [0.0, 2.5])
def test_selected_sequence_layer_maps_plate_frames_to_comp_time(jsx, tmp_path, start):
    """Source time 0 is the footage's first file (here frame 995); the layer starts at `start`."""
    first_file = tmp_path / "plate.0995.exr"
    first_file.write_bytes(b"")
    doc = synthetic_document(people=1)
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")], setup=_comp_with_layer(first_file, start))
    assert report["error"] is None and len(report["dump"]["comps"]) == 1  # no new comp
    layers = report["dump"]["comps"][0]["layers"]
    assert layers[0]["masks"] == []
    assert_round_trip(doc, layers[1]["masks"], lambda f: start + (f - 995) / 24)


def test_selected_solid_starting_later_and_stretched(jsx, tmp_path):
    """Without a numbered file the document's first frame is at the layer's start."""
    doc = synthetic_document(people=1)
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")], setup=_comp_with_layer(None, 4.0, stretch=200))
    assert_round_trip(doc, masks_of(report, 0, 1), lambda f: 4.0 + 2 * (f - doc.first_frame) / 24)


def test_half_size_layer_gets_scaled_masks(jsx, tmp_path):
    doc = synthetic_document(people=1)
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")],
                     setup=_comp_with_layer(None, 0.0, width=320, height=180))
    assert_round_trip(doc, masks_of(report, 0, 1), lambda f: (f - doc.first_frame) / 24, scale=(0.5, 0.5))
    assert "scaled" in report["results"][0]


def test_plate_sequence_is_imported_into_a_new_comp(jsx, tmp_path):
    from PIL import Image

    plates = tmp_path / "plates dir"
    plates.mkdir()
    for f in range(1001, 1016):
        Image.new("RGB", (640, 360)).save(plates / f"shot.{f:04d}.png")
    doc = synthetic_document(people=1, frames=(1003, 1014), plate=str(plates / "shot.####.png"))
    doc.pixel_aspect = 2.0
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")], setup={"importFrameRate": 30})
    assert report["error"] is None
    footage = report["dump"]["footage"][0]
    assert footage["file"] == str(plates / "shot.1001.png")  # AE imports the whole sequence
    assert footage["frameRate"] == 24 and footage["pixelAspect"] == 2.0  # conformed to the document
    comp = report["dump"]["comps"][0]
    assert comp["pixelAspect"] == 2.0 and comp["displayStartFrame"] == 1003
    layer = comp["layers"][0]
    assert layer["source"]["file"] == str(plates / "shot.1001.png")
    assert layer["startTime"] == pytest.approx(-2 / 24)  # frame 1003 lands at comp time 0
    assert_round_trip(doc, layer["masks"], lambda f: (f - 1003) / 24)


def test_missing_plate_falls_back_to_a_solid_and_says_so(jsx, tmp_path):
    doc = synthetic_document(people=1, plate=str(tmp_path / "gone" / "shot.####.exr"))
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")])
    assert "plate not found" in report["results"][0]
    assert report["dump"]["comps"][0]["layers"][0]["source"]["file"] is None
    assert "importFile" not in report["dump"]["calls"]


def test_short_lifetime_is_keyed_on_mask_opacity(jsx, tmp_path):
    doc = synthetic_document(people=1, frames=(1001, 1012))
    glove = next(s for s in doc.shapes if s.part == "glove")
    masks = masks_of(jsx.run([write_script(doc, tmp_path / "s.jsx")]))
    by_name = {m["name"]: m for m in masks}
    keys = by_name[glove.name]["opacity"]["keys"]
    lo, hi = glove.frames
    assert [(round(k["time"] * 24), k["value"], k["out"]) for k in keys] == [
        (lo - 1 - 1001, 0, "HOLD"), (lo - 1001, 100, "HOLD"), (hi + 1 - 1001, 0, "HOLD")]
    # Shapes alive over the whole shot keep a static, un-keyed opacity.
    assert by_name["p1_hair"]["opacity"]["keys"] == [] and by_name["p1_hair"]["opacity"]["value"] == 100


def test_hidden_frames_are_keyed_off_on_mask_opacity(jsx, tmp_path):
    """A part out of sight for a few frames: opacity 0 on exactly those frames (hold keys)."""
    doc = synthetic_document(people=1, frames=(1001, 1012))
    hair = next(s for s in doc.shapes if s.name == "p1_hair")
    hair.hidden = ((1004, 1005), (1012, 1012))
    masks = {m["name"]: m for m in masks_of(jsx.run([write_script(doc, tmp_path / "s.jsx")]))}
    keys = masks["p1_hair"]["opacity"]["keys"]
    assert [(round(k["time"] * 24) + 1001, k["value"], k["out"]) for k in keys] == [
        (1001, 100, "HOLD"), (1004, 0, "HOLD"), (1006, 100, "HOLD"), (1012, 0, "HOLD")]


def test_keys_are_made_linear_when_ae_defaults_differ(jsx, tmp_path):
    doc = synthetic_document(people=1)
    report = jsx.run([write_script(doc, tmp_path / "s.jsx")], setup={"defaultInterpolation": "BEZIER"})
    assert_round_trip(doc, masks_of(report), lambda f: (f - doc.first_frame) / 24)
    keyed = sum(len(s.keys) for s in doc.shapes if len(s.keys) > 1)
    assert report["dump"]["calls"]["setInterpolationTypeAtKey"] == keyed + 3  # + the glove's hold keys


def test_static_shape_is_set_without_keys_and_ntsc_times_use_ae_frame_duration(jsx, tmp_path):
    doc = RotoDocument(width=100, height=80, first_frame=1, last_frame=48, fps=24000 / 1001)
    pts = [[10, 10, 0, 0, 1, 0], [50, 10, 0, 0, 0, 1], [30, 60, 0, 0, 0, 0]]
    doc.shapes.append(Shape.static("p1_face", 1, "face", 1, 48, pts))
    doc.shapes.append(Shape("p1_hair", 1, "hair", (1, 48), [Key(1, pts), Key(48, np.asarray(pts) + 1)]))
    masks = masks_of(jsx.run([write_script(doc, tmp_path / "s.jsx")]))
    assert masks[0]["path"]["keys"] == [] and shape_rows(masks[0]["path"]["value"]) == pytest.approx(np.asarray(pts, float))
    assert masks[1]["path"]["keys"][1]["time"] == pytest.approx(47 * 1001 / 24000, abs=1e-9)


NASTY = ['"', "'", "\\", "a\nb", "c\rd", "\u2028", "\u2029", "</script><script>alert(1)</script>",
         "caf\u00e9 \u4eba", "\U0001F600 astral", "*/ x /*", "${x}", "\x00nul", "tab\tbed",
         '"});$.global.PWNED=1;//', "');$.global.PWNED=1;//", "\\\");$.global.PWNED=1;//"]


def test_js_string_round_trips_every_character_in_pure_ascii(jsx, tmp_path):
    literal = "[" + ",".join(js_string(s) for s in NASTY) + "]"
    assert literal.isascii() and "\n" not in literal and "</" not in literal
    probe = tmp_path / "probe.jsx"
    probe.write_text(f"(function () {{ var a = {literal}, out = [], i, j, s;\n"
                     "for (i = 0; i < a.length; i++) { s = []; for (j = 0; j < a[i].length; j++) { s.push(a[i].charCodeAt(j)); }"
                     " out.push(s.join(' ')); } return out.join('|'); })();\n", encoding="ascii")
    report = jsx.run([probe])
    units = [np.frombuffer(s.encode("utf-16-le"), "<u2").tolist() for s in NASTY]  # JS strings are UTF-16
    want = "|".join(" ".join(map(str, u)) for u in units)
    assert report["results"][0] == want


def test_no_name_or_path_can_run_code(jsx, tmp_path):
    doc = synthetic_document(people=1, parts=("hair",), plate='/x/\'");$.global.PWNED=1;//\n/shot.####.exr')
    base = doc.shapes[0]
    doc.shapes = [Shape(name, 1, f"part {i} {name}", base.frames, base.keys) for i, name in enumerate(NASTY)]
    doc.source = "\u2028$.global.PWNED=1"
    script = write_script(doc, tmp_path / "evil.jsx")
    text = script.read_bytes()
    assert text.isascii()
    assert jsx.check_es3(script) == {str(script): []}
    report = jsx.run([script], probe=["PWNED"])
    assert report["error"] is None and report["probe"] == {"PWNED": False}
    assert [m["name"] for m in masks_of(report)] == NASTY


def test_generated_runtime_and_panel_are_es3_and_ascii(jsx, tmp_path):
    script = write_script(synthetic_document(), tmp_path / "s.jsx")
    files = [script, RUNTIME, PANEL]
    assert jsx.check_es3(*files) == {str(f): [] for f in files}


def test_the_mock_enforces_documented_ae_behaviour(jsx, tmp_path):
    """Each snippet breaks one rule; the mock must refuse it the way AE does."""
    pre = ("var comp = app.project.items.addComp('c', 100, 100, 1, 1, 24);"
           "var layer = comp.layers.addSolid([1,1,1], 's', 100, 100, 1);"
           "var masks = layer.property('ADBE Mask Parade');"
           "function sh(v, t) { var s = new Shape(); s.vertices = v; s.inTangents = t; s.outTangents = t; s.closed = true; return s; }"
           "var V = [[0,0],[10,0],[5,9]], T = [[0,0],[0,0],[0,0]];")
    cases = {
        "stale": "var a = masks.addProperty('ADBE Mask Atom'); masks.addProperty('ADBE Mask Atom'); a.name = 'x';",
        "keyed": "var p = masks.addProperty('ADBE Mask Atom').property('ADBE Mask Shape');"
                 "p.setValuesAtTimes([0, 1], [sh(V, T), sh(V, T)]); p.setValue(sh(V, T));",
        "tangents": "masks.addProperty('ADBE Mask Atom').property('ADBE Mask Shape').setValue(sh(V, [[0,0]]));",
        "nan": "masks.addProperty('ADBE Mask Atom').property('ADBE Mask Shape').setValue(sh([[0,0],[NaN,1],[2,2]], T));",
        "lengths": "masks.addProperty('ADBE Mask Atom').property('ADBE Mask Shape').setValuesAtTimes([0, 1], [sh(V, T)]);",
        "forEach": "[1, 2].forEach(function () {});",
        "json": "JSON.stringify({});",
        "undo": "app.endUndoGroup();",
    }
    for name, body in cases.items():
        path = tmp_path / f"{name}.jsx"
        path.write_text(pre + body)
        assert jsx.run([path])["error"] is not None, name
    ok = tmp_path / "ok.jsx"
    ok.write_text(pre + "masks.addProperty('ADBE Mask Atom'); masks.addProperty('ADBE Mask Atom');"
                  "masks.property(1).name = 'refetched';")
    assert jsx.run([ok])["error"] is None


def test_a_layer_that_cannot_hold_masks_gives_a_readable_alert(jsx, tmp_path):
    setup = {"comps": [{"name": "c", "width": 640, "height": 360, "frameRate": 24, "duration": 5, "active": True,
                        "layers": [{"name": "Camera 1", "noMasks": True, "selected": True}]}]}
    report = jsx.run([write_script(synthetic_document(people=1), tmp_path / "s.jsx")], setup=setup)
    assert report["error"] is None and report["dump"]["undo"]["depth"] == 0
    assert report["dump"]["alerts"] == [
        'm2fp-roto could not build the masks: the layer "Camera 1" cannot hold masks; select a footage or solid layer']


def test_write_to_file_is_ascii_and_bad_options_are_one_line_errors(tmp_path):
    doc = synthetic_document(people=1)
    out = tmp_path / "deep" / "shot masks.jsx"
    assert ae.write_to_file(doc, out) == [out]
    assert out.read_bytes().isascii() and out.read_text().startswith("//@target aftereffects\n")
    assert not list(out.parent.glob(".*tmp*"))
    with pytest.raises(InputError, match="mask-mode"):
        ae.write_to_string(doc, mask_mode="subtract")
    with pytest.raises(InputError, match="decimals"):
        ae.write_to_string(doc, decimals=9)
    coarse = ae.write_to_string(doc, decimals=0)
    assert len(coarse) < len(ae.write_to_string(doc, decimals=3))


def test_plate_info_reads_every_sequence_spelling():
    assert ae.plate_info(None, 1001) is None
    assert ae.plate_info("/a b/shot.####.exr", 1001) == {"path": "/a b/shot.1001.exr", "sequence": True}
    assert ae.plate_info("/a/shot.%04d.dpx", 7) == {"path": "/a/shot.0007.dpx", "sequence": True}
    assert ae.plate_info("/a/clip.mov", 1) == {"path": "/a/clip.mov", "sequence": False}


@pytest.fixture(scope="module")
def cihp_document(tmp_path_factory):
    """A tracked 4-frame, 4-person document from a real CIHP label map (moved 2 px right and
    1 px down per frame, so the tracker has motion to follow)."""
    from PIL import Image

    from conftest import shared_path
    from m2fp_roto.pipeline import build_document
    from m2fp_roto.sources.labelmaps import LabelMapSource

    data = shared_path("data", "cihp_train_slice")
    folder = tmp_path_factory.mktemp("cihp shot")
    maps = {"labels": np.array(Image.open(data / "Category_ids" / "0000007.png")),
            "people": np.array(Image.open(data / "Human_ids" / "0000007.png"))}
    for k in range(4):
        for kind, image in maps.items():
            moved = np.zeros_like(image)
            moved[k:, 2 * k:] = image[:image.shape[0] - k, :image.shape[1] - 2 * k]
            Image.fromarray(moved).save(folder / f"{kind}.{1001 + k}.png")
    return build_document(LabelMapSource(str(folder / "labels.####.png"), str(folder / "people.####.png")),
                          track=True)


@pytest.mark.parametrize("start", [0.0, 1.5])
def test_round_trip_on_a_tracked_document_from_real_cihp_label_maps(jsx, tmp_path, cihp_document, start):
    doc = cihp_document
    assert len(doc.people) == 4 and len(doc.shapes) > 20 and any(len(s.keys) > 1 for s in doc.shapes)
    setup = _comp_with_layer(None, start, width=doc.width, height=doc.height)
    report = jsx.run([write_script(doc, tmp_path / "cihp.jsx")], setup=setup)
    assert report["error"] is None
    masks = masks_of(report, 0, 1)
    assert_round_trip(doc, masks, lambda f: start + (f - doc.first_frame) / 24)
    # AE's linear interpolation between the (reduced) keys gives the document's every frame.
    for shape, mask in zip(ae.mask_order(doc), masks):
        keys = mask["path"]["keys"] or [{"time": start, "value": mask["path"]["value"]}]
        times = np.array([k["time"] for k in keys])
        stack = np.stack([shape_rows(k["value"]) for k in keys])
        for f in range(shape.frames[0], shape.frames[1] + 1):
            t = start + (f - doc.first_frame) / 24
            i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
            j = min(i + 1, len(times) - 1)
            w = 0.0 if j == i else float(np.clip((t - times[i]) / (times[j] - times[i]), 0, 1))
            assert np.abs((1 - w) * stack[i] + w * stack[j] - shape.points_at(f)).max() <= TOL


def test_movie_layer_frames_count_from_movie_first_frame(jsx, tmp_path):
    movie = tmp_path / "clip 01.mov"
    movie.write_bytes(b"")
    doc = synthetic_document(people=1, frames=(11, 20))
    setup = _comp_with_layer(movie, 3.0)
    script = write_script(doc, tmp_path / "m.jsx", movie_first_frame=1)
    assert_round_trip(doc, masks_of(jsx.run([script], setup=setup), 0, 1), lambda f: 3.0 + (f - 1) / 24)
    script = write_script(doc, tmp_path / "m0.jsx", movie_first_frame=0)
    assert_round_trip(doc, masks_of(jsx.run([script], setup=setup), 0, 1), lambda f: 3.0 + f / 24)


def test_cli_export_to_jsx_with_target_options_runs_in_the_mock(jsx, tmp_path):
    from click.testing import CliRunner

    from m2fp_roto.cli.main import main

    doc = synthetic_document(people=2)
    doc.save(tmp_path / "shot.json")
    out = tmp_path / "out dir" / "p2 masks.jsx"
    result = CliRunner().invoke(main, ["export", "--doc", str(tmp_path / "shot.json"), "--person", "2",
                                       "--mask-mode", "none", "--decimals", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = jsx.run([out])
    masks = masks_of(report)
    assert [m["name"] for m in masks] == [s.name for s in ae.mask_order(doc.select(people=[2]))]
    assert {m["mode"] for m in masks} == {"NONE"}
    assert_round_trip(doc.select(people=[2]), [{**m, "mode": "SUBTRACT" if "hole" in m["name"] else "ADD"}
                                              for m in masks], lambda f: (f - doc.first_frame) / 24)
    result = CliRunner().invoke(main, ["export", "--doc", str(tmp_path / "shot.json"), "--decimals", "7",
                                       "-o", str(tmp_path / "bad.jsx")])
    assert result.exit_code == 2 and "--decimals must be between 0 and 4" in result.output
    assert not (tmp_path / "bad.jsx").exists()


def test_demo_scene_script_is_es3_and_builds_every_shape(jsx, tmp_path):
    from click.testing import CliRunner

    from m2fp_roto.cli.main import main

    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo"), "--frames", "4"])
    assert result.exit_code == 0, result.output
    assert "PROGRESS 0% exr" in result.stderr and "PROGRESS 100% exr" in result.stderr  # farm logs see every stage
    script = tmp_path / "demo" / "shot_masks.jsx"
    assert jsx.check_es3(script) == {str(script): []}
    doc = RotoDocument.load(tmp_path / "demo" / "shot.json")
    report = jsx.run([script])
    assert report["error"] is None
    assert_round_trip(doc, masks_of(report), lambda f: (f - doc.first_frame) / doc.fps)
    shapes = ae.mask_order(doc)
    assert any(s.frames == (doc.first_frame, doc.last_frame) for s in shapes)  # tracked over the shot
    for shape, mask in zip(shapes, masks_of(report)):
        keys = mask["opacity"]["keys"]
        if shape.frames == (doc.first_frame, doc.last_frame):  # alive throughout: never hidden
            assert all(k["value"] == 100 for k in keys)
            continue
        on = [round(k["time"] * doc.fps) + doc.first_frame for k in keys if k["value"] == 100]
        assert on[0] == shape.frames[0] and {k["out"] for k in keys} == {"HOLD"}


@pytest.mark.parametrize("rate", [24, 30])
def test_movie_plate_is_imported_with_its_first_frame_at_the_movie_start(jsx, tmp_path, rate):
    """Frames follow the movie's own rate, even where the comp (the document's fps) differs."""
    movie = tmp_path / "clip.mov"
    movie.write_bytes(b"")
    doc = synthetic_document(people=1, frames=(11, 20), plate=str(movie))
    report = jsx.run([write_script(doc, tmp_path / "m.jsx")], setup={"importFrameRate": rate, "importSize": [640, 360]})
    layer = report["dump"]["comps"][0]["layers"][0]
    assert layer["source"]["file"] == str(movie) and layer["startTime"] == pytest.approx(-10 / rate)
    assert_round_trip(doc, layer["masks"], lambda f: (f - 11) / rate)
    assert report["dump"]["footage"][0]["frameRate"] == rate  # a movie keeps its own rate
