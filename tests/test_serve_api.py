"""The REST API of ``m2fp-roto serve`` without a model: a real uvicorn server on a free loopback
port, driven with httpx. Roto jobs on label maps and mattes (lifecycle, events, every output
read back with real readers), cancellation, a killed server, the time-to-live, and every
refusal: size, pixels, types, zip slip, path traversal, server paths, a full queue.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import need
from support import nk_reader
from support.serve_harness import Server, label_clip, label_zip, png, wait_job

need("fastapi", "pip install -e '.[serve-test]'")
httpx = need("httpx", "pip install -e '.[serve-test]'")

from m2fp_roto.document import RotoDocument  # noqa: E402
from m2fp_roto.labelsets import display_palette, get_label_set  # noqa: E402
from m2fp_roto.qc import KINDS  # noqa: E402

CIHP = get_label_set("cihp")
PALETTE = np.array(display_palette(), np.uint8).reshape(-1, 3)
LONG = dict(frames=20, scale=1)  # a job that runs for seconds: something to cancel or cut short


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder the server may read in place (--allow-root), with label maps in it."""
    folder = tmp_path_factory.mktemp("studio share")
    for i, (parts, who) in enumerate(label_clip(2, 2)):
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "labels" / f"sh010.{1001 + i}.png").write_bytes(png(parts, palette=True))
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, root):
    folder = tmp_path_factory.mktemp("serve api")
    with Server(folder, env={"M2FP_ROTO_MODEL": str(folder / "no model here")}, max_upload="3MB",
                max_pixels="4M", max_frames=20, queue=2, job_slots=1, allow_root=str(root)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def submit(client, data: bytes, name="shot.zip", **fields):
    return client.post("/api/jobs", files={"file": (name, data, "application/octet-stream")},
                       data={k: str(v) for k, v in fields.items()})


def run_job(client, data: bytes, name="shot.zip", **fields) -> dict:
    r = submit(client, data, name, **fields)
    assert r.status_code == 202, r.text
    status = wait_job(client, r.json()["id"])
    assert status["state"] == "done", status
    return status


def fetch(client, status, name) -> bytes:
    r = client.get(f"/api/jobs/{status['id']}/files/{name}")
    assert r.status_code == 200, (name, r.text)
    return r.content


def error(r, code: int, *words) -> str:
    assert r.status_code == code, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == "error" and body["message"], body
    for word in words:
        assert word in body["message"], body["message"]
    return body["message"]


def png_header(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))


def iou(a, b) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# ---------------------------------------------------------------------------------------------
# Health, docs, the page's files, no model


def test_health_says_the_model_is_missing_and_how_to_install(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"]["state"] == "missing"
    assert "modelscope download" in health["model"]["message"]
    assert "pip install 'm2fp-roto[m2fp]'" in health["model"]["install"]
    assert health["limits"]["max_upload"] == 3_000_000 and health["server_paths"] is True


def test_parse_without_a_model_is_503_with_the_install_text(client):
    image = png(np.zeros((8, 8, 3), np.uint8))
    for route in ("/api/parse", "/predict"):
        message = error(client.post(route, files={"image": ("a.png", image, "image/png")}), 503)
        assert "modelscope download" in message and "Label-map and matte jobs" in message


def test_page_docs_and_static_files_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        r = client.get(asset)
        assert r.status_code == 200 and "http://" not in r.text.replace("http://www.w3.org", "")
        assert "https://" not in r.text
    docs = client.get("/docs").text
    assert "swagger" in docs.lower() and "cdn." not in docs and "https://" not in docs
    scripts = [s.split('"')[0] for s in docs.split("src=")[1:]] + [s.split('"')[0] for s in docs.split("href=")[1:]]
    assert scripts and all(client.get(s.strip("'\"")).status_code == 200 for s in scripts)
    spec = client.get("/openapi.json").json()
    assert {"/api/parse", "/predict", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/files/{name}"} <= set(spec["paths"])


# ---------------------------------------------------------------------------------------------
# Roto jobs


@pytest.fixture(scope="module")
def walk(client):
    """A label-map job, submitted (not waited for): its answer to POST /api/jobs."""
    r = submit(client, label_zip(3), "walk cycle.zip")
    assert r.status_code == 202, r.text
    return r.json()


def test_label_map_job_runs_and_every_output_reads_back(client, walk, tmp_path):
    import OpenEXR

    job = walk
    assert len(job["id"]) == 22 and job["state"] in ("queued", "running") and job["mode"] == "labels"
    with client.stream("GET", job["events"]) as events:  # server-sent events until the job ends
        assert events.headers["content-type"].startswith("text/event-stream")
        seen = [json.loads(line[5:]) for line in events.iter_lines() if line.startswith("data:")]
    assert seen[-1]["state"] == "done", seen[-1].get("message")
    assert {"running", "done"} <= {s["state"] for s in seen}
    assert any(s["stage"] == "track" and 0 < s["progress"] < 1 for s in seen)
    assert any(s["eta_s"] is not None and s["eta_s"] > 0 for s in seen if s["state"] == "running")
    status = client.get(job["url"]).json()
    assert status == {**seen[-1], **status} and status["frames"] == [1001, 1002, 1003]
    assert [s["name"] for s in status["stages"]] == ["unpack", "vectorize", "track", "export", "frames"]
    assert all(s["progress"] == 1.0 for s in status["stages"]) and status["progress"] == 1.0
    names = {f["name"] for f in status["files"]}
    assert names == {"shot.json", "shot_roto.nk", "shot_masks.jsx", "mattes.zip", "masks.zip", "masks.json",
                     "previews.zip"}

    doc = RotoDocument.from_json(fetch(client, status, "shot.json").decode())
    assert (doc.width, doc.height, doc.first_frame, doc.last_frame, doc.people) == (480, 270, 1001, 1003, [1, 2])
    assert doc.source == "walk cycle.zip"
    assert {"hair", "face", "upper_clothes", "pants", "left_arm"} <= {s.part for s in doc.shapes}
    nodes = nk_reader.roto_nodes(fetch(client, status, "shot_roto.nk").decode())
    assert sum(len(tree.shapes) for _, tree in nodes) == len(doc.shapes)
    assert b"setValuesAtTimes" in fetch(client, status, "shot_masks.jsx")

    clip = label_clip(3)
    parts, people = clip[0]
    with zipfile.ZipFile(io.BytesIO(fetch(client, status, "masks.zip"))) as masks:
        index = json.loads(masks.read("masks.json"))
        labels = np.asarray(Image.open(io.BytesIO(masks.read("labels/shot.1001.png"))))
        np.testing.assert_array_equal(labels, parts)  # the label map the job read, id for id
        hair = np.asarray(Image.open(io.BytesIO(masks.read("masks/p1_hair/p1_hair.1001.png"))))
        np.testing.assert_array_equal(hair > 0, (parts == CIHP.part_id("hair")) & (people == 1))
        entry = next(m for m in index["masks"] if m["frame"] == 1001 and m["file"].endswith("p1_hair.1001.png"))
        assert entry["area"] == int((hair > 0).sum()) and entry["person"] == 1
    assert json.loads(fetch(client, status, "masks.json")) == index
    partmap = np.asarray(Image.open(io.BytesIO(fetch(client, status, "parts.1001.png"))).convert("RGB"))
    np.testing.assert_array_equal(partmap, PALETTE[parts])  # the page's colours are the label map's

    with zipfile.ZipFile(io.BytesIO(fetch(client, status, "mattes.zip"))) as mattes:
        assert sorted(mattes.namelist()) == [f"shot.{f}.exr" for f in (1001, 1002, 1003)]
        exr = mattes.extract("shot.1001.exr", tmp_path)
    with OpenEXR.File(exr) as f:
        coverage = f.channels()["p1_upper_clothes.A"].pixels
        (x0, y0), (x1, y1) = f.header()["dataWindow"]
    full = np.zeros((270, 480), np.float32)
    full[y0:y1 + 1, x0:x1 + 1] = coverage
    truth = (parts == CIHP.part_id("upper_clothes")) & (people == 1)
    assert iou(full > 0.5, truth) > 0.93  # the roto, rasterized by the EXR target, hugs the mask
    with zipfile.ZipFile(io.BytesIO(fetch(client, status, "previews.zip"))) as previews:
        assert len(previews.namelist()) == 3
    # what the QC previews mark, in shape-frames of each kind: nothing on this clean clip
    assert status["qc"] == dict.fromkeys(KINDS, 0)


def test_temporal_clean_up_of_the_parse_is_a_job_option(client):
    status = run_job(client, label_zip(3), temporal_window="3", min_share="0.3", anchor_tolerance="2",
                     key_floor="0", targets="json")
    doc = RotoDocument.from_json(fetch(client, status, "shot.json").decode())
    settings = doc.metadata["settings"]
    assert settings["temporal_window"] == 3 and settings["min_share"] == 0.3 and doc.shapes
    assert settings["anchor_tolerance"] == 2.0 and settings["key_floor"] == 0.0


def test_matte_png_becomes_one_shape(client):
    matte = np.zeros((120, 160), np.uint8)
    matte[30:90, 40:110] = 255
    status = run_job(client, png(matte), "matte.png", input="mattes", first_frame=1001, tolerance=0.3)
    assert status["mode"] == "labels" and status["frames"] == [1001] and status["label_set"] == "matte"
    doc = RotoDocument.from_json(fetch(client, status, "shot.json").decode())
    assert [s.name for s in doc.shapes] == ["p1_matte"]
    xs, ys = doc.shapes[0].keys[0].points[:, 0], doc.shapes[0].keys[0].points[:, 1]
    assert abs(xs.min() - 40) < 1 and abs(xs.max() - 110) < 1 and abs(ys.min() - 30) < 1 and abs(ys.max() - 90) < 1


def test_selection_targets_and_their_options(client):
    status = run_job(client, label_zip(2), person="1", part="hair,face", targets="nuke", group="all",
                     track="false")
    assert {f["name"] for f in status["files"]} == {"shot.json", "shot_roto.nk", "masks.zip", "masks.json",
                                                     "previews.zip"}
    doc = RotoDocument.from_json(fetch(client, status, "shot.json").decode())
    assert {(s.person, s.part) for s in doc.shapes} == {(1, "hair"), (1, "face")}
    assert all(s.name.endswith(("_f1001", "_f1002")) for s in doc.shapes)  # track=false: one shape per frame
    assert "temporal_window" not in doc.metadata["settings"]  # off unless asked for
    nodes = nk_reader.roto_nodes(fetch(client, status, "shot_roto.nk").decode())
    assert len(nodes) == 1  # group=all: one Roto node


def test_server_paths_only_under_allow_root(client, root, tmp_path):
    r = client.post("/api/jobs", data={"labels": str(root / "labels" / "sh010.####.png"), "targets": "json"})
    assert r.status_code == 202, r.text
    status = wait_job(client, r.json()["id"])
    assert status["state"] == "done" and status["frames"] == [1001, 1002]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.1001.png").write_bytes(png(np.zeros((4, 4), np.uint8)))
    error(client.post("/api/jobs", data={"labels": str(outside / "x.####.png")}), 403, "--allow-root")
    error(client.post("/api/jobs", data={"labels": str(root / ".." / outside.name / "x.####.png")}), 403)
    (root / "sneaky").symlink_to(outside)
    try:
        error(client.post("/api/jobs", data={"labels": str(root / "sneaky" / "x.####.png")}), 403)
        os.symlink(outside / "x.1001.png", root / "labels" / "sh010.1003.png")
        error(client.post("/api/jobs", data={"labels": str(root / "labels" / "sh010.####.png")}), 403, "leads outside")
    finally:
        (root / "sneaky").unlink()
        (root / "labels" / "sh010.1003.png").unlink(missing_ok=True)
    error(client.post("/api/jobs", data={"labels": "labels/sh010.####.png"}), 400, "absolute")


def test_cancel_running_and_queued_jobs_and_a_full_queue(client, server):
    first = submit(client, label_zip(**LONG)).json()
    second = submit(client, label_zip(**LONG)).json()
    third = submit(client, label_zip(2)).json()
    assert {first["state"], second["state"], third["state"]} <= {"queued", "running"}
    full = client.post("/api/jobs", files={"file": ("x.zip", label_zip(2))})
    error(full, 429, "busy")
    assert int(full.headers["Retry-After"]) >= 1
    running = wait_job(client, first["id"], states=("running",))
    assert client.get(f"/api/jobs/{second['id']}").json()["state"] == "queued"  # one slot: it waits its turn
    t = time.monotonic()
    cancelled = client.post(f"/api/jobs/{second['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    cancelled = client.post(f"/api/jobs/{first['id']}/cancel").json()
    assert cancelled["state"] == "cancelled" and time.monotonic() - t < 10
    assert not process_alive(running["pid"])
    assert client.post(f"/api/jobs/{first['id']}/cancel").json()["state"] == "cancelled"  # idempotent
    assert wait_job(client, third["id"])["state"] == "done"  # the queue moves on
    assert client.delete(f"/api/jobs/{third['id']}").json()["deleted"] == third["id"]
    error(client.get(f"/api/jobs/{third['id']}"), 404)
    assert not (server.jobs_dir / third["id"]).exists()


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_job_cut_short_by_a_server_crash_is_reported_failed_then_expires(tmp_path):
    no_model = {"M2FP_ROTO_MODEL": str(tmp_path / "no model here")}
    with Server(tmp_path / "crash", env=no_model) as first:
        with first.client() as c:
            job = c.post("/api/jobs", files={"file": ("long.zip", label_zip(**LONG))}).json()
            running = wait_job(c, job["id"], states=("running",))
            error(c.post("/api/jobs", data={"labels": str(tmp_path)}), 403, "--allow-root")  # off by default
        first.kill()
        deadline = time.monotonic() + 10
        while process_alive(running["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(running["pid"]), "the job's process outlived its server"
    with Server(tmp_path / "crash", env=no_model, jobs_dir=first.jobs_dir, job_ttl="2s") as second:
        with second.client() as c:
            status = c.get(f"/api/jobs/{job['id']}").json()
            assert status["state"] == "failed" and "restarted" in status["message"]
            error(c.get(f"/api/jobs/{job['id']}/files/shot.json"), 404)
            deadline = time.monotonic() + 15  # the sweep deletes it once --job-ttl has passed
            while c.get(f"/api/jobs/{job['id']}").status_code != 404 and time.monotonic() < deadline:
                time.sleep(0.25)
            error(c.get(f"/api/jobs/{job['id']}"), 404)
            assert not (second.jobs_dir / job["id"]).exists()


# ---------------------------------------------------------------------------------------------
# Refusals


def test_uploads_over_the_size_limit_are_413(client):
    big = label_zip(1) + os.urandom(3_200_000)
    error(client.post("/api/jobs", files={"file": ("big.zip", big)}), 413, "--max-upload")

    def chunks():  # no Content-Length: counted as it arrives
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.zip"\r\n\r\n'
        yield head
        for _ in range(40):
            yield b"\0" * 100_000
        yield b"\r\n--b--\r\n"
    r = client.post("/api/jobs", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    error(r, 413, "--max-upload")


def test_images_above_the_pixel_limit_are_413(client):
    error(submit(client, png_header(3000, 2000), "huge.png"), 413, "3000x2000", "--max-pixels")
    error(submit(client, png_header(60000, 60000), "bomb.png"), 413)
    zipped = label_zip(1, extra=(("shot/labels/shot.1002.png", png_header(3000, 2000)),))
    error(submit(client, zipped), 413, "3000x2000")


def test_wrong_types_are_415(client):
    error(submit(client, b"hello, I am text", "notes.png"), 415, "unsupported file type")
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    error(submit(client, gif.getvalue(), "anim.gif"), 415)
    error(client.post("/api/jobs", json={"file": "x"}), 415, "multipart/form-data")
    error(client.post("/api/jobs", content=b"raw", headers={"Content-Type": "image/png"}), 415)


def test_truncated_and_corrupt_files_are_400(client, tmp_path):
    av = need("av")
    whole = png(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3) * 7)
    error(submit(client, whole[: len(whole) * 2 // 3], "cut.png"), 400, "cannot decode")
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    error(submit(client, jpeg.getvalue()[:600], "cut.jpg"), 400)
    zipped = label_zip(2)
    error(submit(client, zipped[: len(zipped) // 2]), 400, "zip")
    movie = tmp_path / "clip.mp4"
    with av.open(str(movie), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = movie.read_bytes()
    error(submit(client, data[:40], "cut.mp4"), 400, "cannot read the clip")
    error(submit(client, data, "clip.mp4", input="labels"), 415, "label maps")


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png", "a/../../evil.png", "C:/evil.png",
                                    "labels\\..\\evil.png", "symlink"])
def test_zip_slip_is_refused_and_nothing_is_written(client, server, member, tmp_path):
    before = set(server.jobs_dir.iterdir())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("labels/shot.1001.png", png(np.ones((8, 8), np.uint8)))
        if member == "symlink":
            info = zipfile.ZipInfo("labels/shot.1002.png")
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
        else:
            archive.writestr(member, png(np.ones((8, 8), np.uint8)))
    message = error(submit(client, buf.getvalue(), "slip.zip"), 400, "refused")
    assert "symbolic link" in message if member == "symlink" else "outside the archive" in message
    assert set(server.jobs_dir.iterdir()) == before  # the reserved job folder is gone again
    assert not list(server.folder.parent.rglob("evil.png"))


def raw_get(server, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (http.client sends it unnormalized, dot segments and all)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_names_and_ids_cannot_reach_outside_a_job(client, server, walk):
    status = wait_job(client, walk["id"])
    base = f"/api/jobs/{status['id']}/files/"
    assert raw_get(server, base + "shot.json")[0] == 200
    for name in ("..%2Fjob.json", "../job.json", "%2e%2e%2fjob.json", "request.json", "log.txt", ".hidden",
                 "..", "../..", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "shot.json%00.png",
                 "..%5Cjob.json", "....//job.json"):
        code, body = raw_get(server, base + name)
        assert code == 404, (name, code, body)
    out = server.jobs_dir / status["id"] / "out"
    (out / "linked.json").symlink_to(server.jobs_dir / status["id"] / "request.json")
    error(client.get(base + "linked.json"), 404)
    for job_id in ("..", "%2e%2e", "AAAA", "A" * 22, "..%2F..%2Fetc", status["id"][:-1] + "%2F"):
        code, body = raw_get(server, f"/api/jobs/{job_id}")
        assert code in (404, 307), (job_id, code, body)  # 307: a trailing slash dropped, then 404


def test_bad_fields_are_400(client):
    zipped = label_zip(1)
    error(submit(client, zipped, tolerance="-1"), 400, "tolerance")
    error(submit(client, zipped, tolerence="1"), 400, "unknown field", "tolerence")
    error(submit(client, zipped, targets="nuke,maya"), 400, "maya")
    error(submit(client, zipped, group="everyone"), 400, "group")
    error(submit(client, zipped, part="tail"), 400, "tail")
    error(submit(client, zipped, frames="ten"), 400, "frame range")
    error(submit(client, zipped, temporal_window="4"), 400, "temporal_window", "odd")
    error(submit(client, zipped, min_share="1.5"), 400, "min_share", "at most 1")
    error(submit(client, zipped, key_floor="1.5"), 400, "key_floor", "at most 1")
    error(client.post("/api/jobs", data={"tolerance": "1"}), 400, "no file")


# ---------------------------------------------------------------------------------------------
# The command


def test_the_command_line_stays_light_and_says_what_is_wrong_in_one_line():
    import subprocess
    import sys

    from click.testing import CliRunner

    from m2fp_roto.cli.main import main

    code = ("import sys, m2fp_roto.cli, m2fp_roto.serve; "
            "assert not {'fastapi', 'uvicorn', 'starlette', 'torch'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
    for args, words in ((["--max-upload", "lots"], "--max-upload"), (["--job-ttl", "soon"], "--job-ttl"),
                        (["--queue", "0"], "--queue")):
        result = CliRunner().invoke(main, ["serve", *args])
        assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output, result.output
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for option in ("--host", "--port", "--workers", "--model", "--device", "--precision", "--max-upload",
                   "--queue", "--allow-root", "--job-ttl"):
        assert option in help_text
