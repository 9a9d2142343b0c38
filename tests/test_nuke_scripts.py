"""The Nuke-side code (menu, importer, CLI runner) against a recording stand-in for ``nuke``."""

from __future__ import annotations

import json
import os
import runpy
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_nuke_writer import synthetic_document

from conftest import missing
from support import nk_reader
from support.fake_nuke import make_fake_nuke

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "nuke_scripts" / "plugin"
VENV_CLI = Path(sys.executable).with_name("m2fp-roto")


@pytest.fixture
def nuke(monkeypatch):
    fake = make_fake_nuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    return fake


@pytest.fixture
def fresh_package():
    """Forget m2fp_roto_nuke while a test runs (menu.py registers it), then put it back."""
    saved = {k: v for k, v in sys.modules.items() if k == "m2fp_roto_nuke" or k.startswith("m2fp_roto_nuke.")}
    for k in saved:
        del sys.modules[k]
    yield
    for k in [k for k in sys.modules if k == "m2fp_roto_nuke" or k.startswith("m2fp_roto_nuke.")]:
        del sys.modules[k]
    sys.modules.update(saved)


def fake_cli(tmp_path, body: str) -> Path:
    """An executable stand-in for m2fp-roto: logs its argv and pid, then runs ``body``."""
    script = tmp_path / "m2fp-roto"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(f"""\
        import json, os, sys, time
        log = {str(tmp_path / 'cli_log.json')!r}
        json.dump({{"argv": sys.argv[1:], "pid": os.getpid()}}, open(log, "w"))
        def out_path():
            return sys.argv[sys.argv.index("-o") + 1]
        """) + textwrap.dedent(body))
    script.chmod(0o755)
    return script


WRITE_NK = """
    from m2fp_roto.document import RotoDocument
    from m2fp_roto_exporters import nuke as target
    for pct in (0, 50, 100):
        print(f"PROGRESS {pct}% vectorize", file=sys.stderr, flush=True)
    doc = RotoDocument.load(os.environ["TEST_DOC"])
    target.write_to_file(doc, out_path(), root=sys.argv[sys.argv.index("--root") + 1] != "false")
"""


def read_node(nuke, file="/plates/sh010/sh010.%04d.exr", first=1001, last=1040):
    node = nuke.FakeNode("Read", "Read1", {"file": file, "first": first, "last": last}, xpos=200, ypos=-50,
                         format=nuke.FakeFormat(2048, 858, 2.0))
    node.setSelected(True)
    nuke.nodes_in_script.append(node)
    return node


# -- menu ------------------------------------------------------------------------------------------------

def start_nuke(nuke):
    """What Nuke does with a plug-in folder: init.py in every session, then menu.py with a GUI."""
    runpy.run_path(str(PLUGIN / "init.py"))
    if nuke.GUI:
        runpy.run_path(str(PLUGIN / "menu.py"))


def test_plugin_folder_adds_the_menu_and_registers_the_package(nuke, fresh_package):
    start_nuke(nuke)
    assert ("addMenu", "Nuke", "M2FP Roto") in nuke.calls
    commands = [c[2] for c in nuke.calls if c[0] == "addCommand"]
    assert commands == ["Roto from Selected Read", "Import RotoDocument (JSON)...", "Import Roto Script (.nk)..."]
    package = sys.modules["m2fp_roto_nuke"]
    assert [Path(p) for p in package.__path__] == [ROOT / "nuke_scripts"]
    from m2fp_roto_nuke import importer  # the TD import works once Nuke has run menu.py

    assert callable(importer.load_document)


def test_terminal_sessions_get_the_package_but_no_menu(nuke, fresh_package):
    nuke.GUI = False
    start_nuke(nuke)
    runpy.run_path(str(PLUGIN / "menu.py"))  # even if run, menu.py adds nothing without a GUI
    assert not [c for c in nuke.calls if c[0] in ("addMenu", "addCommand")]
    assert [Path(p) for p in sys.modules["m2fp_roto_nuke"].__path__] == [ROOT / "nuke_scripts"]


# -- Roto from a Read ------------------------------------------------------------------------------------

def test_roto_from_read_runs_the_cli_with_progress_and_pastes_once(nuke, tmp_path, monkeypatch):
    from m2fp_roto_nuke import importer

    doc = synthetic_document()
    doc.save(tmp_path / "doc.json")
    monkeypatch.setenv("TEST_DOC", str(tmp_path / "doc.json"))
    monkeypatch.setenv("M2FP_ROTO_CLI", str(fake_cli(tmp_path, WRITE_NK)))
    read = read_node(nuke)
    nodes = importer.roto_from_read()
    argv = json.loads((tmp_path / "cli_log.json").read_text())["argv"]
    assert argv[:4] == ["export", "/plates/sh010/sh010.%04d.exr", "--frames", "1001-1040"]
    assert argv[-4:] == ["--fps", "24", "--pixel-aspect", "2"]
    assert argv[argv.index("--target") + 1] == "nuke" and argv[argv.index("--root") + 1] == "false"
    nuke.root()["fps"].setValue(23.976)
    assert importer.plate_args(read, "x.nk")[-4:] == ["--fps", "23.976", "--pixel-aspect", "2"]
    (task,) = nuke.tasks
    assert task.progress == [0, 50, 100] and task.messages[0] == "parsing sh010.%04d.exr"
    assert [c[0] for c in nuke.calls].count("nodePaste") == 1
    assert [n.name() for n in nodes] == ["M2FP_p1_Roto", "M2FP_p2_Roto"]
    assert [(n.xpos(), n.ypos()) for n in nodes] == [(200, 70), (310, 70)]
    assert not read.isSelected() and not nuke.messages
    # what was pasted is the exporter's text without a Root (the artist's project stays as it is)
    _, pasted = nk_reader.read_script(nuke.pasted[0])
    assert [n.cls for n in pasted] == ["Roto", "Roto"]
    assert not Path(argv[argv.index("-o") + 1]).exists()  # the temporary script is cleaned up


def test_cancel_stops_the_subprocess_and_changes_nothing(nuke, tmp_path, monkeypatch):
    from m2fp_roto_nuke import importer

    monkeypatch.setenv("M2FP_ROTO_CLI", str(fake_cli(tmp_path, """
        print("PROGRESS 10% parse", file=sys.stderr, flush=True)
        time.sleep(60)
    """)))
    nuke.cancel_after = 1
    read_node(nuke)
    start = time.monotonic()
    assert importer.roto_from_read() == []
    assert time.monotonic() - start < 20
    pid = json.loads((tmp_path / "cli_log.json").read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert nuke.tasks[0].progress == [10]
    assert not [c for c in nuke.calls if c[0] in ("nodePaste", "message")]


def test_a_failing_cli_is_shown_in_a_message_from_the_menu(nuke, tmp_path, monkeypatch):
    from m2fp_roto_nuke import ui

    monkeypatch.setenv("M2FP_ROTO_CLI", str(fake_cli(tmp_path, """
        print("PROGRESS 0% parse", file=sys.stderr, flush=True)
        print("error: cannot read /plates/sh010/sh010.1001.exr: no such file", file=sys.stderr)
        sys.exit(2)
    """)))
    read_node(nuke)
    menu = ui.add_menu()
    assert menu.items["Roto from Selected Read"]() is None
    assert nuke.messages == ["M2FP Roto: error: cannot read /plates/sh010/sh010.1001.exr: no such file"]
    assert not [c for c in nuke.calls if c[0] == "nodePaste"]


def test_no_read_selected_and_missing_cli_are_explained(nuke, tmp_path, monkeypatch):
    from m2fp_roto_nuke import ui

    menu = ui.add_menu()
    menu.items["Roto from Selected Read"]()
    assert nuke.messages[-1] == "M2FP Roto: select one Read node with the plate to roto"
    monkeypatch.setenv("M2FP_ROTO_CLI", str(tmp_path / "nowhere" / "m2fp-roto"))
    read_node(nuke)
    menu.items["Roto from Selected Read"]()
    assert "M2FP_ROTO_CLI is set to" in nuke.messages[-1] and "not a file" in nuke.messages[-1]


# -- the TD API ------------------------------------------------------------------------------------------

def test_load_document_in_process_pastes_the_exporters_text_once(nuke, tmp_path):
    from m2fp_roto_nuke import importer

    doc = synthetic_document()
    doc.save(tmp_path / "shot.json")
    nodes = importer.load_document(tmp_path / "shot.json", people=[2], parts=["face", "coat"], group="all")
    assert [c[0] for c in nuke.calls].count("nodePaste") == 1
    assert [n.name() for n in nodes] == ["M2FP_Roto"]
    ((node, tree),) = nk_reader.roto_nodes(nuke.pasted[0])
    assert {s.name for s in tree.shapes} == {"p2_face", "p2_coat", "p2_coat_hole1"}
    # a RotoDocument object works as well
    importer.load_document(doc)
    assert len(nk_reader.roto_nodes(nuke.pasted[1])) == 2
    with pytest.raises(importer.ImportFailed, match="missing.json"):
        importer.load_document(tmp_path / "missing.json")


def test_load_document_through_the_real_cli_when_the_toolkit_is_not_importable(nuke, tmp_path, monkeypatch):
    if not VENV_CLI.exists():
        missing(f"the m2fp-roto console script is not installed beside {sys.executable}: pip install -e .")
    from m2fp_roto_nuke import importer

    doc = synthetic_document()
    doc.save(tmp_path / "shot.json")
    monkeypatch.setattr(importer, "_export_in_process", lambda *a: False)
    monkeypatch.setenv("M2FP_ROTO_CLI", str(VENV_CLI))
    nodes = importer.load_document(str(tmp_path / "shot.json"), people=[1], bake="keys")
    assert [n.name() for n in nodes] == ["M2FP_p1_Roto"]
    ((_, tree),) = nk_reader.roto_nodes(nuke.pasted[0])
    assert {s.name for s in tree.shapes} == {s.name for s in doc.shapes if s.person == 1}
    with pytest.raises(importer.ImportFailed, match="RotoDocument object"):
        importer.load_document(doc)
    with pytest.raises(importer.ImportFailed):
        importer.load_document(str(tmp_path / "missing.json"))


def test_run_cli_reports_progress_and_the_last_error_line(tmp_path):
    from m2fp_roto_nuke import cli_runner

    ok = fake_cli(tmp_path, """
        for i in (5, 40, 100):
            print(f"PROGRESS {i}% step {i}", file=sys.stderr, flush=True)
        print("done")
    """)
    seen = []
    assert cli_runner.run_cli(["x"], on_progress=lambda p, label: seen.append((p, label)), cli=str(ok)) == "done\n"
    assert seen == [(5, "step 5"), (40, "step 40"), (100, "step 100")]
    bad = fake_cli(tmp_path, "sys.exit(3)\n")
    with pytest.raises(cli_runner.CliError, match="exited with status 3"):
        cli_runner.run_cli(["x"], cli=str(bad))


def test_nuke_side_needs_only_the_standard_library_and_runs_on_nuke13_python():
    """Nuke 13's Python is 3.7 and has no third-party packages: check syntax and imports.

    The toolkit itself (m2fp_roto) may be imported only inside ``try: ... except ImportError``.
    """
    import ast

    allowed = set(sys.stdlib_module_names) | {"nuke", "m2fp_roto_nuke", "__future__"}
    for path in sorted((ROOT / "nuke_scripts").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))
        guarded = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers):
                guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or (top.startswith("m2fp_roto") and id(node) in guarded), \
                    f"{path.name} imports {name}"
