"""Latency and memory of ``m2fp-roto serve`` under bursts of simultaneous uploads (loopback only).

    .venv/bin/python benchmarks/bench_serve.py                      # tiny random-weight model, 2 workers
    .venv/bin/python benchmarks/bench_serve.py --model /mnt/models/m2fp-multi --resolution 640

Starts a real server on a free 127.0.0.1 port (the same harness as the tests), then for each
burst size sends that many ``POST /api/parse`` uploads at once (one connection each) and prints
one row: how many were answered 200 / 429 / not at all, p50 and p95 latency of the 200s and of
the 429s, the wall time, and the peak resident memory (VmHWM) of the server's processes after
the burst. A last row does the same with roto-job uploads (``POST /api/jobs``, a 2-frame
label-map zip): 202 or 429. Bursts are bounded in count; every request has a 300 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.serve_harness import Server, label_zip, peak_rss_mb  # noqa: E402

IMAGE = ROOT.parent / "shared" / "data" / "cihp_train_slice" / "Images" / "0000006.jpg"


def picture(path: Path | None) -> tuple[bytes, str]:
    if path and path.is_file():
        return path.read_bytes(), path.name
    import io

    from PIL import Image

    rng = np.random.default_rng(0)  # no shared data: a 500x335 noise picture
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (500, 335, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue(), "noise.jpg"


async def burst(url: str, route: str, n: int, field: str, data: bytes, name: str) -> list[tuple]:
    import httpx

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one(i):
            t = time.perf_counter()
            try:
                r = await client.post(route, files={field: (name, data)})
                return r.status_code, time.perf_counter() - t
            except httpx.HTTPError as exc:
                return type(exc).__name__, time.perf_counter() - t
        return await asyncio.gather(*(one(i) for i in range(n)))


def pct(values, q) -> str:
    return f"{np.percentile(values, q) * 1e3:8.0f}" if values else f"{'-':>8}"


def row(label: str, results, wall: float, rss: dict, ok: int) -> str:
    codes = [c for c, _ in results]
    good = [t for c, t in results if c == ok]
    busy = [t for c, t in results if c == 429]
    lost = len(results) - len(good) - len(busy)
    return (f"{label:<22} {len(results):>5} {len(good):>5} {len(busy):>5} {lost:>5} {pct(good, 50)} {pct(good, 95)} "
            f"{pct(busy, 50)} {pct(busy, 95)} {wall:7.1f} {max(rss.values()):8.0f} {sum(rss.values()):8.0f}"
            + ("" if lost == 0 else f"   unexpected: {sorted(set(map(str, codes)) - {str(ok), '429'})}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: a tiny random-weight one, built here)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--bursts", default="10,50,100", help="burst sizes (at most 200 each)")
    parser.add_argument("--image", type=Path, default=IMAGE)
    args = parser.parse_args()
    sizes = [min(int(n), 200) for n in args.bursts.split(",")]
    data, name = picture(args.image)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from m2fp_roto.m2fp.random_model import write_random_model

            model = str(write_random_model(Path(tmp) / "tiny m2fp", "tiny"))
        server = Server(Path(tmp) / "server", model=model, workers=args.workers, queue=args.queue,
                        resolution=args.resolution, threads=args.threads)

        def loaded(health):
            lines = server.log.read_text().splitlines()
            return sum("M2FP loaded" in line for line in lines) >= args.workers

        t = time.perf_counter()
        with server.start(timeout=600, ready=loaded):
            print(f"m2fp-roto serve: {args.workers} workers, --queue {args.queue}, model {Path(model).name} at "
                  f"{args.resolution} px, {args.threads} torch thread(s) each; ready in {time.perf_counter() - t:.0f} s; "
                  f"upload {name} ({len(data) // 1024} KB)")
            idle = peak_rss_mb(server.pids())
            print(f"idle: peak RSS {max(idle.values()):.0f} MB per process, {sum(idle.values()):.0f} MB in all "
                  f"({len(idle)} processes)")
            print(f"{'burst':<22} {'sent':>5} {'ok':>5} {'429':>5} {'lost':>5} {'ok p50':>8} {'ok p95':>8} "
                  f"{'429 p50':>8} {'429 p95':>8} {'wall s':>7} {'RSS max':>8} {'RSS sum':>8}")
            print(f"{'':<22} {'':>5} {'':>5} {'':>5} {'':>5} {'ms':>8} {'ms':>8} {'ms':>8} {'ms':>8} {'':>7} "
                  f"{'MB':>8} {'MB':>8}")
            for n in sizes:
                t = time.perf_counter()
                results = asyncio.run(burst(server.url, "/api/parse", n, "image", data, name))
                print(row(f"POST /api/parse x{n}", results, time.perf_counter() - t, peak_rss_mb(server.pids()), 200))
            jobs = label_zip(2)
            t = time.perf_counter()
            results = asyncio.run(burst(server.url, "/api/jobs", 20, "file", jobs, "walk.zip"))
            print(row("POST /api/jobs x20", results, time.perf_counter() - t, peak_rss_mb(server.pids()), 202))
    return 0


if __name__ == "__main__":
    sys.exit(main())
