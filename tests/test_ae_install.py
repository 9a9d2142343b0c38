"""``m2fp-roto install ae``: finds AE installs, copies the panel atomically with the CLI path in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from m2fp_roto.cli import install_ae
from m2fp_roto.cli.main import main
from m2fp_roto_exporters.jstext import js_string
from support.ae_node import panel_shot


@pytest.fixture
def apps(tmp_path, monkeypatch):
    """Fake application folders: three AE versions (one Windows-style) and an unrelated app."""
    root = tmp_path / "Applications"
    for name in ("Adobe After Effects 2024", "Adobe After Effects 2025", "Adobe After Effects CC 2019"):
        (root / name / "Scripts").mkdir(parents=True)
    (root / "Adobe After Effects (Beta)" / "Support Files" / "Scripts").mkdir(parents=True)
    (root / "Adobe Premiere Pro 2025").mkdir()
    monkeypatch.setattr(install_ae, "search_roots", lambda: [root])
    return root


def test_finds_installs_newest_last_and_their_panel_folders(apps):
    found = install_ae.find_ae_installs()
    assert [p.name for p in found] == ["Adobe After Effects (Beta)", "Adobe After Effects CC 2019",
                                       "Adobe After Effects 2024", "Adobe After Effects 2025"]
    assert install_ae.panels_folder(found[-1]) == found[-1] / "Scripts" / "ScriptUI Panels"
    assert install_ae.panels_folder(found[0]) == found[0] / "Support Files" / "Scripts" / "ScriptUI Panels"
    assert install_ae.find_ae_installs([apps / "missing"]) == []


def test_install_copies_the_panel_into_the_newest_ae_with_the_cli_written_in(apps, monkeypatch, jsx):
    cli = "/opt/it's \"here\"/m2fp-roto"
    monkeypatch.setattr(install_ae, "cli_path", lambda: cli)
    result = CliRunner().invoke(main, ["install", "ae"])
    assert result.exit_code == 0, result.output
    target = apps / "Adobe After Effects 2025" / "Scripts" / "ScriptUI Panels" / "M2FP Roto.jsx"
    assert f"installed {target}" in result.output and "Allow Scripts to Write Files" in result.output
    text = target.read_text(encoding="ascii")
    assert f"var INSTALLED_CLI = {js_string(cli)};" in text
    assert jsx.check_es3(target) == {str(target): []}
    assert not list(target.parent.glob(".*"))  # the atomic copy left no temporary file
    assert not (apps / "Adobe After Effects 2024" / "Scripts" / "ScriptUI Panels").exists()
    # again, into every version: the same bytes everywhere
    result = CliRunner().invoke(main, ["install", "ae", "--all"])
    assert result.exit_code == 0 and result.output.count("installed ") == 4
    assert (apps / "Adobe After Effects (Beta)" / "Support Files" / "Scripts" / "ScriptUI Panels"
            / "M2FP Roto.jsx").read_text() == text


def test_installed_panel_finds_the_cli_it_was_installed_with(apps, monkeypatch, jsx, tmp_path):
    shot = panel_shot(tmp_path)
    shot["setup"]["settings"] = {}
    monkeypatch.setattr(install_ae, "cli_path", lambda: str(shot["cli"]))
    written = install_ae.install_panel(tmp_path / "panels", install_ae.cli_path())
    report = jsx.run([(written, True)], setup=shot["setup"], actions=[{"click": "run"}])
    assert report["ui"]["status"].startswith("Done: "), report["ui"]["status"]
    assert report["dump"]["settings"]["m2fp-roto"]["cli"] == str(shot["cli"])


def test_print_says_where_the_panel_goes_and_nothing_found_is_an_error(apps, monkeypatch, tmp_path):
    result = CliRunner().invoke(main, ["install", "ae", "--print"])
    assert result.exit_code == 0
    assert "would install" in result.output and "ScriptUI Panels" in result.output
    assert not list(apps.rglob("M2FP Roto.jsx"))
    monkeypatch.setattr(install_ae, "search_roots", lambda: [tmp_path / "nothing"])
    result = CliRunner().invoke(main, ["install", "ae"])  # nothing installed is a failure, said in one line
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: no After Effects install found") and result.stderr.count("\n") == 1
    assert str(install_ae.panel_source()) in result.stderr


def test_explicit_folder_and_a_bad_one(tmp_path):
    scripts = tmp_path / "AE" / "Scripts"
    scripts.mkdir(parents=True)
    result = CliRunner().invoke(main, ["install", "ae", "--ae-dir", str(scripts)])
    assert result.exit_code == 0 and (scripts / "ScriptUI Panels" / "M2FP Roto.jsx").is_file()
    result = CliRunner().invoke(main, ["install", "ae", "--ae-dir", str(tmp_path / "nope")])
    assert result.exit_code == 2 and result.output.strip().endswith("is not a folder")
    assert Path(install_ae.panel_source()).read_text().count('var INSTALLED_CLI = "";') == 1
