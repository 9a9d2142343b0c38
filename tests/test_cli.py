import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from m2fp_roto.cli.demo import write_label_maps
from m2fp_roto.cli.main import main
from m2fp_roto.document import RotoDocument
from m2fp_roto.progress import PROGRESS_ENV, Progress
from support.procs import PARENT, processes


@pytest.fixture(scope="module")
def demo_shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo shot")
    labels, people = write_label_maps(folder, 3)
    return folder, labels, people


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_export_json_from_label_maps(demo_shot, tmp_path):
    folder, labels, people = demo_shot
    out = tmp_path / "out dir" / "shot.json"
    r = run("export", "--labels", labels, "--people", people, "--frames", "1001-1002", "-o", out)
    assert r.exit_code == 0, r.output
    doc = RotoDocument.load(out)
    assert (doc.width, doc.height, doc.first_frame, doc.last_frame) == (960, 540, 1001, 1002)
    assert doc.people == [1, 2]
    parts = {s.part for s in doc.shapes}
    assert {"face", "hair", "upper_clothes", "left_arm", "pants", "left_shoe"} <= parts
    assert doc.metadata["settings"]["tolerance"] == 0.5


def test_anchor_tolerance_sets_the_tracked_shapes_point_counts(demo_shot, tmp_path):
    """--tolerance fits each frame's shapes; a tracked shape's point count follows
    --anchor-tolerance (looser: fewer points), recorded in the document's settings."""
    folder, labels, people = demo_shot
    points = {}
    for value in (0.5, 2.0):
        out = tmp_path / f"a{value}.json"
        r = run("export", "--labels", labels, "--people", people, "--anchor-tolerance", value, "-o", out)
        assert r.exit_code == 0, r.output
        doc = RotoDocument.load(out)
        assert doc.metadata["settings"]["anchor_tolerance"] == value
        points[value] = sum(len(s.keys[0].points) for s in doc.shapes)
    assert points[2.0] < points[0.5]
    r = run("export", "--labels", labels, "--anchor-tolerance", 0, "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "--anchor-tolerance" in r.output


def test_key_floor_is_an_iou_recorded_in_the_settings(demo_shot, tmp_path):
    folder, labels, people = demo_shot
    r = run("export", "--labels", labels, "--people", people, "--key-floor", 0, "-o", tmp_path / "k.json")
    assert r.exit_code == 0, r.output
    assert RotoDocument.load(tmp_path / "k.json").metadata["settings"]["key_floor"] == 0.0
    r = run("export", "--labels", labels, "--key-floor", 1.5, "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "--key-floor" in r.output


def test_selection_and_doc_conversion(demo_shot, tmp_path):
    folder, labels, people = demo_shot
    full = tmp_path / "full.json"
    assert run("export", "--labels", labels, "--people", people, "-o", full).exit_code == 0
    sub = tmp_path / "sub.json"
    r = run("export", "--doc", full, "--person", "2", "--part", "hair,face", "-o", sub)
    assert r.exit_code == 0, r.output
    doc = RotoDocument.load(sub)
    assert doc.shapes and {(s.person, s.part) for s in doc.shapes} <= {(2, "hair"), (2, "face")}


def test_errors_are_one_line_without_traceback(tmp_path):
    r = run("export", "--labels", tmp_path / "nothing.####.png", "-o", tmp_path / "x.json")
    assert r.exit_code == 2
    assert r.output.strip().startswith("error: label maps: no files match") and "Traceback" not in r.output
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "l.0001.png")
    r = run("export", "--labels", tmp_path / "l.####.png", "-o", tmp_path / "x.unknownext")
    assert r.exit_code == 2 and "cannot tell the target" in r.output
    r = run("export", "--doc", tmp_path / "missing.json", "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "cannot read" in r.output
    assert not (tmp_path / "x.json").exists()


def test_progress_lines_when_not_a_tty(demo_shot, tmp_path):
    folder, labels, people = demo_shot
    proc = subprocess.run([sys.executable, "-m", "m2fp_roto.cli", "export", "--labels", labels, "-o",
                           tmp_path / "p.json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("PROGRESS")]
    assert lines[:2] == ["PROGRESS 0% vectorize", "PROGRESS 33% vectorize"] and "PROGRESS 100% vectorize" in lines
    # Tracking reports too (a long shot spends most of its time there), ending at 100 %.
    track = [ln for ln in lines if ln.endswith(" track")]
    assert track[0] == "PROGRESS 0% track" and track[-1] == "PROGRESS 100% track"
    assert lines.index("PROGRESS 100% vectorize") < lines.index(track[0])


class Writes:
    """A log stream that keeps each write apart."""

    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("mode", ["", "openjd"])
def test_each_progress_line_is_one_whole_write(mode, monkeypatch):
    # An interrupt lands between two writes: a line written in pieces would be left open, and the
    # command's last line (what it wrote before the interrupt) would run on after it.
    monkeypatch.setenv(PROGRESS_ENV, mode)
    stream = Writes()
    with Progress(3, "track", stream=stream) as bar:
        for _ in range(3):
            bar.advance()
    assert len(stream.writes) == (4 if mode == "" else 5)
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in stream.writes), stream.writes
    assert stream.writes[-1] == ("PROGRESS 100% track\n" if mode == "" else "openjd_progress: 100\n")


def test_preview_draws_every_frame(demo_shot, tmp_path):
    folder, labels, people = demo_shot
    doc_path = tmp_path / "d.json"
    assert run("export", "--labels", labels, "--people", people, "-o", doc_path).exit_code == 0
    r = run("preview", doc_path, "--over", labels, "-o", tmp_path / "qc" / "p.####.png")
    assert r.exit_code == 0, r.output
    images = sorted((tmp_path / "qc").glob("p.*.png"))
    assert [p.name for p in images] == ["p.1001.png", "p.1002.png", "p.1003.png"]
    img = np.asarray(Image.open(images[0]))
    assert img.shape == (540, 960, 3)
    anchors = (img[..., 0] > 200) & (img[..., 1] > 200) & (img[..., 2] < 80)  # yellow anchor dots
    assert anchors.sum() > 200


def test_preview_label_set_decides_how_grey_backgrounds_are_shown(demo_shot, tmp_path):
    """Grey label maps whose values are ids of the label set are coloured; other grey images
    (a matte, a luma plate) are shown as pictures."""
    folder, labels, people = demo_shot
    doc_path = tmp_path / "d.json"
    assert run("export", "--labels", labels, "--people", people, "--frames", "1001", "-o", doc_path).exit_code == 0
    ids = np.asarray(Image.open(folder / "labels" / "shot.1001.png"))  # palette indices: CIHP ids
    Image.fromarray(ids, mode="L").save(tmp_path / "grey.1001.png")
    shown = {}
    for label_set in ("cihp", "matte"):
        out = tmp_path / label_set / "p.####.png"
        r = run("preview", doc_path, "--over", tmp_path / "grey.####.png", "--label-set", label_set,
                "--no-labels", "-o", out)
        assert r.exit_code == 0, r.output
        shown[label_set] = np.asarray(Image.open(tmp_path / label_set / "p.1001.png")).astype(int)
    face = ids == 13  # away from outlines, the background shows as it is
    inner = face & np.roll(face, 6, 0) & np.roll(face, -6, 0) & np.roll(face, 6, 1) & np.roll(face, -6, 1)
    coloured, grey = shown["cihp"][inner], shown["matte"][inner]
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 0] == 13).all()  # the grey value itself
    assert (np.ptp(coloured, axis=1) > 0).any()  # CIHP face colour, not grey


def test_targets_lists_json_and_help_has_examples():
    r = run("targets")
    assert "json (.json)" in r.output
    r = run("export", "--help")
    assert "Examples:" in r.output and "--tolerance" in r.output


def test_import_stays_light():
    code = "import sys, m2fp_roto, m2fp_roto.document; print(sorted(m for m in ('torch', 'modelscope', " \
           "'OpenImageIO', 'av', 'cv2', 'scipy', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; workers follow their parent on Linux")
def test_killed_export_leaves_no_tracking_workers(tmp_path):
    """Cancelling an export mid-track (Nuke's Cancel, a farm kill) must not orphan its workers."""
    import os
    import signal
    import time

    labels, people = write_label_maps(tmp_path, 40)
    proc = subprocess.Popen([sys.executable, "-m", "m2fp_roto.cli", "export", "--labels", labels, "--people", people,
                             "-o", tmp_path / "k.json", "--workers", "2"], stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the first tracked shape is back: the workers are running
            if line.startswith("PROGRESS") and line.rstrip().endswith(" track") and " 0% " not in line:
                break
        workers = [k for k in processes(PARENT, proc.pid) if "multiprocessing" in Path(f"/proc/{k}/cmdline").read_text()]
        assert workers, "no worker processes while tracking"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if Path(f"/proc/{w}").exists()
                and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not left, f"workers outlived the killed export: {left}"
    finally:
        proc.kill()
        proc.wait()
        assert not (tmp_path / "k.json").exists()  # killed before the write: nothing half-written
