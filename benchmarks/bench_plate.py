"""Plate decode speed per 1080p frame: movies (H.264, ProRes), EXR, DPX, PNG, with and without colour.

Frames come from the real clip ../shared/data/clips/bedroom.mp4, scaled to 1920x1080 and written
into a temporary folder in each format; the timings cover ``Plate.read`` (decode + colour
transform + uint8 conversion), best of 2 passes. Run: ``.venv/bin/python benchmarks/bench_plate.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "clips" / "bedroom.mp4"
N = 24
W, H = 1920, 1080


def source_frames() -> list[np.ndarray]:
    import av
    import cv2

    if not CLIP.exists():
        sys.exit(f"needs the shared clip {CLIP}")
    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(N), c.decode(video=0))]
    return [cv2.resize(f, (W, H), interpolation=cv2.INTER_CUBIC) for f in frames]


def write_movie(path: Path, frames, codec: str, pix_fmt: str, options: dict) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.options = options
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_sequences(folder: Path, frames) -> dict[str, str]:
    import OpenEXR
    import OpenImageIO as oiio
    from PIL import Image

    srgb = [f.astype(np.float32) / 255 for f in frames]
    linear = [np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4).astype(np.float16) for s in srgb]
    for i, (f, lin) in enumerate(zip(frames, linear)):
        n = 1001 + i
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with OpenEXR.File(header, {"RGB": lin}) as exr:
            exr.write(str(folder / f"exr.{n}.exr"))
        spec = oiio.ImageSpec(W, H, 3, "uint16")
        spec.attribute("oiio:BitsPerSample", 10)
        out = oiio.ImageOutput.create(str(folder / f"dpx.{n}.dpx"))
        out.open(str(folder / f"dpx.{n}.dpx"), spec)
        out.write_image((f.astype(np.uint16) * 257))
        out.close()
        Image.fromarray(f).save(folder / f"png.{n}.png")
    return {"exr": str(folder / "exr.####.exr"), "dpx": str(folder / "dpx.####.dpx"), "png": str(folder / "png.####.png")}


def time_reads(plate, order) -> float:
    best = float("inf")
    for _ in range(2):
        plate.close()
        t = time.perf_counter()
        for f in order:
            plate.read(f)
        best = min(best, (time.perf_counter() - t) / len(order))
    return best * 1000


def main() -> None:
    from m2fp_roto.sources.plate import open_plate

    frames = source_frames()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        h264 = write_movie(tmp / "h264.mp4", frames, "libx264", "yuv420p", {"crf": "18", "g": "12"})
        prores = write_movie(tmp / "prores.mov", frames, "prores_ks", "yuv422p10le", {"profile": "3"})
        seqs = write_sequences(tmp, frames)
        for label, spec, kw, order_name in [
            ("H.264 mp4 (yuv420p, GOP 12)", h264, {}, "in order"),
            ("H.264 mp4 (yuv420p, GOP 12)", h264, {}, "every 5th, backwards"),
            ("ProRes 422 HQ mov (10-bit)", prores, {}, "in order"),
            ("EXR half ZIP, ACEScg -> sRGB (default)", seqs["exr"], {}, "in order"),
            ("EXR half ZIP, Linear Rec.709 -> sRGB", seqs["exr"], {"colorspace": "Linear Rec.709 (sRGB)"}, "in order"),
            ("EXR half ZIP, no colour transform", seqs["exr"], {"colorspace": "none"}, "in order"),
            ("DPX 10-bit, as sRGB (default)", seqs["dpx"], {}, "in order"),
            ("DPX 10-bit, ADX10 -> sRGB", seqs["dpx"], {"colorspace": "ADX10"}, "in order"),
            ("PNG 8-bit", seqs["png"], {}, "in order"),
        ]:
            plate = open_plate(spec, **kw)
            order = plate.frames if order_name == "in order" else plate.frames[::-5]
            size = sum(Path(p).stat().st_size for p in tmp.glob(Path(str(spec)).name.split(".")[0] + ".*"))
            rows.append((label, order_name, len(order), time_reads(plate, order), size / len(frames) / 1e6))
    print(f"Plate.read per {W}x{H} frame ({N} frames, best of 2 passes; decode + colour + uint8; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})\n")
    print(f"| {'plate':40} | {'access':20} | reads | ms/frame | MB/frame on disk |")
    print(f"|{'-' * 42}|{'-' * 22}|-------|----------|------------------|")
    for label, order, n, ms, mb in rows:
        print(f"| {label:40} | {order:20} | {n:5d} | {ms:8.1f} | {mb:16.2f} |")


if __name__ == "__main__":
    main()
