"""Export targets of m2fp-roto (installed as ``m2fp_roto_exporters``), one module per target.

Each is registered in the entry-point group ``m2fp_roto.exporters``; see ``m2fp_roto.exporters``.
"""
