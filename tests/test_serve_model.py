"""The model path of ``m2fp-roto serve``: a real server with 2 workers on the random-weight tiny
M2FP folder the M2FP tests build (real loading, network and post-processing; random weights).

The original ``/api/parse`` contract (field names, base64 PNGs that decode to masks of the
image's size, the coloured map equal to the palette of the label map, the label map equal to
the parser's own), ``/predict``, and a burst of 50 uploads: every request answered 200 or 429,
none lost, memory bounded. (A picture roto job through the model runs in test_serve_page.py,
on the same server.)
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from conftest import need, shared_path
from support.serve_harness import MODEL_RESOLUTION as RESOLUTION
from support.serve_harness import peak_rss_mb, tiny_model

need("fastapi", "pip install -e '.[serve-test]'")
httpx = need("httpx", "pip install -e '.[serve-test]'")
need("torch")
need("modelscope")

from m2fp_roto.labelsets import display_palette, get_label_set  # noqa: E402

PALETTE = np.array(display_palette(), np.uint8).reshape(-1, 3)
CIHP = get_label_set("cihp")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def server(model_server):
    return model_server


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def picture(name="0000006.jpg") -> bytes:
    return (shared_path("data", "cihp_train_slice", "Images") / name).read_bytes()


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_health_reports_the_loaded_model(client, model):
    health = client.get("/api/health").json()
    assert health["model"]["state"] == "ready" and health["model"]["path"] == str(model.resolve())
    assert health["model"]["install"] is None and health["queue"]["limit"] == 3


def test_parse_keeps_the_original_contract(client, model):
    from m2fp_roto.m2fp import M2FPParser

    data = picture()
    r = client.post("/api/parse", files={"image": ("person.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and {"masks", "colored_result"} <= set(body)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = rgb.shape[:2]
    assert (body["width"], body["height"], body["label_set"]) == (w, h, "cihp")
    labels = decode(body["label_map"])
    assert labels.shape == (h, w) and labels.dtype == np.uint8
    present = {CIHP.part_name(int(k)) for k in np.unique(labels) if k}
    assert present and set(body["masks"]) == present
    for name, b64 in body["masks"].items():  # 8-bit 0/255 PNGs of the image's size, one per part
        mask = decode(b64)
        assert mask.shape == (h, w) and set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(mask > 0, labels == CIHP.part_id(name))
    coloured = decode(body["colored_result"])
    assert coloured.shape == (h, w, 3)
    np.testing.assert_array_equal(coloured, PALETTE[labels])  # exactly the display palette of the label map
    people = decode(body["person_map"])
    assert [p["id"] for p in body["people"]] == sorted(int(p) for p in np.unique(people) if p)
    for person in body["people"]:
        own = decode(person["mask"]) > 0
        np.testing.assert_array_equal(own, people == person["id"])
        for name, b64 in person["parts"].items():
            np.testing.assert_array_equal(decode(b64) > 0, own & (labels == CIHP.part_id(name)))
    assert set(body["timings"]) == {"read_ms", "queue_ms", "parse_ms", "encode_ms", "total_ms"}
    # the label map is the parser's own: the same model in this process gives the same parse
    mine = M2FPParser(model, resolution=RESOLUTION).parse(rgb, 1)
    assert (mine.parts == labels).mean() > 0.999


def test_predict_answers_the_coloured_map_as_a_jpeg(client):
    r = client.post("/predict", files={"image": ("my shot.png", picture(), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"] == 'attachment; filename="my shot_parts.jpg"'
    jpeg = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    body = client.post("/api/parse", files={"image": ("a.jpg", picture())}).json()
    exact = decode(body["colored_result"]).astype(int)
    assert jpeg.shape == exact.shape and np.abs(jpeg - exact).mean() < 4  # JPEG's loss only


def test_parse_refusals(client):
    bad = {"text": (b"not a picture at all", 415), "truncated": (picture()[:3000], 400)}
    for name, (data, code) in bad.items():
        r = client.post("/api/parse", files={"image": (f"{name}.jpg", data, "image/jpeg")})
        assert r.status_code == code and r.json()["status"] == "error", (name, r.text)
    r = client.post("/api/parse", files={"picture": ("a.jpg", picture())})
    assert r.status_code == 400 and "'image'" in r.json()["message"]
    exr_like = b"v/1\x01" + b"\0" * 64
    assert client.post("/api/parse", files={"image": ("a.exr", exr_like)}).status_code == 415


def burst(url: str, data: bytes, n: int) -> list[tuple]:
    """``n`` uploads at once (one connection each); returns (status or error, Retry-After, body, seconds)."""
    import asyncio
    import time

    async def run():
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
            async def one(i):
                t = time.perf_counter()
                try:
                    r = await c.post("/api/parse", files={"image": (f"{i}.jpg", data, "image/jpeg")})
                    return r.status_code, r.headers.get("retry-after"), r.json(), time.perf_counter() - t
                except httpx.HTTPError as exc:
                    return type(exc).__name__, None, None, time.perf_counter() - t
            return await asyncio.gather(*(one(i) for i in range(n)))
    return asyncio.run(run())


def test_a_burst_of_50_uploads_is_answered_in_full_with_bounded_memory(client, server):
    data = picture("0000010.jpg")
    first = burst(server.url, data, 50)
    codes = [c for c, *_ in first]
    assert len(first) == 50 and set(codes) <= {200, 429}, codes  # every request answered, none lost
    assert codes.count(200) >= 2 and codes.count(429) >= 1
    for code, retry, body, _ in first:
        if code == 429:
            assert int(retry) >= 1 and body["status"] == "error" and "--queue" in body["message"]
        else:
            assert body["status"] == "success" and body["masks"]
    peak = peak_rss_mb(server.pids())
    second = burst(server.url, data, 50)
    assert set(c for c, *_ in second) <= {200, 429}
    again = peak_rss_mb(server.pids())
    grown = {pid: again[pid] - peak[pid] for pid in peak if pid in again}
    assert max(grown.values()) < 64, grown  # a second burst finds the memory it needs already there
    assert client.get("/api/health").json()["queue"]["waiting"] == 0
