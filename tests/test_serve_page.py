"""The page of ``m2fp-roto serve`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright through ``executable_path``), on the server of the model tests (tiny random-weight M2FP).

A person drops a picture and then a label-map clip: the progress bar reaches Done, the picture
and the coloured part map show, the roto shapes are SVG paths over the picture; switching a part
off removes its paths, the slider moves through the frames, the ``.nk`` downloads and parses,
and a reload brings the job back. Screenshots go to the test's tmp folder.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import need, need_program, shared_path
from support import nk_reader
from support.serve_harness import label_zip

need("fastapi", "pip install -e '.[serve-test]'")
need("playwright", "pip install -e '.[serve-test]'")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = need_program("chromium", "bash tests/setup_system.sh (apt-get install chromium)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 860}, accept_downloads=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))  # CSP, 404 ...
        page.set_default_timeout(30_000)
        yield page
        context.close()
        assert not errors, errors  # no script error, refused resource or policy violation on the way


def done(page, name: str, timeout=180_000):
    """Wait until the job of upload ``name`` is done and its pictures are shown."""
    page.wait_for_function("""(name) => document.getElementById('stage').textContent === 'Done' &&
        document.getElementById('job-title').textContent === name""", arg=name, timeout=timeout)
    page.wait_for_function("""() => ['picture', 'partmap'].every(id => {
        const img = document.getElementById(id); return img.complete && img.naturalWidth > 0; })""")


def record_stages(page) -> None:
    """Keep every text the progress label shows in ``window.stagesSeen``."""
    page.evaluate("""() => { window.stagesSeen = [];
        new MutationObserver(() => stagesSeen.push(document.getElementById('stage').textContent + ' | ' +
            document.getElementById('eta').textContent))
            .observe(document.getElementById('stage'), {childList: true, characterData: true, subtree: true}); }""")


def drop_file(page, path) -> None:
    """Drop ``path`` on the drop zone as a person drags a file from the desktop."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'application/zip'}));
        return dt; }""", [path.name, data])
    page.dispatch_event("#drop", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def paths(page, part=None) -> int:
    selector = "#overlay path" + (f'[data-part="{part}"]' if part else "")
    return page.locator(selector).count()


def test_picture_and_clip_through_the_page(model_server, page, tmp_path):
    url = model_server.url
    page.goto(url)
    page.wait_for_selector("#model-status.ready")
    assert "M2FP ready" in page.inner_text("#model-status")

    page.click("details.settings summary")  # a roto setting for the jobs below
    page.fill('input[name="key_floor"]', "0.5")

    # A picture: parsed by the model in the job's own process.
    picture = shared_path("data", "cihp_train_slice", "Images") / "0000006.jpg"
    record_stages(page)
    page.set_input_files("#file", str(picture))
    done(page, picture.name)
    seen = page.evaluate("window.stagesSeen")
    assert any(s.startswith("Parsing people (M2FP)") for s in seen), seen  # the stage, as it runs
    assert any(s.startswith("Uploading") for s in seen) and seen[-1].startswith("Done"), seen
    assert paths(page) > 0 and page.locator("#timeline").is_hidden()  # one frame: no slider
    assert page.inner_text("#picture-caption") == "Picture + roto"
    page.screenshot(path=str(tmp_path / "picture.png"))
    job_id = page.evaluate("location.hash").split("=")[1]
    with model_server.client() as api:
        status = api.get(f"/api/jobs/{job_id}").json()
        assert status["mode"] == "pictures" and status["stages"][1]["name"] == "parse"
        masks = zipfile.ZipFile(io.BytesIO(api.get(f"/api/jobs/{job_id}/files/masks.zip").content))
        # a single picture keeps the frame number in its name (0000006.jpg is frame 6)
        job_labels = np.asarray(Image.open(io.BytesIO(masks.read("labels/shot.0006.png"))))
        parsed = api.post("/api/parse", files={"image": ("a.jpg", picture.read_bytes())}).json()
    api_labels = np.asarray(Image.open(io.BytesIO(base64.b64decode(parsed["label_map"]))))
    assert (job_labels == api_labels).mean() > 0.999  # the job's process parses as the workers do
    shown = page.evaluate("document.getElementById('partmap').naturalWidth")
    assert shown == parsed["width"]

    # A short label-map clip (no model needed).
    clip = tmp_path / "walk.zip"
    clip.write_bytes(label_zip(4))
    drop_file(page, clip)
    done(page, clip.name)
    assert page.evaluate("view.doc.metadata.settings.key_floor") == 0.5  # from the form
    assert page.inner_text("#frame-label").startswith("frame 1001 (1/4)")
    assert page.inner_text("#picture-caption").startswith("Label map")
    legend = page.locator("#parts label").all_inner_texts()
    assert "hair" in legend and "upper clothes" in legend
    hair = paths(page, "hair")
    total = paths(page)
    assert hair == 2 and total > hair  # one hair shape per person
    first_d = page.get_attribute('#overlay path[data-name="p1_hair"]', "d")
    page.uncheck('#parts input[data-part="hair"]')
    assert paths(page, "hair") == 0 and paths(page) == total - hair
    page.uncheck('#people input[data-person="2"]')
    assert page.locator('#overlay path[data-person="2"]').count() == 0
    page.locator("#slider").fill("2")
    assert page.inner_text("#frame-label").startswith("frame 1003 (3/4)")
    page.check('#parts input[data-part="hair"]')
    assert page.get_attribute('#overlay path[data-name="p1_hair"]', "d") != first_d  # the shape moved
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#frame-label").startswith("frame 1004")
    page.screenshot(path=str(tmp_path / "clip.png"))

    with page.expect_download() as download:
        page.click('#files a[data-file="shot_roto.nk"]')
    nk = download.value
    assert nk.suggested_filename == "walk_shot_roto.nk"
    nodes = nk_reader.roto_nodes(open(nk.path(), encoding="utf-8").read())
    doc = json.loads(page.evaluate("JSON.stringify({n: view.doc.shapes.length})"))
    assert sum(len(tree.shapes) for _, tree in nodes) == doc["n"] > 0

    page.reload()  # the job survives a reload (its id is in the address)
    done(page, clip.name)
    assert paths(page) == total
    assert page.locator("#recent li").count() == 2
