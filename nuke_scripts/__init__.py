"""Runs inside Nuke: the "M2FP Roto" menu and the importer (standard library + ``nuke`` only).

``from m2fp_roto_nuke import importer`` then ``importer.load_document("shot.json")`` pastes the
Roto nodes of a RotoDocument into the current script; see :mod:`m2fp_roto_nuke.importer`.
"""
