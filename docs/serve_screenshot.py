"""Make docs/serve.png, the README's picture of the page: the demo's synthetic walk (label maps,
no model, no photographs) through a real ``m2fp-roto serve`` in headless Chromium.

    .venv/bin/python docs/serve_screenshot.py          # needs .[serve-test] and Debian's chromium
"""

import io
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.serve_harness import Server, label_zip  # noqa: E402


def main() -> int:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp)) as server:
        clip = Path(tmp) / "sh010_walk.zip"
        clip.write_bytes(label_zip(12, scale=1))
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=shutil.which("chromium"), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
                viewport={"width": 1400, "height": 780})
            page = context.new_page()
            page.goto(server.url)
            page.set_input_files("#file", str(clip))
            page.wait_for_function("document.getElementById('stage').textContent === 'Done' && "
                                   "document.getElementById('partmap').naturalWidth > 0", timeout=300_000)
            page.locator("#slider").fill("6")
            page.wait_for_timeout(500)
            png = page.screenshot()
            context.close()
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(HERE / "serve.png", optimize=True)
    print(f"wrote {HERE / 'serve.png'} ({(HERE / 'serve.png').stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
