"""``m2fp-roto install nuke``: put the "M2FP Roto" menu into Nuke.

Appends one marked, guarded block to ``~/.nuke/init.py`` that adds the plug-in folder
(``m2fp_roto_nuke/plugin``: ``init.py`` registers the package, ``menu.py`` adds the menu) with
``nuke.pluginAddPath`` and tells the Nuke side where the ``m2fp-roto`` command is. Running it
again updates the block in place; nothing else in the file is touched, and the file is replaced
atomically. ``--print`` only prints the block, for a facility's own ``init.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ..atomic import atomic_write_text
from ..errors import InputError

BEGIN = "# >>> m2fp-roto: M2FP Roto menu (m2fp-roto install nuke) >>>"
END = "# <<< m2fp-roto <<<"


def plugin_dir() -> Path:
    """The folder to put on Nuke's plug-in path."""
    import m2fp_roto_nuke

    return Path(m2fp_roto_nuke.__file__).resolve().parent / "plugin"


def cli_path() -> str | None:
    """The ``m2fp-roto`` executable of this installation, if there is one."""
    beside = Path(sys.executable).with_name("m2fp-roto")
    if beside.is_file():
        return str(beside)
    return shutil.which("m2fp-roto")


def snippet(plugin: Path | str | None = None, cli: str | None = None) -> str:
    """The block for an ``init.py``; paths are Python literals, so any path is safe in it."""
    plugin = str(plugin or plugin_dir())
    lines = [BEGIN, "try:", "    import os as _m2fp_os", "    import nuke as _m2fp_nuke"]
    if cli:
        lines.append(f"    _m2fp_os.environ.setdefault('M2FP_ROTO_CLI', {cli!r})")
    lines += [f"    _m2fp_nuke.pluginAddPath({plugin!r})",
              "except Exception as _m2fp_exc:  # never keep Nuke from starting",
              "    print('m2fp-roto: the M2FP Roto menu was not loaded: %s' % _m2fp_exc)",
              END]
    return "\n".join(lines) + "\n"


def _read(target: Path) -> tuple[str, tuple[int, int] | None]:
    """The file's text and the span of our block in it (None when there is none)."""
    try:
        text = target.read_text(encoding="utf-8") if target.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {target}: {exc}") from None
    start = text.find(BEGIN)
    if start < 0:
        return text, None
    end = text.find(END, start)
    if end < 0:
        raise InputError(f"{target} has the m2fp-roto start marker but no end marker ({END!r}); "
                         "fix or remove the block by hand")
    end = text.find("\n", end)
    return text, (start, len(text) if end < 0 else end + 1)


def _write(target: Path, text: str) -> None:
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror}") from None


def install(target: Path, block: str) -> str:
    """Add or update ``block`` in ``target``; returns what happened ("added", "updated", "unchanged")."""
    text, span = _read(target)
    if span:
        if text[span[0]:span[1]] == block:
            return "unchanged"
        _write(target, text[:span[0]] + block + text[span[1]:])
        return "updated"
    sep = "" if not text or text.endswith("\n") else "\n"
    _write(target, text + sep + ("\n" if text else "") + block)
    return "added"


def remove(target: Path) -> bool:
    """Remove our block from ``target`` (everything else stays); False when it was not there."""
    text, span = _read(target)
    if not span:
        return False
    head = text[:span[0]]
    if head.endswith("\n\n"):  # the blank line install() put before the block
        head = head[:-1]
    _write(target, head + text[span[1]:])
    return True


@click.command("nuke")
@click.option("--print", "print_only", is_flag=True,
              help="Only print the block to add to a facility init.py; change nothing.")
@click.option("--nuke-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Nuke's user folder (default: ~/.nuke).")
@click.option("--uninstall", is_flag=True, help="Remove the block again.")
def nuke(print_only, nuke_dir, uninstall):
    """Add the M2FP Roto menu to Nuke (a guarded block in ~/.nuke/init.py)."""
    block = snippet(cli=cli_path())
    if print_only:
        click.echo(block, nl=False)
        return
    folder = nuke_dir or Path(os.path.expanduser("~")) / ".nuke"
    target = folder / "init.py"
    if uninstall:
        removed = remove(target)
        click.echo(f"removed the M2FP Roto block from {target}" if removed else f"{target} has no M2FP Roto block")
        return
    what = install(target, block)
    click.echo(f"{what} the M2FP Roto block in {target}" if what != "unchanged"
               else f"{target} already has the M2FP Roto block")
