"""``m2fp-roto install ae``: put the m2fp-roto panel into After Effects' ScriptUI Panels folder.

AE lists every script in ``Scripts/ScriptUI Panels`` of its application folder under the Window
menu as a dockable panel (macOS: ``/Applications/Adobe After Effects <version>/Scripts``,
Windows: ``Program Files\\Adobe\\Adobe After Effects <version>\\Support Files\\Scripts``). The
installed copy remembers where this installation's ``m2fp-roto`` executable is, so the panel
finds it without setup. The copy is atomic; ``--print`` only says where the file goes.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from ..atomic import atomic_write_text
from ..errors import InputError
from .install_nuke import cli_path

PANEL_NAME = "M2FP Roto.jsx"
CLI_LINE = 'var INSTALLED_CLI = "";'  # the panel's line that install fills in


def search_roots() -> list[Path]:
    """Folders that hold After Effects installs on this platform."""
    if sys.platform == "darwin":
        return [Path("/Applications")]
    if os.name == "nt":
        names = ("ProgramW6432", "ProgramFiles", "ProgramFiles(x86)")
        return list(dict.fromkeys(Path(os.environ[n]) / "Adobe" for n in names if os.environ.get(n)))
    return []


def _version_key(path: Path):
    numbers = [int(n) for n in re.findall(r"\d+", path.name)]
    return (max(numbers) if numbers else 0, "beta" not in path.name.lower(), path.name)


def find_ae_installs(roots=None) -> list[Path]:
    """After Effects application folders under ``roots``, oldest first (betas before releases)."""
    found = []
    for root in search_roots() if roots is None else roots:
        try:
            found += [p for p in Path(root).glob("Adobe After Effects*") if p.is_dir()]
        except OSError:
            continue
    return sorted(found, key=_version_key)


def panels_folder(folder: Path) -> Path:
    """The ScriptUI Panels folder of an AE install (or of a Scripts folder, or itself)."""
    folder = Path(folder)
    if folder.name == "ScriptUI Panels":
        return folder
    if folder.name == "Scripts":
        return folder / "ScriptUI Panels"
    windows = folder / "Support Files" / "Scripts"
    return (windows if windows.is_dir() else folder / "Scripts") / "ScriptUI Panels"


def panel_source() -> Path:
    import m2fp_roto_ae

    return Path(m2fp_roto_ae.__file__).resolve().parent / PANEL_NAME


def panel_text(cli: str | None) -> str:
    """The panel with this installation's executable written in (as a safe JS string)."""
    from m2fp_roto_exporters.jstext import js_string

    text = panel_source().read_text(encoding="ascii")
    if CLI_LINE not in text:
        raise InputError(f"{panel_source()} lacks the line {CLI_LINE!r}; reinstall m2fp-roto")
    return text.replace(CLI_LINE, f"var INSTALLED_CLI = {js_string(cli or '')};", 1)


def install_panel(folder: Path, cli: str | None) -> Path:
    """Copy the panel into ``folder`` (created if needed), atomically; returns the new file."""
    target = Path(folder) / PANEL_NAME
    try:
        return atomic_write_text(target, panel_text(cli), encoding="ascii")
    except PermissionError:
        raise InputError(f"no permission to write {target}: run as an administrator, or copy "
                         f"{panel_source()} there yourself") from None
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror}") from None


def _where_text() -> str:
    return (f"Put {panel_source()} into the 'Scripts/ScriptUI Panels' folder of After Effects\n"
            "  macOS:   /Applications/Adobe After Effects <version>/Scripts/ScriptUI Panels\n"
            "  Windows: C:\\Program Files\\Adobe\\Adobe After Effects <version>\\Support Files\\Scripts\\ScriptUI Panels\n"
            "(or use File > Scripts > Install ScriptUI Panel... in AE), then restart After Effects.")


@click.command("ae")
@click.option("--print", "print_only", is_flag=True, help="Only print where the panel goes; change nothing.")
@click.option("--ae-dir", "ae_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="An After Effects folder (or its Scripts / ScriptUI Panels folder) to install into; "
                   "repeatable. Default: the newest After Effects found.")
@click.option("--all", "all_versions", is_flag=True, help="Install into every After Effects found.")
def ae(print_only, ae_dirs, all_versions):
    """Install the m2fp-roto panel into After Effects (Window > M2FP Roto.jsx)."""
    installs = list(ae_dirs) or find_ae_installs()
    if not ae_dirs and not all_versions:
        installs = installs[-1:]
    if not installs and not print_only:
        raise InputError(f"no After Effects install found: give its folder with --ae-dir, or copy "
                         f"{panel_source()} into its 'Scripts/ScriptUI Panels' folder (--print says where)")
    if print_only:
        for folder in installs:
            click.echo(f"would install {panels_folder(folder) / PANEL_NAME}")
        click.echo(_where_text())
        return
    cli = cli_path()
    for folder in installs:
        if not Path(folder).is_dir():
            raise InputError(f"{folder} is not a folder")
        written = install_panel(panels_folder(folder), cli)
        click.echo(f"installed {written}")
    click.echo("Restart After Effects and open Window > M2FP Roto.jsx; turn on Preferences > Scripting & "
               "Expressions > Allow Scripts to Write Files and Access Network.")
    if not cli:
        click.echo("m2fp-roto's executable was not found on PATH: set it in the panel with '...'.")
