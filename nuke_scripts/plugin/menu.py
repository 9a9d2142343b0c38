"""Nuke start-up file (GUI sessions): adds the "M2FP Roto" menu (init.py beside it ran first)."""

import nuke

if nuke.GUI:
    from m2fp_roto_nuke import ui

    ui.add_menu()
