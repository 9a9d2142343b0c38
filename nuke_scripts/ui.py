"""The "M2FP Roto" menu in Nuke's menu bar and the commands behind it."""

from __future__ import annotations

from . import importer

MENU = "M2FP Roto"


def _reporting(action):
    """Run a menu action; show a failure to the artist in nuke.message instead of a traceback."""

    def run():
        nuke = importer._nuke()
        try:
            return action()
        except importer.ImportFailed as exc:
            nuke.message(f"{MENU}: {exc}")
        except Exception as exc:  # noqa: BLE001  (a menu command must never die silently)
            nuke.message(f"{MENU}: unexpected error: {type(exc).__name__}: {exc}")
        return None

    run.__name__ = getattr(action, "__name__", "run")
    return run


def roto_from_selected_read():
    return importer.roto_from_read()


def import_document():
    path = importer._nuke().getFilename("Import a RotoDocument", "*.json")
    return importer.load_document(path) if path else None


def import_nk():
    path = importer._nuke().getFilename("Import m2fp-roto Roto nodes", "*.nk")
    return importer.load_nk(path) if path else None


COMMANDS = (
    ("Roto from Selected Read", roto_from_selected_read),
    ("Import RotoDocument (JSON)...", import_document),
    ("Import Roto Script (.nk)...", import_nk),
)


def add_menu():
    """Add the menu (idempotent: Nuke replaces a command added twice under the same name)."""
    nuke = importer._nuke()
    menu = nuke.menu("Nuke").addMenu(MENU)
    for label, action in COMMANDS:
        menu.addCommand(label, _reporting(action))
    return menu
