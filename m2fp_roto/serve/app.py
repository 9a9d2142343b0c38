"""The FastAPI app: the page, the original parse API, roto jobs and health.

``create_app(config)`` builds one worker's app; ``app_from_env()`` is the factory uvicorn
calls in each worker process (the settings travel in ``M2FP_ROTO_SERVE_CONFIG``). Every error
is answered as ``{"status": "error", "message": ...}`` with its HTTP code.
"""

import asyncio
import json
import logging
import mimetypes
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from ..labelsets import LABEL_SETS
from . import submit
from .config import ServeConfig
from .errors import ApiError
from .jobs import TERMINAL, JobStore
from .model import ModelHolder
from .parse_api import colour_map, jpeg_bytes, palette_rgb, parse_payload
from .uploads import BodyLimit, decode_image, safe_name, sniff

log = logging.getLogger("m2fp_roto")

STATIC = Path(__file__).parent / "static"
PICTURE_KINDS = {"jpeg", "png", "exr", "tiff", "dpx"}
MEDIA_TYPES = {".nk": "text/plain; charset=utf-8", ".jsx": "text/plain; charset=utf-8",
               ".json": "application/json", ".zip": "application/zip"}
DESCRIPTION = """Multi-person human parsing and roto for Nuke, After Effects and EXR mattes.

* `POST /api/parse` and `POST /predict`: the original parsing service (multipart field `image`).
* `POST /api/jobs`: a roto job on a picture, a clip, a zip of frames or label maps, or mattes;
  then `GET /api/jobs/{id}` (or its `/events` stream) and `GET /api/jobs/{id}/files/{name}`.
"""


PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SafeHeaders:
    """ASGI middleware: no answer is content-sniffed by a browser or sent as a referrer."""

    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"status": "error", "message": exc.message}, status_code=exc.status, headers=exc.headers)


def multipart(*fields: str, file_field: str = "image") -> dict:
    """OpenAPI ``requestBody`` of a multipart form (the handlers read the form themselves, to
    enforce the upload limits while it arrives)."""
    props = {file_field: {"type": "string", "format": "binary"}}
    props.update({name: {"type": "string"} for name in fields})
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props}}}}}


def create_app(config: ServeConfig | None = None) -> FastAPIOffline:
    config = config or ServeConfig.from_env()
    model = ModelHolder(config.model, config.queue)
    store = JobStore(config)

    async def sweep_forever():
        while True:
            try:
                deleted = await run_in_threadpool(store.sweep)
                if deleted:
                    log.info("deleted %d expired job(s)", deleted)
            except Exception:  # a sweep must never take the worker down
                log.exception("job sweep failed")
            await asyncio.sleep(max(1.0, min(config.job_ttl / 4, 300.0)))

    @asynccontextmanager
    async def lifespan(app):
        model.start()
        sweeper = asyncio.create_task(sweep_forever())
        yield
        sweeper.cancel()

    app = FastAPIOffline(title="m2fp-roto", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                         redoc_url=None)
    app.state.config, app.state.model, app.state.store = config, model, store
    app.add_middleware(BodyLimit, limit=config.max_upload)
    app.add_middleware(SafeHeaders)

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return error_response(ApiError(exc.status_code, str(exc.detail), getattr(exc, "headers", None)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(ApiError(400, f"{where}: {first.get('msg', 'invalid request')}"))

    @app.exception_handler(Exception)
    async def crashed(request, exc: Exception):
        log.exception("unhandled error")
        return error_response(ApiError(500, f"internal error ({type(exc).__name__}); the server log has details"))

    # -- the page ----------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": PAGE_POLICY})

    @app.get("/api/health", summary="Service, model and queue status")
    async def health():
        active = await run_in_threadpool(store.active)
        return {"status": "ok", "version": __version__, "model": model.describe(),
                "queue": {"waiting": model.waiting, "limit": config.queue},
                "jobs": {"active": len(active), "slots": config.job_slots, "limit": config.job_slots + config.queue},
                "limits": {"max_upload": config.max_upload, "max_pixels": config.max_pixels,
                           "max_frames": config.max_frames, "job_ttl_s": config.job_ttl},
                "server_paths": bool(config.allow_roots)}

    @app.get("/api/labelsets", summary="Part names and display colours of each label set")
    async def labelsets():
        colours = palette_rgb()
        return {name: {"parts": list(ls.parts), "colours": colours[:ls.n_labels].tolist(),
                       "description": ls.description} for name, ls in LABEL_SETS.items()}

    # -- the original parsing API --------------------------------------------------------
    async def parse_upload(request: Request):
        """(filename, Parsing, timings) of the form's ``image``, through the bounded queue."""
        t0 = time.perf_counter()
        if model.state in ("missing", "error"):
            raise model.unavailable()
        with model.admitted():
            await model.wait_loaded()
            if model.state != "ready":
                raise model.unavailable()
            async with submit.read_form(request, "image") as (fields, upload):
                if upload is None:
                    raise ApiError(400, "no image: send the picture in the multipart field 'image'")
                kind = sniff(await upload.read(16))
                if kind is None or kind[0] not in ("jpeg", "png"):
                    raise ApiError(415, "the image must be a JPEG or PNG file")
                rgb = await run_in_threadpool(decode_image, upload.file, config.max_pixels)
                name = upload.filename
            t1 = time.perf_counter()
            parsing, waited, ran = await run_in_threadpool(model.parse, rgb, 1)
        return name, parsing, {"read_ms": (t1 - t0) * 1e3, "queue_ms": waited * 1e3, "parse_ms": ran * 1e3}

    @app.post("/api/parse", summary="Parse one image: part masks (base64 PNG) and the coloured part map",
              openapi_extra=multipart())
    async def api_parse(request: Request):
        t0 = time.perf_counter()
        _, parsing, timings = await parse_upload(request)
        t1 = time.perf_counter()
        payload = await run_in_threadpool(parse_payload, parsing)
        timings["encode_ms"] = (time.perf_counter() - t1) * 1e3
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        payload["timings"] = {k: round(v, 1) for k, v in timings.items()}
        return JSONResponse(payload)

    @app.post("/predict", summary="Parse one image: the coloured part map as a JPEG download",
              openapi_extra=multipart(), response_class=Response)
    async def predict(request: Request):
        name, parsing, _ = await parse_upload(request)
        data = await run_in_threadpool(lambda: jpeg_bytes(colour_map(parsing.parts)))
        filename = safe_name(name, "", "image") + "_parts.jpg"
        return Response(data, media_type="image/jpeg",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    # -- roto jobs ---------------------------------------------------------------------
    @app.post("/api/jobs", status_code=202, summary="Start a roto job",
              openapi_extra=multipart("input", "label_set", "frames", "first_frame", "tolerance", "min_area",
                                      "smooth", "track", "key_tolerance", "key_floor", "anchor_tolerance", "smoothing",
                                      "max_gap", "min_share", "temporal_window", "person", "part", "targets", "plate",
                                      "labels", "people", file_field="file"))
    async def create_job(request: Request):
        status = await submit.create_job(request, config, model, store)
        return JSONResponse(job_answer(status), status_code=202)

    def job_answer(status: dict) -> dict:
        base = f"/api/jobs/{status['id']}"
        return {"status": "success", **status, "url": base, "events": f"{base}/events", "files_url": f"{base}/files/"}

    @app.get("/api/jobs/{job_id}", summary="A job's state, progress per stage and files")
    async def job_status(job_id: str):
        return job_answer(await run_in_threadpool(store.status, job_id))

    @app.get("/api/jobs/{job_id}/events", summary="The job's state as server-sent events until it ends",
             response_class=StreamingResponse)
    async def job_events(job_id: str, request: Request):
        await run_in_threadpool(store.status, job_id)  # 404 before the stream starts

        async def stream():
            last, quiet = None, 0.0
            while True:
                try:
                    status = await run_in_threadpool(store.status, job_id)
                except ApiError as exc:  # deleted while watched
                    yield f"event: gone\ndata: {json.dumps({'message': exc.message})}\n\n"
                    return
                text = json.dumps(job_answer(status))
                if text != last:
                    yield f"event: status\ndata: {text}\n\n"
                    last, quiet = text, 0.0
                elif quiet > 15:
                    yield ": still working\n\n"
                    quiet = 0.0
                if status["state"] in TERMINAL or await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                quiet += 0.25

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
    async def cancel_job(job_id: str):
        return job_answer(await run_in_threadpool(store.cancel, job_id))

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job and delete it with its files")
    async def delete_job(job_id: str):
        await run_in_threadpool(store.delete, job_id)
        return {"status": "success", "deleted": job_id}

    @app.get("/api/jobs/{job_id}/files/{name}", summary="One of the job's files (download=true: as attachment)")
    async def job_file(job_id: str, name: str, download: bool = False):
        folder = store.folder(job_id)
        path = folder.output(name)
        media = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        stem = Path(safe_name(folder.read().get("input", {}).get("name"), "", "shot")).stem
        headers = {"Cache-Control": "private, max-age=3600"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{stem}_{name}"'
        return FileResponse(path, media_type=media, headers=headers)

    return app


def app_from_env():
    """uvicorn's factory in each worker process (whose logging starts unconfigured)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     m2fp-roto: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return create_app(ServeConfig.from_env())
