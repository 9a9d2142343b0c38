"""Runs inside Nuke: the M2FP Roto menu and the importer (stdlib + nuke only)."""
