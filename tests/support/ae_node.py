"""Drive the Node.js harness in tests/jsx: ES3 checks and runs against the After Effects mock.

The harness's npm dependencies are pinned in tests/jsx/package-lock.json; CI installs them with
``npm ci --prefix tests/jsx``, and the ``jsx`` fixture does the same when node_modules is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import need_program
from m2fp_roto.document import Key, RotoDocument, Shape, shape_name

ROOT = Path(__file__).resolve().parents[2]
JSX_DIR = ROOT / "tests" / "jsx"
PANEL = ROOT / "ae_jsx" / "M2FP Roto.jsx"
PREFS_ON = {"Main Pref Section v2": {"Pref_SCRIPTING_FILE_NETWORK_SECURITY": 1}}
RUNTIME = ROOT / "ae_jsx" / "m2fp_runtime.jsxinc"


class Harness:
    def __init__(self, node: str, workdir: Path):
        self.node = node
        self.workdir = workdir
        self._jobs = 0

    def check_es3(self, *paths) -> dict[str, list[str]]:
        """{path: [problems]} from check_es3.js (empty lists when clean)."""
        proc = subprocess.run([self.node, str(JSX_DIR / "check_es3.js"), *map(str, paths)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode not in (0, 1):
            raise RuntimeError(proc.stderr)
        return json.loads(proc.stdout)

    def run(self, scripts, setup=None, actions=(), probe=()) -> dict:
        """Run scripts (paths, or (path, as_panel) pairs) in one mock session; returns its report."""
        self._jobs += 1
        job = {"setup": setup or {}, "actions": list(actions), "probe": list(probe),
               "scripts": [{"file": str(s[0]), "asPanel": bool(s[1])} if isinstance(s, tuple)
                           else {"file": str(s)} for s in scripts]}
        job_path = self.workdir / f"job{self._jobs}.json"
        job_path.write_text(json.dumps(job))
        proc = subprocess.run([self.node, str(JSX_DIR / "run_jsx.js"), str(job_path)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"run_jsx.js failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def jsx(tmp_path_factory) -> Harness:
    node = need_program("node", "the .jsx checks need Node.js and npm")
    if not (JSX_DIR / "node_modules" / "acorn").exists():
        npm = need_program("npm", "then run `npm ci --prefix tests/jsx`")
        proc = subprocess.run([npm, "ci", "--prefix", str(JSX_DIR), "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"npm ci --prefix tests/jsx failed: {proc.stderr[-1000:]}")
    return Harness(node, tmp_path_factory.mktemp("jsx"))


def blob(center, radius, n, phase=0.0) -> np.ndarray:
    """(n, 6) points of a smooth closed wobbly circle with proper Bezier handles."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + phase
    r = radius * (1.0 + 0.15 * np.sin(3 * t))
    dr = radius * 0.45 * np.cos(3 * t)
    xy = np.stack([center[0] + r * np.cos(t), center[1] + r * np.sin(t)], axis=1)
    d = np.stack([dr * np.cos(t) - r * np.sin(t), dr * np.sin(t) + r * np.cos(t)], axis=1)
    handle = d * (2 * np.pi / n) / 3.0
    return np.hstack([xy, -handle, handle])


def synthetic_document(people=2, parts=("hair", "face", "upper_clothes", "left_arm"), frames=(1001, 1012),
                       n_points=12, width=640, height=360, fps=24.0, plate=None) -> RotoDocument:
    """A multi-person, multi-frame document: moving shapes with dense and sparse keys, a hole,
    and a shape living shorter than the shot."""
    first, last = frames
    doc = RotoDocument(width=width, height=height, first_frame=first, last_frame=last, fps=fps, plate=plate)
    rng = np.random.default_rng(7)
    for p in range(1, people + 1):
        for j, part in enumerate(parts):
            step = 1 if j % 2 == 0 else 3  # every frame, or reduced keys
            key_frames = list(range(first, last + 1, step))
            if key_frames[-1] != last:
                key_frames.append(last)
            centre = np.array([80.0 + 250 * (p - 1) + 40 * j, 90.0 + 30 * j])
            keys = [Key(f, blob(centre + [(f - first) * 1.37, (f - first) * -0.61], 18 + 3 * j, n_points,
                               phase=0.01 * (f - first)) + rng.normal(0, 0.05, (n_points, 6)))
                    for f in key_frames]
            doc.shapes.append(Shape(shape_name(p, part), p, part, (first, last), keys))
        if len(parts) < 3:
            continue
        parent = shape_name(p, parts[2])
        c = next(s for s in doc.shapes if s.name == parent).keys[0].points[:, :2].mean(axis=0)
        hole_points = blob(c, 5, 6)[::-1] * [1, 1, -1, -1, -1, -1]  # reversed winding
        hole_points = np.hstack([hole_points[:, :2], hole_points[:, 4:6], hole_points[:, 2:4]])
        doc.shapes.append(Shape(shape_name(p, parts[2], 0, 1), p, parts[2], (first, last),
                                [Key(first, hole_points), Key(last, hole_points + [3, 2, 0, 0, 0, 0])],
                                hole=True, parent=parent))
    # A shape that appears late and leaves early (its lifetime is shorter than the shot).
    life = (first + 3, last - 4)
    doc.shapes.append(Shape(shape_name(1, "glove"), 1, "glove", life,
                            [Key(f, blob((500.0, 300.0 - (f - first)), 12, 8)) for f in range(life[0], life[1] + 1)]))
    return doc.validate()


def write_script(doc, path, **options) -> Path:
    from m2fp_roto_exporters import ae

    return ae.write_to_file(doc, path, **options)[0]


def masks_of(report, comp=-1, layer=0) -> list[dict]:
    return report["dump"]["comps"][comp]["layers"][layer]["masks"]


def shape_rows(value) -> np.ndarray:
    """(N, 6) document-style rows from a dumped AE Shape."""
    return np.hstack([np.asarray(value["vertices"], float), np.asarray(value["inTangents"], float),
                      np.asarray(value["outTangents"], float)])


def fake_cli(folder: Path, doc_json: Path, *, fail: str | None = None) -> Path:
    """An executable standing in for m2fp-roto: it records its argv, then runs the real CLI
    on a prepared document (no model needed), passing on -o, --person and --part."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "m2fp-roto"
    body = f"""\
        import json, sys
        from pathlib import Path
        argv = sys.argv[1:]
        Path({str(folder / "argv.json")!r}).write_text(json.dumps(argv))
        if {fail!r}:
            print("PROGRESS 0%")
            print({fail!r}, file=sys.stderr)
            sys.exit(2)
        def opt(name):
            return [name, argv[argv.index(name) + 1]] if name in argv else []
        from m2fp_roto.cli.main import main
        main(["export", "--doc", {str(doc_json)!r}, "--target", "ae"] + opt("-o") + opt("--person") + opt("--part"))
        """
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    exe.chmod(0o755)
    return exe


def panel_shot(tmp_path):
    """A comp with a footage layer (a sequence starting at 995, placed at 2 s) and a fake CLI
    in a folder whose name has a space and an apostrophe."""
    doc = synthetic_document(people=2, frames=(1001, 1012))
    doc_json = tmp_path / "shot.json"
    doc.save(doc_json)
    plates = tmp_path / "plate's dir"
    plates.mkdir()
    first = plates / "shot v2.0995.exr"
    first.write_bytes(b"")
    cli = fake_cli(tmp_path / "tools dir" / "it's here", doc_json)
    setup = {
        "prefs": PREFS_ON, "tempDir": str(tmp_path / "user data"), "settings": {"m2fp-roto": {"cli": str(cli)}},
        "footage": [{"name": "shot v2", "file": str(first), "width": 640, "height": 360, "frameRate": 24,
                     "frames": 40}],
        "comps": [{"name": "edit", "width": 640, "height": 360, "frameRate": 24, "duration": 10, "active": True,
                   "layers": [{"name": "grade", "startTime": 0},
                              {"name": "shot v2", "footage": 0, "startTime": 2.0, "selected": True}]}],
    }
    (tmp_path / "user data").mkdir()
    return {"doc": doc, "cli": cli, "setup": setup, "first": first}
