import json

import numpy as np
import pytest

from m2fp_roto.document import SCHEMA, DocumentError, Key, RotoDocument, Shape, shape_name

SQUARE = [[10, 10, 0, 0, 3, 0], [20, 10, -3, 0, 0, 3], [20, 20, 0, -3, -3, 0], [10, 20, 3, 0, 0, -3]]


def make_doc():
    doc = RotoDocument(width=64, height=48, first_frame=1001, last_frame=1010, fps=25.0, source="x.####.png")
    moved = np.array(SQUARE, float) + [5, 2, 0, 0, 0, 0]
    doc.shapes.append(Shape("p1_face", 1, "face", (1001, 1010), [Key(1001, SQUARE), Key(1010, moved)]))
    doc.shapes.append(Shape("p1_face_hole1", 1, "face", (1003, 1004), [Key(1003, SQUARE)], hole=True,
                            parent="p1_face"))
    return doc


def test_json_round_trip_keeps_every_field(tmp_path):
    doc = make_doc()
    path = doc.save(tmp_path / "shot with space.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["first_frame"] == 1001 and data["interpolation"] == "linear"
    assert data["shapes"][0]["keys"][0]["points"][0] == [10, 10, 0, 0, 3, 0]
    back = RotoDocument.load(path)
    assert back.to_dict() == doc.to_dict()
    assert back.shapes[1].hole and back.shapes[1].parent == "p1_face"


def test_linear_interpolation_between_keys_and_hold_outside():
    s = make_doc().shapes[0]
    mid = s.points_at(1005.5)
    assert np.allclose(mid[0, :2], [10 + 2.5, 10 + 1.0])
    assert np.allclose(s.points_at(900), s.keys[0].points)
    assert np.allclose(s.points_at(2000), s.keys[-1].points)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(schema="m2fp-roto/0"), "unsupported schema"),
    (lambda d: d["shapes"][0]["keys"][1]["points"].pop(), "p1_face', frame 1010: 3 points"),
    (lambda d: d["shapes"][0]["keys"][1].update(frame=1020), "p1_face', frame 1020: key outside"),
    (lambda d: d["shapes"][0].update(frames=[1001, 1200]), "p1_face': lifetime 1001-1200 is outside"),
    (lambda d: d["shapes"][1].update(parent="nope"), "parent shape 'nope'"),
    (lambda d: d.pop("width"), "missing the field 'width'"),
    (lambda d: d["shapes"][0]["keys"][0]["points"][0].__setitem__(0, float("nan")), "non-finite"),
    (lambda d: d["shapes"][0].update(hidden=[[1009, 1011]]), "p1_face': hidden frames 1009-1011 must lie inside"),
    (lambda d: d["shapes"][0].update(hidden=[[1005, 1006], [1006, 1007]]), "hidden frames 1006-1007"),
    (lambda d: d["shapes"][0].update(hidden=[[1001, 1010]]), "hidden on every frame of its lifetime"),
    (lambda d: d["shapes"][0].update(hidden=[1005]), "hidden must be a list of \\[first, last\\]"),
    (lambda d: d["shapes"][0].update(hidden=[[1004, 1004]]), "hole 'p1_face_hole1', frame 1004: drawn where"),
])
def test_validation_names_the_shape_and_frame(mutate, message):
    data = make_doc().to_dict()
    mutate(data)
    with pytest.raises(DocumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RotoDocument.from_json(json.dumps(data))


def test_hidden_frames_are_not_drawn_and_survive_json_and_trim(tmp_path):
    doc = make_doc()
    face, hole = doc.shapes
    face.hidden, hole.hidden = ((1004, 1005), (1008, 1008)), ((1004, 1004),)
    back = RotoDocument.load(doc.save(tmp_path / "hidden.json"))
    assert back.to_dict() == doc.to_dict() and back.shapes[0].hidden == ((1004, 1005), (1008, 1008))
    assert [f for f in doc.frames if face.alive(f)] == [1001, 1002, 1003, 1006, 1007, 1009, 1010]
    assert face.drawn_runs() == [(1001, 1003), (1006, 1007), (1009, 1010)]
    assert [s.name for s in doc.shapes_at(1004)] == [] and [s.name for s in doc.shapes_at(1003)] == [s.name for s in doc.shapes]
    # the points go on through hidden frames: the interpolation ignores them
    assert np.allclose(face.points_at(1005), make_doc().shapes[0].points_at(1005))
    cut = doc.trim(1005, 1009)
    assert cut.shapes[0].hidden == ((1005, 1005), (1008, 1008)) and [s.name for s in cut.shapes] == ["p1_face"]
    assert [s.name for s in doc.trim(1004, 1005).shapes] == []  # hidden on every kept frame


def test_load_reports_the_file_for_bad_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(DocumentError, match="bad.json: not valid JSON"):
        RotoDocument.load(bad)


def test_failed_save_keeps_the_old_file(tmp_path):
    path = make_doc().save(tmp_path / "shot.json")
    before = path.read_text()
    doc = make_doc()
    doc.shapes[0].keys[1].points[0, 0] = np.inf
    with pytest.raises(DocumentError):
        doc.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["shot.json"]


def test_select_and_names():
    doc = make_doc()
    doc.shapes.append(Shape.static("p2_hair", 2, "hair", 1001, 1001, SQUARE))
    assert [s.name for s in doc.select(people=[2]).shapes] == ["p2_hair"]
    assert [s.name for s in doc.select(parts=["face"]).shapes] == ["p1_face", "p1_face_hole1"]
    assert doc.people == [1, 2] and [s.name for s in doc.shapes_at(1003)] == ["p1_face", "p1_face_hole1"]
    assert shape_name(3, "left_shoe", 2, 1) == "p3_left_shoe_2_hole1"


def test_outputs_are_readable_by_the_farm(tmp_path):
    import os

    path = make_doc().save(tmp_path / "shot.json")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_an_interrupt_at_any_step_of_a_write_leaves_no_temporary_file(tmp_path):
    """A signal raises between any two lines of Python: try every line of the writer in turn, up
    to the rename. (Lines of the standard library are left out: an exception raised as one of
    its ``with`` blocks ends can leave its lock held, a limit of CPython that hangs the next try.)"""
    import inspect
    import sys

    from m2fp_roto import atomic
    from m2fp_roto.atomic import atomic_path, atomic_write_text

    source, first = inspect.getsourcelines(atomic_path.__wrapped__)
    renamed = first + next(i for i, line in enumerate(source) if "os.replace(" in line)
    target = tmp_path / "shot.json"
    target.write_text("before")
    for n in range(1, 10_000):
        lines = 0

        def trace(frame, event, arg):
            nonlocal lines
            ours = frame.f_code.co_filename == atomic.__file__
            if event == "line" and ours and not (frame.f_code.co_name == "atomic_path" and frame.f_lineno > renamed):
                lines += 1
                if lines == n:
                    raise KeyboardInterrupt
            return trace

        sys.settrace(trace)
        try:
            atomic_write_text(target, "after")
            finished = True
        except KeyboardInterrupt:
            finished = False
        finally:
            sys.settrace(None)
        assert [p.name for p in tmp_path.iterdir()] == ["shot.json"], n
        if finished:
            break
        assert target.read_text() in ("before", "after"), n  # never a part of either
    assert finished and n > 8 and target.read_text() == "after"
