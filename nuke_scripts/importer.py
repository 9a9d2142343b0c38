"""Roto nodes in the current Nuke script from a RotoDocument, a ``.nk`` or a Read node.

Runs inside Nuke with the standard library and ``nuke`` only. Everything ends in one bulk call,
``nuke.nodePaste(path)`` of the text the ``nuke`` exporter writes (never point-by-point
``nuke.rotopaint`` calls, which take minutes on dense shapes). The text is made in-process when
``m2fp_roto`` is importable in Nuke's Python, and by the ``m2fp-roto`` command line otherwise.

For TDs::

    from m2fp_roto_nuke import importer
    nodes = importer.load_document("/shots/sh010/sh010_roto.json", people=[1], parts=["hair", "face"])
    nodes = importer.load_nk("/shots/sh010/sh010_roto.nk")
    nodes = importer.roto_from_read(nuke.toNode("Read1"))   # parse the plate with the toolkit
"""

from __future__ import annotations

import os
import tempfile

from . import cli_runner

PASTE_OFFSET_Y = 120  # DAG distance below the Read for nodes made from it
PASTE_SPACING_X = 110


class ImportFailed(RuntimeError):
    """A user-facing failure (no Read selected, the toolkit failed, ...): one line of text."""


def _nuke():
    import nuke  # noqa: PLC0415  (only inside Nuke, or a test's stand-in)

    return nuke


# -- loading -----------------------------------------------------------------------------------------

def load_nk(path) -> list:
    """Paste the nodes of a ``.nk`` written by m2fp-roto into the current script; returns them."""
    nuke = _nuke()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImportFailed(f"no such file: {path}")
    for node in nuke.selectedNodes():
        node.setSelected(False)
    nuke.nodePaste(path)  # pasted nodes come back selected
    return list(nuke.selectedNodes())


def _export_in_process(doc, out, group, bake, people, parts) -> bool:
    """Write ``out`` with the exporter when m2fp_roto is importable here; False if it is not."""
    try:
        from m2fp_roto import exporters
        from m2fp_roto.document import RotoDocument
        from m2fp_roto.errors import RotoError
    except ImportError:
        return False
    try:
        if not isinstance(doc, RotoDocument):
            doc = RotoDocument.load(doc)
        exporters.write(doc, out, "nuke", {"group": group, "bake": bake, "root": False}, people=people, parts=parts)
    except RotoError as exc:
        raise ImportFailed(str(exc)) from None
    return True


def export_args(doc_path, out, group="per-person", bake="frames", people=None, parts=None) -> list:
    """Command-line arguments that convert a RotoDocument JSON to a pasteable ``.nk``."""
    args = ["export", "--doc", os.fspath(doc_path), "--target", "nuke", "--group", group, "--bake", bake,
            "--root", "false", "-o", os.fspath(out)]
    if people:
        args += ["--person", ",".join(str(int(p)) for p in people)]
    if parts:
        args += ["--part", ",".join(str(p) for p in parts)]
    return args


def load_document(doc, group: str = "per-person", bake: str = "frames", people=None, parts=None) -> list:
    """Roto nodes for a RotoDocument (object, or path to its JSON) in the current script.

    Parameters
    ----------
    doc : RotoDocument or path
    group : {"per-person", "all"}
        One Roto node per person, or one for everybody.
    bake : {"frames", "keys"}
        Key every frame (exact), or only the document's keys.
    people, parts : list, optional
        Only these person ids / part names.

    Returns
    -------
    list of nuke.Node
        The new Roto nodes.
    """
    with tempfile.TemporaryDirectory(prefix="m2fp_roto_") as tmp:
        out = os.path.join(tmp, "roto.nk")
        if not _export_in_process(doc, out, group, bake, people, parts):
            if not isinstance(doc, (str, os.PathLike)):
                raise ImportFailed("a RotoDocument object needs m2fp_roto in Nuke's Python; pass the JSON path")
            try:
                cli_runner.run_cli(export_args(doc, out, group, bake, people, parts))
            except cli_runner.CliError as exc:
                raise ImportFailed(str(exc)) from None
        return load_nk(out)


# -- from a Read node ----------------------------------------------------------------------------------

def plate_args(read, out) -> list:
    """``m2fp-roto export`` arguments that parse a Read node's plate over its frame range."""
    nuke = _nuke()
    try:
        plate = nuke.filename(read)
    except (AttributeError, TypeError, ValueError):
        plate = None
    plate = plate or read["file"].value()
    if not plate:
        raise ImportFailed(f"{read.name()} has no file")
    first, last = int(read["first"].value()), int(read["last"].value())
    args = ["export", plate, "--frames", f"{first}-{last}", "--target", "nuke", "--root", "false",
            "-o", os.fspath(out)]
    # the project's frame rate and the plate's pixel aspect go into the document (and its Root)
    args += ["--fps", f"{float(nuke.root()['fps'].value()):g}",
             "--pixel-aspect", f"{float(read.format().pixelAspect()):g}"]
    return args


def selected_read():
    """The selected Read node, or ImportFailed saying what to select."""
    reads = [n for n in _nuke().selectedNodes() if n.Class() == "Read"]
    if len(reads) != 1:
        raise ImportFailed("select one Read node with the plate to roto")
    return reads[0]


def _run_with_progress(nuke, title, message, args) -> bool:
    """Run the CLI under a ProgressTask; False when the user cancelled.

    The task lives only in this frame: Nuke closes its window when the object goes away.
    """
    task = nuke.ProgressTask(title)
    task.setMessage(message)

    def progress(pct, label):
        task.setProgress(pct)
        if label:
            task.setMessage(label)

    try:
        cli_runner.run_cli(args, on_progress=progress, is_cancelled=task.isCancelled)
    except cli_runner.Cancelled:
        return False
    except cli_runner.CliError as exc:
        raise ImportFailed(str(exc)) from None
    return True


def roto_from_read(read=None, title: str = "M2FP Roto") -> list:
    """Parse a Read's plate with the toolkit and paste the Roto nodes beside it.

    Shows a cancellable ``nuke.ProgressTask`` fed by the command line's progress; a cancel stops
    the subprocess and changes nothing. Failures raise :class:`ImportFailed`.
    """
    nuke = _nuke()
    read = read or selected_read()
    with tempfile.TemporaryDirectory(prefix="m2fp_roto_") as tmp:
        out = os.path.join(tmp, "roto.nk")
        args = plate_args(read, out)
        if not _run_with_progress(nuke, title, f"parsing {os.path.basename(args[1])}", args):
            return []
        nodes = load_nk(out)
    x, y = read.xpos(), read.ypos() + PASTE_OFFSET_Y
    for i, node in enumerate(nodes):
        node.setXYpos(x + i * PASTE_SPACING_X, y)
    return nodes
