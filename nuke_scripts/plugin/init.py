"""Nuke start-up file (every session, with or without a GUI): makes ``m2fp_roto_nuke`` importable.

Nuke runs this file when its folder is on the plug-in path (``nuke.pluginAddPath``; see
``m2fp-roto install nuke``). This folder holds only Nuke's two start-up files, so the plug-in
path adds no other top-level module names to Nuke's Python; the ``m2fp_roto_nuke`` package is
the folder above, registered under its name so that TDs can ``from m2fp_roto_nuke import importer``
(also in ``nuke -t`` sessions, which never run menu.py).
"""

import importlib.util
import os
import sys


def _register_package():
    if "m2fp_roto_nuke" in sys.modules:
        return
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("m2fp_roto_nuke", os.path.join(package_dir, "__init__.py"),
                                                  submodule_search_locations=[package_dir])
    package = importlib.util.module_from_spec(spec)
    sys.modules["m2fp_roto_nuke"] = package
    spec.loader.exec_module(package)


_register_package()
