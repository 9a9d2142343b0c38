"""The web page and REST API of m2fp-roto (``m2fp-roto serve``; the ``serve`` extra).

:mod:`.app` is the FastAPI app (page, ``/api/parse`` + ``/predict`` of the original service,
roto jobs, health), :mod:`.model` the worker's one M2FP model and its bounded queue,
:mod:`.submit` + :mod:`.uploads` + :mod:`.job_options` check what comes in, :mod:`.jobs` keeps
jobs on disk, :mod:`.runner` + :mod:`.pipeline_job` + :mod:`.outputs` run one job in its own
process on the CLI's pipeline, :mod:`.parse_api` encodes the original answers, and ``static/``
holds the page (plain HTML/JS/CSS, no CDN). Importing this package loads no web framework.
"""
