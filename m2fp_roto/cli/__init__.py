"""The ``m2fp-roto`` command line: :mod:`.main` holds the group and the roto commands,
:mod:`.plate` the plate commands, :mod:`.install_nuke` / :mod:`.install_ae` the host
installers, and :mod:`.demo` the synthetic shot the ``demo`` command runs on."""

from .main import main

__all__ = ["main"]
