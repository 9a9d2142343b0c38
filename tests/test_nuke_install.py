"""``m2fp-roto install nuke``: a guarded, idempotent, atomic block in ~/.nuke/init.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from m2fp_roto.cli import install_nuke
from m2fp_roto.errors import InputError
from support.fake_nuke import make_fake_nuke

ROOT = Path(__file__).resolve().parents[1]
EXISTING = "import nuke\nnuke.knobDefault('Blur.size', '3')  # the artist's own line"


def test_block_is_added_once_and_keeps_existing_content(tmp_path):
    init = tmp_path / "init.py"
    init.write_text(EXISTING)
    block = install_nuke.snippet(cli="/opt/m2fp/bin/m2fp-roto")
    assert install_nuke.install(init, block) == "added"
    text = init.read_text()
    assert text.startswith(EXISTING + "\n") and text.endswith(block) and text.count(install_nuke.BEGIN) == 1
    assert install_nuke.install(init, block) == "unchanged"
    assert init.read_text() == text
    # a new location replaces the block in place; the artist's lines and anything after stay
    init.write_text(text + "print('after')\n")
    moved = install_nuke.snippet(plugin="/new/place/plugin", cli="/opt/m2fp2/bin/m2fp-roto")
    assert install_nuke.install(init, moved) == "updated"
    assert init.read_text() == EXISTING + "\n\n" + moved + "print('after')\n"
    assert [p.name for p in tmp_path.iterdir()] == ["init.py"]  # no temporary left behind


def test_half_a_block_is_refused_not_overwritten(tmp_path):
    init = tmp_path / "init.py"
    broken = EXISTING + "\n" + install_nuke.BEGIN + "\nnuke.pluginAddPath('/x')\n"
    init.write_text(broken)
    with pytest.raises(InputError, match="no end marker"):
        install_nuke.install(init, install_nuke.snippet(cli=None))
    assert init.read_text() == broken


def test_block_runs_in_nuke_and_survives_odd_paths(monkeypatch, capsys):
    fake = make_fake_nuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    monkeypatch.delenv("M2FP_ROTO_CLI", raising=False)
    odd = "/shows/it's \"odd\" [dir] $HOME\\x/plugin"
    exec(compile(install_nuke.snippet(plugin=odd, cli="/opt/m2fp roto/m2fp-roto"), "init.py", "exec"), {})
    assert fake.plugin_paths == [odd]
    import os

    assert os.environ["M2FP_ROTO_CLI"] == "/opt/m2fp roto/m2fp-roto"
    # outside Nuke (no nuke module) the block only says so
    monkeypatch.setitem(sys.modules, "nuke", None)
    exec(compile(install_nuke.snippet(plugin=odd), "init.py", "exec"), {})
    assert "menu was not loaded" in capsys.readouterr().out


def test_plugin_dir_is_the_shipped_plugin_folder():
    assert install_nuke.plugin_dir() == ROOT / "nuke_scripts" / "plugin"
    assert {p.name for p in install_nuke.plugin_dir().iterdir() if p.suffix == ".py"} == {"init.py", "menu.py"}


def test_cli_install_and_print(tmp_path):
    from m2fp_roto.cli.main import main

    runner = CliRunner()
    printed = runner.invoke(main, ["install", "nuke", "--print"])
    assert printed.exit_code == 0 and printed.output.startswith(install_nuke.BEGIN)
    assert "pluginAddPath(" in printed.output and not (tmp_path / "init.py").exists()
    first = runner.invoke(main, ["install", "nuke", "--nuke-dir", str(tmp_path)])
    assert first.exit_code == 0 and "added" in first.output
    again = runner.invoke(main, ["install", "nuke", "--nuke-dir", str(tmp_path)])
    assert again.exit_code == 0 and "already has" in again.output
    assert (tmp_path / "init.py").read_text() == printed.output


def test_uninstall_removes_only_the_block(tmp_path):
    from m2fp_roto.cli.main import main

    init = tmp_path / "init.py"
    init.write_text(EXISTING + "\n")
    runner = CliRunner()
    assert runner.invoke(main, ["install", "nuke", "--nuke-dir", str(tmp_path)]).exit_code == 0
    assert install_nuke.BEGIN in init.read_text()
    result = runner.invoke(main, ["install", "nuke", "--nuke-dir", str(tmp_path), "--uninstall"])
    assert result.exit_code == 0 and "removed" in result.output
    assert init.read_text() == EXISTING + "\n"   # exactly as before
    again = runner.invoke(main, ["install", "nuke", "--nuke-dir", str(tmp_path), "--uninstall"])
    assert "has no M2FP Roto block" in again.output
