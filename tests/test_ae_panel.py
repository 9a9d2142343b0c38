"""The ScriptUI panel in the AE mock: it finds the CLI, quotes its arguments, reports failures
and applies the script the CLI wrote to the chosen layer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.ae_node import PANEL, fake_cli, panel_shot


@pytest.fixture
def shot(tmp_path):
    return panel_shot(tmp_path)


def test_panel_runs_the_cli_with_quoted_arguments_and_applies_the_result(jsx, shot):
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[
        {"set": "people", "text": " 1 "}, {"select": "parts", "indices": [1, 12]}, {"set": "tolerance", "text": "0.75"},
        {"click": "run"}])
    assert report["error"] is None, report["error"]
    argv = json.loads((shot["cli"].parent / "argv.json").read_text())
    out = argv[argv.index("-o") + 1]
    # the comp shows the layer from 2 s to 10 s: source frames 0..191 clipped to the 40 on disk
    assert argv == ["export", str(shot["first"]).replace("0995", "####"), "--target", "ae", "-o", out,
                    "--tolerance", "0.75", "--anchor-tolerance", "1.5", "--pixel-aspect", "1", "--fps", "24",
                    "--frames", "995-1034",
                    "--person", "1", "--part", "hair,face"]
    assert Path(out).parent == Path(shot["setup"]["tempDir"]) / "m2fp-roto"
    status = report["ui"]["status"]
    assert status.startswith("Done: 2 masks") and '"shot v2" in "edit"' in status
    layers = report["dump"]["comps"][0]["layers"]
    assert layers[0]["masks"] == []
    masks = layers[1]["masks"]
    assert [m["name"] for m in masks] == ["p1_hair", "p1_face"]
    # keys land at the layer's start + (frame - first file number) / fps
    assert masks[0]["path"]["keys"][0]["time"] == pytest.approx(2.0 + (1001 - 995) / 24)
    assert report["dump"]["settings"]["m2fp-roto"]["tolerance"] == "0.75"
    assert report["dump"]["undo"] == {"depth": 0, "groups": ["m2fp-roto: m2fp roto"]}  # one undo step
    assert report["dump"]["alerts"] == []  # applied from the panel: no alert, the status says it
    log = Path(shot["setup"]["tempDir"]) / "m2fp-roto" / "last_run.log"
    assert "/it'\\''s here/m2fp-roto' 'export' " in log.read_text()


def test_panel_reports_a_failing_cli_readably(jsx, shot, tmp_path):
    cli = fake_cli(tmp_path / "broken tool", tmp_path / "none.json", fail="error: frame 1003 is missing")
    shot["setup"]["settings"]["m2fp-roto"]["cli"] = str(cli)
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}])
    status = report["ui"]["status"]
    assert status.startswith("m2fp-roto failed:\nPROGRESS 0%\nerror: frame 1003 is missing\nFull log: ")
    assert report["dump"]["comps"][0]["layers"][1]["masks"] == []
    assert "$.evalFile" not in report["dump"]["calls"]


def test_panel_checks_the_file_and_network_preference_first(jsx, shot):
    shot["setup"]["prefs"] = {"Main Pref Section v2": {"Pref_SCRIPTING_FILE_NETWORK_SECURITY": 0}}
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}])
    assert "Allow Scripts to Write Files and Access Network" in report["ui"]["status"]
    assert "Scripting & Expressions" in report["ui"]["status"]
    assert "system.callSystem" not in report["dump"]["calls"]


def test_panel_finds_the_cli_from_the_environment_and_remembers_it(jsx, shot):
    shot["setup"]["settings"] = {}
    shot["setup"]["env"] = {"M2FP_ROTO_CLI": str(shot["cli"])}
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}])
    assert report["ui"]["status"].startswith("Done: ")
    assert report["dump"]["settings"]["m2fp-roto"]["cli"] == str(shot["cli"])
    assert report["ui"]["cli"] == str(shot["cli"])


def test_panel_validates_its_fields(jsx, shot):
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"set": "people", "text": "1; rm -rf /"},
                                                                     {"click": "run"}])
    assert report["ui"]["status"] == "Error: People: give person numbers like 1,2 (or all)"
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"set": "tolerance", "text": "-1"},
                                                                     {"click": "run"}])
    assert report["ui"]["status"] == "Error: Tolerance must be a positive number of pixels."
    assert "system.callSystem" not in report["dump"]["calls"]


def test_panel_quotes_for_cmd_exe_on_windows(jsx, shot):
    shot["setup"]["os"] = "Windows"
    shot["setup"]["settings"]["m2fp-roto"]["cli"] = "C:\\Program Files\\m2fp roto\\m2fp-roto.exe"
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}])
    line = report["dump"]["systemCalls"][0]
    assert line.startswith('cmd.exe /c ""C:\\Program Files\\m2fp roto\\m2fp-roto.exe" "export" "')
    assert line.endswith(' "--frames" "995-1034" 2>&1"')
    assert report["ui"]["status"].startswith("m2fp-roto failed:")  # nothing ran, nothing written
    shot["setup"]["settings"]["m2fp-roto"]["cli"] = "C:\\100%done\\m2fp-roto.exe"
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}])
    assert "cmd.exe cannot pass on" in report["ui"]["status"] and not report["dump"]["systemCalls"]


def test_panel_runs_as_a_floating_palette_without_a_comp(jsx, shot):
    setup = {k: v for k, v in shot["setup"].items() if k not in ("comps",)}
    report = jsx.run([PANEL], setup=setup, actions=[{"click": "refresh"}, {"click": "run"}])
    assert report["error"] is None
    assert report["ui"]["status"] == "Error: Pick a footage layer (open its comp and press Refresh)."


@pytest.mark.skipif(os.name == "nt", reason="runs the fake CLI through /bin/sh")
def test_panel_survives_hostile_footage_and_layer_names(jsx, shot, tmp_path):
    evil = tmp_path / "a'b\"c $(touch PWNED) `x` & ;"
    evil.mkdir()
    first = evil / "shot.0995.exr"
    first.write_bytes(b"")
    shot["setup"]["footage"][0]["file"] = str(first)
    shot["setup"]["comps"][0]["layers"][1]["name"] = "x'\"; $.global.PWNED=1; //"
    report = jsx.run([(PANEL, True)], setup=shot["setup"], actions=[{"click": "run"}], probe=["PWNED"])
    argv = json.loads((shot["cli"].parent / "argv.json").read_text())
    assert argv[1] == str(evil / "shot.####.exr")
    assert report["ui"]["status"].startswith("Done: ") and report["probe"] == {"PWNED": False}
    assert not list(Path.cwd().glob("PWNED")) and not (evil / "PWNED").exists()
