"""``m2fp-roto serve``: the web page and REST API (FastAPI + uvicorn: ``pip install 'm2fp-roto[serve]'``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError
from .plate import model_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves every interface (there is no login: trusted networks only).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; each loads its own copy of the model.")
@model_options
@click.option("--max-upload", default="200MB", show_default=True, help="Largest request body (413 above it).")
@click.option("--max-pixels", default="50M", show_default=True,
              help="Largest image or frame in pixels, checked from headers before decoding (413 above it).")
@click.option("--max-frames", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Most frames in one roto job.")
@click.option("--queue", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests that may wait for the model per worker, and roto jobs that may wait for a slot; "
              "more are answered 429 with Retry-After.")
@click.option("--job-slots", type=click.IntRange(min=1), default=1, show_default=True,
              help="Roto jobs running at once, each in its own process.")
@click.option("--job-ttl", default="24h", show_default=True, help="How long a finished job and its files are kept.")
@click.option("--jobs-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where jobs and their files live (default: ~/.cache/m2fp-roto/jobs).")
@click.option("--allow-root", "allow_roots", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="A folder whose plates and label maps jobs may read in place (repeatable). Default: none, "
              "jobs read only their uploads.")
def serve(host, port, workers, model_opts, max_upload, max_pixels, max_frames, queue, job_slots, job_ttl, jobs_dir,
          allow_roots):
    """Serve the web page and the REST API: parse pictures, run roto jobs, download the results.

    The model loads once per worker (in the background: the page says when it is ready) and
    is never downloaded by the server; without it the service still runs label-map and matte
    jobs. API docs: /docs.

    \b
    Examples:
      m2fp-roto serve                                   # http://127.0.0.1:5000/
      m2fp-roto serve --model /mnt/models/m2fp-multi --workers 2 --host 0.0.0.0
      m2fp-roto serve --allow-root /mnt/shows --job-ttl 7d
    """
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise InputError(f"the web service needs its extra ({exc}): pip install 'm2fp-roto[serve]'") from None
    from ..serve.config import ENV_CONFIG, ServeConfig, default_jobs_dir, parse_duration, parse_size

    config = ServeConfig(host=host, port=port, workers=workers, model=model_opts,
                         max_upload=parse_size(max_upload, "--max-upload"),
                         max_pixels=parse_size(max_pixels, "--max-pixels"), max_frames=max_frames, queue=queue,
                         job_slots=job_slots, job_ttl=parse_duration(job_ttl, "--job-ttl"),
                         jobs_dir=str(jobs_dir or default_jobs_dir()), allow_roots=list(allow_roots))
    os.environ[ENV_CONFIG] = config.to_json()  # each worker process builds its app from it
    click.echo(f"m2fp-roto: the page is http://{host}:{port}/ and the API docs /docs; jobs live in "
               f"{config.jobs_dir}", err=True)
    uvicorn.run("m2fp_roto.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", timeout_graceful_shutdown=3)
