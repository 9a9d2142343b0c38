"""Receiving uploads: the multipart form, and a roto job made from it.

Everything is checked before a job starts, so a bad upload is answered at once with the
reason (400 unreadable, 403 a server path outside ``--allow-root``, 413 too large, 415 not a
picture, clip or zip, 429 busy, 503 pictures without a model) and leaves nothing behind.
"""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager

from ..errors import InputError
from .errors import ApiError
from .job_options import allowed_path, check_files, job_request
from .uploads import check_pixels, check_zip_pixels, decode_image, image_size, plan_zip, safe_name, sniff

FILE_FIELDS = ("file", "image")
SERVER_FIELDS = ("plate", "labels", "people")


@asynccontextmanager
async def read_form(request, file_field: str, urlencoded: bool = False):
    """``(fields, upload)`` of a multipart request (or, with ``urlencoded``, a plain form
    without a file): text fields by name, and the one file (or None). Limits: one file, 64
    fields, 64 KB per text field; the body limit is :class:`~.uploads.BodyLimit`'s. Spooled
    upload files are removed on exit."""
    ctype = request.headers.get("content-type", "").lower()
    plain = urlencoded and ctype.startswith("application/x-www-form-urlencoded")
    if not (ctype.startswith("multipart/form-data") or plain):
        raise ApiError(415, f"send multipart/form-data with the file in the field '{file_field}' "
                            f"(this request is {ctype.split(';')[0] or 'without a content type'})")
    form = await request.form(max_files=1, max_fields=64, max_part_size=64 * 1024)
    try:
        fields, upload = {}, None
        for key, value in form.multi_items():
            if isinstance(value, str):
                if key in fields:
                    raise ApiError(400, f"the field {key!r} is given twice")
                fields[key] = value
            elif key in FILE_FIELDS:
                upload = value
            else:
                raise ApiError(400, f"a file in the field {key!r}; send it in '{file_field}'")
        yield fields, upload
    finally:
        await form.close()


def _save_upload(folder, upload, kind: str, suffix: str) -> tuple[str, int]:
    name = safe_name(upload.filename, suffix)
    dest = folder.input / name
    upload.file.seek(0)
    with open(dest, "xb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return name, dest.stat().st_size


def _probe_movie(path, request: dict, config) -> None:
    from ..sources.plate import open_plate

    try:
        plate = open_plate(str(path), request["frames"], first_frame=request["first_frame"])
    except InputError as exc:
        raise ApiError(400, f"cannot read the clip: {exc}".replace(str(path), path.name)) from None
    with plate:
        check_pixels(plate.width, plate.height, config.max_pixels, "the clip")
        if len(plate.frames) > config.max_frames:
            raise ApiError(413, f"the clip has {len(plate.frames)} frames; a job takes at most {config.max_frames} "
                                "(--max-frames); pick a range with 'frames'")


def _server_input(server: dict, request: dict, config) -> dict:
    """The checked server paths of a job (``--allow-root`` only)."""
    from ..sources.frames import find_sequence

    inp = {"kind": "server"}
    for key, text in server.items():
        real = allowed_path(text, config.allow_roots, key)
        try:
            from pathlib import Path

            files = [Path(real)] if Path(real).is_file() else \
                list(find_sequence(real, request["frames"], what=key).paths.values())
        except InputError as exc:
            raise ApiError(400, str(exc)) from None
        check_files(files, config.allow_roots, key)
        inp[key] = real
    if request["mode"] == "labels" and "labels" not in inp:
        raise ApiError(400, "label-map jobs from server paths need 'labels' (and optionally 'people')")
    if request["mode"] == "pictures" and "plate" not in inp:
        raise ApiError(400, "picture jobs from server paths need 'plate'")
    return inp


def prepare(folder, fields: dict, upload, sniffed, server: dict, config) -> tuple[dict, dict]:
    """Save and check the upload (or server paths); returns the job's request and summary."""
    plan, name, size = None, None, 0
    kind = sniffed[0] if sniffed else "server"
    if upload is not None:
        name, size = _save_upload(folder, upload, *sniffed)
        path = folder.input / name
        if kind == "zip":
            plan = plan_zip(path, config.max_frames, 10 * config.max_upload)
            check_zip_pixels(path, plan, config.max_pixels)
        elif kind in ("jpeg", "png"):
            with open(path, "rb") as fh:
                decode_image(fh, config.max_pixels)  # every pixel once: a truncated file is refused now
        elif kind != "movie":
            dims = image_size(path)
            if dims:
                check_pixels(*dims, config.max_pixels)
    request = job_request(fields, kind, plan.kind if plan else None, server)
    if upload is None:
        request["input"] = {**_server_input(server, request, config), "name": next(iter(server.values()))}
    else:
        if kind == "movie":
            _probe_movie(folder.input / name, request, config)
        request["input"] = {"kind": kind, "file": name, "name": name}
        if plan:
            request["input"]["plan"] = plan.members
    summary = {"input": {"name": request["input"]["name"], "kind": kind, "size": size},
               "mode": request["mode"], "label_set": request["label_set"]}
    return request, summary


async def create_job(request, config, model, store) -> dict:
    """Check, store and start the roto job of a ``POST /api/jobs``; returns its state."""
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(store.admit)  # 429 before the body is read
    async with read_form(request, "file", urlencoded=True) as (fields, upload):
        server = {k: fields.pop(k) for k in SERVER_FIELDS if fields.get(k)}
        if upload is not None and server:
            raise ApiError(400, "send a file or server paths (plate, labels, people), not both")
        if upload is None and not server:
            raise ApiError(400, "no file: send the picture, clip or zip in the multipart field 'file'")
        sniffed = None
        if upload is not None:
            sniffed = sniff(await upload.read(16))
            if sniffed is None:
                raise ApiError(415, "unsupported file type: send a picture (JPEG, PNG, EXR, TIFF, DPX), a clip "
                                    "(mp4, mov, mkv), or a zip of frames or label maps")
        folder = store.reserve()
        try:
            job, summary = await run_in_threadpool(prepare, folder, fields, upload, sniffed, server, config)
            if job["mode"] == "pictures":
                await model.wait_loaded()
                if model.path is None:
                    raise model.unavailable()
                job["model"] = {**config.model, "model": str(model.path)}
            return await run_in_threadpool(store.start, folder, job, summary)
        except BaseException:
            store.discard(folder)
            raise
