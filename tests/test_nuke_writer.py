"""The Nuke target: structure, round trip through an independent reader, options, real data."""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import shared_path
from m2fp_roto.document import DocumentError, Key, RotoDocument, Shape
from m2fp_roto.exporters import exporter_for_path, load_exporter
from m2fp_roto_exporters import nuke
from m2fp_roto_exporters.nk_text import NukeTextError, float_tokens, nk_float, parse_nk_float
from support import nk_reader

REFERENCE = ("nk7.0v8_ROTO_SPLINEWARP_LINK.nk", "nk8.0v5_SK_breakdownDesignTool.nk", "nk10.0v1_DirBlur_C_V4.nk",
             "nk10.0v4_smoke.nk", "nkNA_PerspectiveTools.nk")


def ring(cx, cy, r, n=8, phase=0.0):
    """A closed Bezier circle approximation: (n, 6) points with tangents."""
    a = phase + np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = 4 / 3 * np.tan(np.pi / (2 * n)) * r
    x, y = cx + r * np.cos(a), cy + r * np.sin(a)
    tx, ty = -np.sin(a) * k, np.cos(a) * k
    return np.stack([x, y, -tx, -ty, tx, ty], axis=1)


def synthetic_document() -> RotoDocument:
    """Two people, several parts, sparse keys, lifetimes, a hole, a holed shape inside a hole."""
    doc = RotoDocument(width=1920, height=1080, first_frame=1001, last_frame=1040, pixel_aspect=1.0,
                       fps=23.976, source="synthetic", plate="/plates/shot.####.exr")
    rng = np.random.default_rng(7)
    for person, x0 in ((1, 500.0), (2, 1300.0)):
        for j, part in enumerate(("hair", "face", "left_arm")):
            frames = sorted({1001, 1040, *rng.choice(np.arange(1002, 1040), 3, replace=False).tolist()})
            keys = [Key(f, ring(x0 + 3.0 * (f - 1001), 200 + 150 * j + 0.37 * (f - 1001), 40 + 5 * j, 8 + 2 * j,
                               phase=0.01 * (f - 1001))) for f in frames]
            doc.shapes.append(Shape(f"p{person}_{part}", person, part, (1001, 1040), keys))
        # a coat with a hole; inside the hole a smaller scarf that itself has a hole
        coat = [Key(f, ring(x0, 800, 200, 12)) for f in (1005, 1020)]
        # out of sight on 1003-1004 (before its first key) and 1010-1012: hidden, its hole too
        hidden = ((1003, 1004), (1010, 1012))
        doc.shapes.append(Shape(f"p{person}_coat", person, "coat", (1003, 1030), coat, hidden=hidden))
        doc.shapes.append(Shape(f"p{person}_coat_hole1", person, "coat", (1003, 1030),
                                [Key(f, ring(x0, 800, 80, 8)) for f in (1005, 1020)], hole=True,
                                parent=f"p{person}_coat", hidden=hidden))
        doc.shapes.append(Shape.static(f"p{person}_scarf", person, "scarf", 1010, 1012, ring(x0, 800, 60, 8)))
        doc.shapes.append(Shape.static(f"p{person}_scarf_hole1", person, "scarf", 1010, 1012, ring(x0, 800, 20, 6),
                                       hole=True, parent=f"p{person}_scarf"))
    return doc.validate()


def nuke_entries(doc: RotoDocument, points: np.ndarray) -> np.ndarray:
    """What Nuke should hold for document points: (N*3, 2) left tangent, centre, right tangent."""
    out = np.empty((len(points), 3, 2))
    out[:, 0] = np.c_[points[:, 2], -points[:, 3]]
    out[:, 1] = np.c_[points[:, 0], doc.height - points[:, 1]]
    out[:, 2] = np.c_[points[:, 4], -points[:, 5]]
    return out.reshape(-1, 2)


def read_back(text: str):
    return {shape.name: (node, shape) for node, tree in nk_reader.roto_nodes(text) for shape in tree.shapes}


def assert_round_trip(doc: RotoDocument, text: str, bake: str) -> int:
    """Every shape at every written key decodes to the document's points within 1e-3 px."""
    shapes = read_back(text)
    assert set(shapes) == {s.name for s in doc.shapes}
    checked = 0
    for s in doc.shapes:
        _, got = shapes[s.name]
        frames = s.key_frames
        want_times = np.arange(frames[0], frames[-1] + 1) if bake == "frames" else frames
        edges = [f for a, b in s.hidden for f in (a - 1, a, b, b + 1) if s.frames[0] <= f <= s.frames[1]]
        want_times = np.union1d(want_times, edges)  # hidden runs are keyed on both sides
        np.testing.assert_array_equal(got.times, want_times)
        assert got.values.shape == (len(want_times), 3 * s.n_points, 2)
        for i, t in enumerate(want_times):
            if s.alive(t):
                np.testing.assert_allclose(got.values[i], nuke_entries(doc, s.points_at(t)), atol=1e-3, rtol=0)
            else:  # hidden: every point on one spot, no handles - nothing is drawn
                entries = got.values[i].reshape(-1, 3, 2)
                assert np.ptp(entries[:, 1], axis=0).max() < 1e-3 and not entries[:, [0, 2]].any()
            checked += 1
        assert (got.attrs["ltt"], got.attrs["ltn"], got.attrs["ltm"]) == (4.0, *s.frames)
        assert got.feather == "idem" and got.flags == 512
    return checked


# -- tokens ------------------------------------------------------------------------------------------

def test_float_tokens_match_nuke_spelling():
    assert float_tokens([0.0, -0.0, 1.0, 960.0, -60.0, 1.1]) == ["0", "0", "1", "x44700000", "xc2700000",
                                                                "x3f8ccccd"]
    assert parse_nk_float("x3f99999a") == pytest.approx(1.2)
    assert nk_float(1001) == "x447a4000"
    with pytest.raises(NukeTextError):
        float_tokens([1.0, float("nan")])


# -- reference scripts ----------------------------------------------------------------------------------

def test_reader_accepts_every_reference_script():
    folder = shared_path("reference", "nuke")
    scripts = sorted(folder.glob("*.nk"))
    assert {p.name for p in scripts} >= set(REFERENCE)
    knobs = elements = animated = 0
    for path in scripts:
        name = path.name
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        nodes = nk_reader.roto_nodes(text)
        assert nodes, name
        knobs += len(nodes)
        elements += sum(len(tree.shapes) for _, tree in nodes)
        animated += sum(1 for _, tree in nodes for s in tree.shapes if s.times is not None and len(s.times) > 1)
    if len(scripts) == len(REFERENCE):
        assert (knobs, elements, animated) == (33, 36, 5)


def test_reader_decodes_a_real_animated_shape():
    text = shared_path("reference", "nuke", "nk10.0v4_smoke.nk").read_text(encoding="utf-8", errors="surrogateescape")
    node, tree = nk_reader.roto_nodes(text)[0]
    shape = tree.shapes[0]
    np.testing.assert_array_equal(shape.times, [1, 23, 36])
    # 4th entry of the research note's worked example: x 28, 28, 28.16; y -2, -2, -3.55
    np.testing.assert_allclose(shape.values[:, 3, 0], [28.0, 28.0, 28.1639], atol=1e-3)
    np.testing.assert_allclose(shape.values[:, 3, 1], [-2.0, -2.0, -3.5481], atol=1e-3)
    assert shape.n_entries % 3 == 0 and node.cls == "Roto"


@pytest.mark.parametrize("broken, message", [
    ("{{v x3f99999a} {f 0} {n {layer Root {f 512} {t 0 0} {a}}}", "unbalanced"),
    ("{{v x3f99999a} {f 0} {n {layer Root {f 512} {t 0 0} {a} {curvegroup B 512 bezier "
     "{{cc {f 8192} {px {1 2} {{{0 -}} {{0 -}}} {{{1 -} {2 -} {3 -}} {{0 -}}} {{{0 -}} {{0 -}}}}} idem} "
     "{tx 1 0 0} {a}}}}}", "3 keys for 2"),
    ("{{v x3f99999a} {f 0} {n {layer Root {f 512} {t 0 0} {a} {curvegroup B 512 bezier "
     "{{cc {f 8192} {p {} {x4470} {}}} idem} {tx 1 0 0} {a}}}}}", "8 digits"),
    ("{{v x3f99999a} {f 0} {n {layer Root {f 512} {t 0 0} {a} {curvegroup B 512 bezier "
     "{{cc {f 8192} {p {} {1 2}}} idem} {tx 1 0 0} {a}}}}}", "three per control point"),
    ("{{v x3f800000} {f 0} {n {layer Root {f 512} {t 0 0} {a}}}}", "x3f99999a"),
])
def test_reader_rejects_broken_curves(broken, message):
    with pytest.raises(nk_reader.NkSyntaxError, match=message):
        nk_reader.validate_tree(broken)


# -- the writer ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bake", ["frames", "keys"])
@pytest.mark.parametrize("group", ["per-person", "all"])
def test_round_trip_multi_person_multi_frame(group, bake):
    doc = synthetic_document()
    text = nuke.write_to_string(doc, group=group, bake=bake)
    checked = assert_round_trip(doc, text, bake)
    assert checked >= (200 if bake == "frames" else 30)


def test_nuke_segments_are_the_documents_bezier_segments():
    """Nuke draws centre_i, centre_i + right_i, centre_i+1 + left_i+1, centre_i+1; flipped back to
    image space these must be the document's own segments (m2fp_roto.bezier.control_points)."""
    from m2fp_roto import bezier

    doc = synthetic_document()
    shapes = read_back(nuke.write_to_string(doc))
    for s in doc.shapes:
        got = shapes[s.name][1]
        for i in [i for i in range(len(got.times)) if s.alive(got.times[i])][::7]:
            left, centre, right = got.values[i].reshape(-1, 3, 2).transpose(1, 0, 2)
            nxt = np.roll(centre, -1, axis=0)
            ctrl = np.stack([centre, centre + right, nxt + np.roll(left, -1, axis=0), nxt], axis=1)
            ctrl[..., 1] = doc.height - ctrl[..., 1]
            np.testing.assert_allclose(ctrl, bezier.control_points(s.points_at(got.times[i])), atol=1e-3)


def test_root_node_and_script_shape():
    doc = synthetic_document()
    doc.pixel_aspect = 2.0
    text = nuke.write_to_string(doc)
    commands, nodes = nk_reader.read_script(text)
    assert [c[0].text for c in commands[:1]] == ["version"]
    assert [n.cls for n in nodes] == ["Root", "Roto", "Roto"]
    root = nodes[0].knobs
    assert (root["first_frame"][0].text, root["last_frame"][0].text, root["fps"][0].text) == ("1001", "1040", "23.976")
    assert root["format"][0].text.split()[:7] == ["1920", "1080", "0", "0", "1920", "1080", "2"]
    for node in nodes[1:]:
        assert node.knobs["inputs"][0].text == "0" and node.knobs["output"][0].text == "alpha"
        assert node.knobs["format"][0].text == root["format"][0].text
    assert [n.knobs["name"][0].text for n in nodes[1:]] == ["M2FP_p1_Roto", "M2FP_p2_Roto"]
    # every word of the script is free of command and variable substitution
    assert not [w for c in commands for w in c if w.substitutions]
    nodes_only = nuke.write_to_string(doc, root=False)
    assert [n.cls for n in nk_reader.read_script(nodes_only)[1]] == ["Roto", "Roto"]


def test_layers_are_people_and_shapes_keep_their_names():
    doc = synthetic_document()
    per_person = nk_reader.roto_nodes(nuke.write_to_string(doc))
    assert [[path for path, *_ in tree.layers] for _, tree in per_person] == [["Root", "Root/p1"], ["Root", "Root/p2"]]
    (_, tree), = nk_reader.roto_nodes(nuke.write_to_string(doc, group="all"))
    assert [path for path, *_ in tree.layers] == ["Root", "Root/p1", "Root/p2"]
    assert {s.layer for s in tree.shapes if s.name.startswith("p2_")} == {"Root/p2"}


def test_holes_sit_on_their_shape_and_cut_with_minus():
    doc = synthetic_document()
    (_, tree), _ = nk_reader.roto_nodes(nuke.write_to_string(doc))
    order = [s.name for s in tree.shapes]
    # plain shapes on top; the small holed scarf above the big holed coat; each hole right above its shape
    assert order == ["p1_hair", "p1_face", "p1_left_arm", "p1_scarf_hole1", "p1_scarf", "p1_coat_hole1", "p1_coat"]
    blend = {s.name: s.attrs.get("bm", 0.0) for s in tree.shapes}
    assert blend["p1_coat_hole1"] == blend["p1_scarf_hole1"] == 12.0
    assert blend["p1_coat"] == blend["p1_face"] == 0.0


def test_y_axis_flips_to_bottom_left_origin():
    doc = RotoDocument(width=100, height=50, first_frame=1, last_frame=1)
    doc.shapes.append(Shape.static("p1_face", 1, "face", 1, 1, [[10, 20, 1, 2, 3, 4], [30, 5, 0, 0, 0, 0],
                                                                 [20, 40, -1, -2, -3, -4]]))
    (_, tree), = nk_reader.roto_nodes(nuke.write_to_string(doc))
    values = tree.shapes[0].values[0]
    np.testing.assert_allclose(values[:3], [[1, -2], [10, 30], [3, -4]])
    np.testing.assert_allclose(values[4], [30, 45])
    np.testing.assert_array_equal(tree.shapes[0].times, [1])


def test_people_and_parts_selection_in_the_python_api():
    doc = synthetic_document()
    shapes = read_back(nuke.write_to_string(doc.select(people=[2], parts=["face", "coat"])))
    assert set(shapes) == {"p2_face", "p2_coat", "p2_coat_hole1"}


def test_static_runs_are_run_length_coded_and_constant_coordinates_single_keyed():
    doc = RotoDocument(width=64, height=64, first_frame=1, last_frame=4)
    pts = ring(32, 32, 10, 4)
    moved = pts.copy()
    moved[0, 0] += 5
    doc.shapes.append(Shape("p1_face", 1, "face", (1, 4), [Key(1, pts), Key(3, pts), Key(4, moved)]))
    text = nuke.write_to_string(doc)
    assert "{x 3 {" in text                      # frames 1-3 equal, then a change: one run
    assert text.count("{x ") == 1
    assert_round_trip(doc, text, "frames")


def test_target_is_registered_and_writes_atomically(tmp_path):
    module = load_exporter("nuke")
    assert module.NAME == "nuke" and exporter_for_path(tmp_path / "shot.nk") == "nuke"
    assert {o.name for o in module.OPTIONS} == {"group", "bake", "root"}
    doc = synthetic_document()
    out = tmp_path / "shot_roto.nk"
    assert module.write_to_file(doc, out, group="all") == [out]
    assert_round_trip(doc, out.read_text(encoding="utf-8"), "frames")
    assert [p.name for p in tmp_path.iterdir()] == ["shot_roto.nk"]
    # a failing write leaves the old file as it was and no temporary behind
    before = out.read_bytes()
    doc.shapes[0].keys[0].points[0, 0] = np.inf
    with pytest.raises(DocumentError):
        module.write_to_file(doc, out)
    assert out.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_empty_document_writes_a_root_only_and_name_clashes_are_refused():
    doc = RotoDocument(width=64, height=48, first_frame=1, last_frame=5)
    assert [n.cls for n in nk_reader.read_script(nuke.write_to_string(doc))[1]] == ["Root"]
    doc.shapes.append(Shape.static("p1", 1, "face", 1, 5, ring(30, 30, 5, 4)))
    with pytest.raises(NukeTextError, match="'p1' is also a layer name"):
        nuke.write_to_string(doc)


def test_bad_option_values_are_refused():
    doc = synthetic_document()
    with pytest.raises(ValueError, match="group"):
        nuke.write_to_string(doc, group="per-part")
    with pytest.raises(ValueError, match="bake"):
        nuke.write_to_string(doc, bake="smooth")


def test_cli_export_from_a_document(tmp_path):
    from click.testing import CliRunner

    from m2fp_roto import cli

    doc = synthetic_document()
    doc.save(tmp_path / "shot.json")
    out = tmp_path / "shot_roto.nk"
    result = CliRunner().invoke(cli.main, ["export", "--doc", str(tmp_path / "shot.json"), "--person", "1",
                                           "--target", "nuke", "--group", "all", "--bake", "keys", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (node, tree), = nk_reader.roto_nodes(out.read_text(encoding="utf-8"))
    assert {s.name for s in tree.shapes} == {s.name for s in doc.shapes if s.person == 1}
    assert_round_trip(doc.select([1]), out.read_text(encoding="utf-8"), "keys")


def test_round_trip_on_a_document_built_from_real_cihp_label_maps(tmp_path):
    from m2fp_roto import pipeline
    from m2fp_roto.sources.labelmaps import LabelMapSource

    data = shared_path("data", "cihp_train_slice")
    name = sorted(os.listdir(data / "Category_ids"))[0]
    for frame in (1001, 1002, 1003):       # one real multi-person image as a three-frame shot
        os.symlink(data / "Category_ids" / name, tmp_path / f"labels.{frame}.png")
        os.symlink(data / "Human_ids" / name, tmp_path / f"people.{frame}.png")
    source = LabelMapSource(str(tmp_path / "labels.####.png"), str(tmp_path / "people.####.png"))
    doc = pipeline.build_document(source, track=True)
    assert len(doc.people) >= 2 and any(s.hole for s in doc.shapes)
    for group in ("per-person", "all"):
        text = nuke.write_to_string(doc, group=group)
        assert assert_round_trip(doc, text, "frames") >= len(doc.shapes)


def test_round_trip_on_a_tracked_document_of_real_motion(tmp_path):
    """DAVIS 'lucia' masks, tracked: shapes with several keys, gaps between keys and lifetimes."""
    from m2fp_roto import pipeline
    from m2fp_roto.sources.labelmaps import LabelMapSource

    masks = shared_path("data", "davis", "Annotations", "lucia")
    for i, name in enumerate(sorted(os.listdir(masks))[:8]):
        os.symlink(masks / name, tmp_path / f"lucia.{1001 + i}.png")
    doc = pipeline.build_document(LabelMapSource(str(tmp_path / "lucia.####.png"), label_set="matte"), track=True)
    assert max(len(s.keys) for s in doc.shapes) > 2
    for bake in ("frames", "keys"):
        assert_round_trip(doc, nuke.write_to_string(doc, bake=bake), bake)
