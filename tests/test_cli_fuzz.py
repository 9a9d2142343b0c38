"""Random documents and random options through every document command and target.

Documents start valid and get up to three random faults (bad numbers and types, broken names,
lifetimes, keys and holes, bad plate fields); the options are random and often wrong (frames,
fps, selections, options of other targets or inputs, odd output names). Whatever comes, a run
either succeeds with a valid, non-empty output or exits 2 with one ``error:`` line on stderr
and nothing written; never a traceback, never a temporary file left behind. A document that
does not load in Python must fail every command.
"""

import copy
import json
import math
import os
import tempfile
from pathlib import Path

import OpenEXR
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from m2fp_roto.cli.main import main
from m2fp_roto.document import DocumentError, RotoDocument
from support.nk_reader import roto_nodes

EXAMPLES = int(os.environ.get("M2FP_ROTO_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def ring(cx, cy, r, n=5):
    return [[cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n), 0, 0, 0, 0]
            for i in range(n)]


def shape(name, person, part, frames, keys, **extra):
    return {"name": name, "person": person, "part": part, "component": 0, "hole": False, "frames": frames,
            "keys": [{"frame": f, "points": pts} for f, pts in keys], **extra}


BASE = {
    "schema": "m2fp-roto/1", "width": 64, "height": 48, "pixel_aspect": 1.0, "fps": 24.0, "first_frame": 1,
    "last_frame": 4, "label_set": "cihp", "source": "x/shot.####.png", "plate": None, "interpolation": "linear",
    "metadata": {},
    "shapes": [
        shape("p1_hair", 1, "hair", [1, 4], [(1, ring(20, 15, 8)), (4, ring(24, 16, 8))]),
        shape("p1_face", 1, "face", [1, 3], [(1, ring(20, 30, 9, 6))]),
        {**shape("p1_face_hole1", 1, "face", [2, 3], [(2, ring(20, 30, 3, 4)[::-1])]), "hole": True,
         "parent": "p1_face"},
        shape("p2_hair", 2, "hair", [2, 4], [(2, ring(45, 20, 7)), (3, ring(46, 21, 7))]),
    ],
}

NUMBERS = [math.nan, math.inf, -math.inf, 1e300, -1e300, "12", None, True, [], 1e5, -300.0, 63.9, 0, 10**30]
FIELDS = {
    "name": ["", 5, None, "p1_hair", 'a "b" {c} [d] $e', "p1_über"],
    "person": ["1", -1, 0, 1.5, None, 10**20, 3],
    "part": ["", 7, "hiar", "left arm [x]", "face"],
    "component": ["x", 2.5, 1],
    "hole": ["false", 1, True, None],
    "parent": ["p9_x", 5, "p1_face_hole1", "p1_hair", None],
    "frames": [[3, 1], [0, 2], [1, 9], [1], "1-3", [1.5, 2], [2, 3], None],
}
DOC_FIELDS = {
    "width": [0, -5, "64", 1e9, 64.5, 70000, None], "height": [0, 2, "48"], "fps": [0, -1, "24", math.nan, 1e6],
    "pixel_aspect": [0, -1, 2.0], "first_frame": [3, 5, -2, 1.5, 10**12], "last_frame": [0, 2, 10**7],
    "schema": ["m2fp-roto/2", None], "label_set": [5, "lip", "matte", "unknown"], "shapes": [{}, "x", None],
    "interpolation": ["cubic"], "metadata": [[], "x"], "plate": [5, "plates/shot.####.exr"],
}


def a_key(d, draw):
    """A random key of a random shape (None when an earlier fault left none to pick)."""
    s = draw(st.sampled_from(d["shapes"]))
    keys = [k for k in s.get("keys") or () if isinstance(k, dict)] if isinstance(s.get("keys"), list) else []
    return draw(st.sampled_from(keys)) if keys else None


def mutate_point(d, draw):
    key = a_key(d, draw)
    if key and isinstance(key.get("points"), list) and key["points"]:
        row = draw(st.sampled_from(key["points"]))
        if isinstance(row, list) and row:
            row[draw(st.integers(0, len(row) - 1))] = draw(st.sampled_from(NUMBERS))


def mutate_rows(d, draw):
    key = a_key(d, draw)
    if key and isinstance(key.get("points"), list):
        how = draw(st.sampled_from(["short", "long", "empty", "text", "one", "all short"]))
        pts = [p for p in key["points"] if isinstance(p, list)]
        if how == "short" and pts:
            pts[0][:] = pts[0][:3]
        elif how == "long" and pts:
            pts[-1].append(1)
        elif how == "all short":
            key["points"] = [p[:2] for p in pts]
        elif how in ("empty", "text", "one"):
            key["points"] = {"empty": [], "text": "x", "one": pts[:1]}[how]


def mutate_field(d, draw):
    s = draw(st.sampled_from(d["shapes"]))
    field = draw(st.sampled_from(sorted(FIELDS)))
    s[field] = copy.deepcopy(draw(st.sampled_from(FIELDS[field])))


def mutate_keys(d, draw):
    s = draw(st.sampled_from(d["shapes"]))
    how = draw(st.sampled_from(["none", "outside", "reverse", "text frame", "duplicate", "not a list"]))
    if how == "none":
        s["keys"] = []
    elif how == "not a list":
        s["keys"] = {"frame": 1}
    elif isinstance(s.get("keys"), list) and s["keys"] and all(isinstance(k, dict) for k in s["keys"]):
        if how == "outside":
            s["keys"][-1]["frame"] = 9
        elif how == "reverse":
            s["keys"].reverse()
        elif how == "text frame":
            s["keys"][0]["frame"] = "2"
        else:
            s["keys"].append(copy.deepcopy(s["keys"][-1]))


def mutate_doc(d, draw):
    field = draw(st.sampled_from(sorted(DOC_FIELDS)))
    d[field] = copy.deepcopy(draw(st.sampled_from(DOC_FIELDS[field])))


def mutate_shapes(d, draw):
    if isinstance(d.get("shapes"), list) and d["shapes"]:
        i = draw(st.integers(0, len(d["shapes"]) - 1))
        if draw(st.booleans()):
            del d["shapes"][i]  # may orphan a hole, or empty the document
        else:
            d["shapes"].append(copy.deepcopy(d["shapes"][i]))


MUTATIONS = [mutate_point, mutate_rows, mutate_field, mutate_keys, mutate_doc, mutate_shapes]


@st.composite
def documents(draw):
    d = copy.deepcopy(BASE)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):  # half stay valid, to exercise the outputs
        if isinstance(d.get("shapes"), list) and all(isinstance(s, dict) for s in d["shapes"]) and d["shapes"]:
            draw(st.sampled_from(MUTATIONS))(d, draw)
        else:
            mutate_doc(d, draw)
    return d


def maybe(values):
    return st.one_of(st.none(), st.sampled_from(values))


TARGET_OUTPUTS = {"json": "o/x.json", "nuke": "o/x.nk", "ae": "o/x.jsx", "exr": "o/x.####.exr"}
TARGET_OPTIONS = [("--group", "all"), ("--bake", "keys"), ("--root", "false"), ("--decimals", "0"),
                  ("--decimals", "9"), ("--mask-mode", "none"), ("--movie-first-frame", "5"),
                  ("--compression", "rle"), ("--compression", "piz"), ("--split", "true"),
                  ("--cryptomatte", "false"), ("--layers", "false")]


OWN_OPTIONS = {"nuke": ("--group", "--bake", "--root"), "ae": ("--decimals", "--mask-mode", "--movie-first-frame"),
               "exr": ("--compression", "--split", "--cryptomatte", "--layers"), "json": ()}
WILD = {"--frames": ["0-5", "4-1", "x", "1-100000000", "1,3"], "--fps": ["0", "-1", "abc", "1e400"],
        "--pixel-aspect": ["0"], "--person": ["99", "1,x", ""], "--part": ["hiar", "hat"],
        "--tolerance": ["1"], "--first-frame": ["5"], "--label-set": ["lip"]}
SANE = {"--frames": ["1-2", "3", "2-4", "1-4x2"], "--fps": ["25"], "--pixel-aspect": ["2"],
        "--person": ["1", "2", "1,2"], "--part": ["hair", "face,hair"]}


@st.composite
def export_args(draw):
    """Half the time only options that fit the target and the input; else anything."""
    wild = draw(st.booleans())
    target = draw(st.sampled_from(sorted(TARGET_OUTPUTS)))
    outputs = [TARGET_OUTPUTS[target]] + (["o/x.jsx", "o/x.txt", "o/x.exr", "taken"] if wild else [])
    args = ["export", "--doc", "doc.json", "-t", target, "-o", draw(st.sampled_from(outputs))]
    for flag in sorted(set(WILD) | set(SANE)):
        values = SANE.get(flag, []) + (WILD.get(flag, []) if wild else [])
        if values and draw(st.integers(0, 2 if flag in SANE else 4)) == 0:
            args += [flag, draw(st.sampled_from(values))]
    options = [o for o in TARGET_OPTIONS if wild or o[0] in OWN_OPTIONS[target]]
    if options:
        for flag, value in draw(st.lists(st.sampled_from(options), max_size=2, unique_by=lambda o: o[0])):
            args += [flag, value]
    return args


@st.composite
def preview_args(draw):
    args = ["preview", "doc.json", "-o", draw(st.sampled_from(["qc/p.####.png", "qc/", "qc/p.####", "qc/p.####.jpg",
                                                               "qc/p.txt", "qc/p.png", "taken"]))]
    frames = draw(maybe(["1-2", "4", "0-5", "x", "1-100000000"]))
    if frames:
        args += ["--frames", frames]
    if draw(st.booleans()):
        args.append("--no-labels")
    if draw(st.integers(0, 9)) == 0:
        args += ["--label-set", "cihp"]
    return args


def check(args, data, workdir: Path):
    (workdir / "doc.json").write_text(json.dumps(data))
    (workdir / "taken").mkdir()
    try:
        RotoDocument.from_dict(copy.deepcopy(data))
        loads = True
    except DocumentError:
        loads = False
    before = {p for p in workdir.rglob("*")}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        os.chdir(old)
    where = f"{args} on {json.dumps(data)[:400]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (where, repr(result.exception))
    assert "Traceback" not in result.output, where
    made = sorted(p for p in workdir.rglob("*") if p not in before and p.is_file())
    assert not [p for p in workdir.rglob("*") if ".tmp" in p.name], where
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("PROGRESS")]
    if result.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), (where, lines)
        assert not made, (where, made)
        return "error: " + " ".join(lines[0].split()[1:4])
    assert result.exit_code == 0 and loads, (where, result.exit_code, result.output)
    command = args[0]
    if command == "info":
        assert result.stdout.strip()
        if "--json" in args:
            assert json.loads(result.stdout)["shapes"]
        return "info ok"
    assert made, where  # never an empty success
    kind = args[args.index("-t") + 1] if command == "export" else "png"
    for path in made:
        if kind == "json":
            assert RotoDocument.load(path).shapes, where
        elif kind == "exr":
            with OpenEXR.File(str(path)) as f:
                assert f.channels(), where
        elif kind == "nuke":
            assert roto_nodes(path.read_text(encoding="utf-8")), where
        elif kind == "ae":
            text = path.read_text(encoding="ascii")
            assert text.startswith("//@target aftereffects") and "masks:[\n{" in text, where
        else:
            from PIL import Image

            with Image.open(path) as img:
                assert img.size == (data["width"], data["height"]), where
    return f"{kind} ok"


@SETTINGS
@given(data=documents(), args=export_args())
def test_export_fuzz(data, args):
    with tempfile.TemporaryDirectory() as tmp:
        event(check(args, data, Path(tmp)))


@SETTINGS
@given(data=documents(), args=st.one_of(preview_args(), st.sampled_from([["info", "doc.json"],
                                                                          ["info", "doc.json", "--json"]])))
def test_preview_and_info_fuzz(data, args):
    with tempfile.TemporaryDirectory() as tmp:
        event(check(args, data, Path(tmp)))
