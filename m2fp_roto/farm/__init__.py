"""Shots that outgrow one machine.

- :mod:`.cluster` - per-frame work (decode + parse, then vectorize) and per-track solves as
  Dask tasks on a ``distributed`` cluster (``--cluster``; the ``dask`` extra).
- :mod:`.openjd` - render-farm job templates in Open Job Description (``farm-job``).

Neither imports Dask or the Open Job Description libraries until it runs.
"""
