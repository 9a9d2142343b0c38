"""``python -m m2fp_roto.cli``: the ``m2fp-roto`` command."""

from .main import main

main()
