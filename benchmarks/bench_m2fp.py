"""M2FP per-frame cost: ModelScope's stock pipeline against m2fp-roto's parser (torch and ONNX Runtime).

Builds the full-size M2FP (ResNet-101, 63 M parameters) with random weights biased to fire
(about as many instances as post-processing can meet: the worst case), then parses one 1920x1080
frame in separate subprocesses, so each path's peak memory is its own:

    .venv/bin/python benchmarks/bench_m2fp.py                  # CPU: stock, torch fp32 + bf16, onnx
    .venv/bin/python benchmarks/bench_m2fp.py --device cuda    # GPU (fp32, bf16, fp16)

Seconds per frame are the median (and minimum) of --runs after one warm-up run, beside the CPU
seconds they used (steadier than wall time on a shared machine; the load average at the start and
end is printed); peak RSS is the process's high-water mark (model load included). The ONNX row
runs with its export already cached, as every run after the first does; the one-off export is
timed in its own process and reported under the table. On a CPU the stock row runs the
deformable attention as a stock install with mmcv runs it there (mmcv's PyTorch fallback; see
``stock_cpu_attention``), not m2fp-roto's operator.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAME = ROOT.parent / "shared" / "data" / "davis" / "JPEGImages"


def frame_image(width: int, height: int, out: Path, photo: str | None = None) -> Path:
    """A real photo (--frame, else ../shared/data, else a synthetic gradient) at width x height."""
    import numpy as np
    from PIL import Image

    photos = [Path(photo)] if photo else sorted(FRAME.rglob("*.jpg")) if FRAME.exists() else []
    if photos:
        img = Image.open(photos[0]).convert("RGB").resize((width, height), Image.BICUBIC)
    else:
        y, x = np.mgrid[0:height, 0:width]
        img = Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))
    img.save(out)
    return out


def export(model: str, image: str) -> dict:
    """Make the ONNX export the onnx path uses (timed; nothing happens when it is cached)."""
    import numpy as np
    from PIL import Image

    from m2fp_roto.m2fp.network import fingerprint
    from m2fp_roto.m2fp.onnx_net import cached_export
    from m2fp_roto.m2fp.parser import network_input

    size = tuple(network_input([np.asarray(Image.open(image).convert("RGB"))])[0].shape[-2:])
    t0 = time.perf_counter()
    path = cached_export(model, fingerprint(model), size)
    return {"path": "onnx-export", "export_s": time.perf_counter() - t0, "mib": path.stat().st_size / 2**20,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def stock_cpu_attention() -> None:
    """Give the stock pipeline the deformable attention a real mmcv gives it on a CPU.

    mmcv's compiled operator is CUDA only; on a CPU, ModelScope's encoder falls back to mmcv's
    PyTorch function, which samples every level, stacks the samples and weights them all at once.
    m2fp-roto's operator (weighted level by level, in place) is leaner, and the stock row must
    not borrow it.
    """
    import sys

    import torch
    import torch.nn.functional as F

    def attention(value, spatial_shapes, sampling_locations, attention_weights):
        n, _, heads, d = value.shape
        _, q, _, levels, points, _ = sampling_locations.shape
        sizes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
        grids = 2.0 * sampling_locations - 1.0
        samples = []
        for level, (v, (h, w)) in enumerate(zip(value.split([h * w for h, w in sizes], dim=1), sizes)):
            v = v.flatten(2).transpose(1, 2).reshape(n * heads, d, h, w)
            g = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
            samples.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
        weights = attention_weights.transpose(1, 2).reshape(n * heads, 1, q, levels * points)
        out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1)
        return out.view(n, heads * d, q).transpose(1, 2).contiguous()

    class Function:
        @staticmethod
        def apply(value, spatial_shapes, level_start_index, sampling_locations, attention_weights, im2col_step=None):
            return attention(value, spatial_shapes, sampling_locations, attention_weights)

    op = sys.modules["mmcv.ops.multi_scale_deform_attn"]
    op.multi_scale_deformable_attn_pytorch, op.MultiScaleDeformableAttnFunction = attention, Function


def child(path: str, model: str, image: str, runs: int, device: str, threads: int | None) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    if threads:
        torch.set_num_threads(threads)
    pil = Image.open(image).convert("RGB")
    rgb = np.asarray(pil)
    t0 = time.perf_counter()
    if path == "stock":
        from m2fp_roto.m2fp.deform_attn import ensure_deform_attn

        ensure_deform_attn()  # the pipeline cannot even import without mmcv otherwise
        if device != "cuda":
            stock_cpu_attention()
        from modelscope.pipelines import pipeline
        from modelscope.utils.constant import Tasks

        pipe = pipeline(Tasks.image_segmentation, model=model, device="gpu" if device == "cuda" else "cpu")
        run = lambda: f"{len(pipe(pil)['masks'])} masks"  # noqa: E731
    else:
        from m2fp_roto.m2fp import M2FPParser
        from m2fp_roto.m2fp.parser import network_input

        runtime, _, precision = path.partition("-")
        # Thresholds 0: every one of the top-100 instances goes through post-processing, the
        # worst case (the stock pipeline upsamples all of them whatever their scores).
        parser = M2FPParser(model, device=device, precision=precision or "fp32", runtime=runtime,
                            threads=threads, part_threshold=0.0, person_threshold=0.0)
        # Load now, not inside the first timed run.
        if runtime == "onnx":
            parser.net.session(tuple(network_input([rgb], parser.min_size, parser.max_size)[0].shape[-2:]))
        else:
            parser.net

        def run():
            p = parser.parse(rgb, 1)
            return f"{len(p.person_ids)} people, {sum(1 for _ in p.regions())} regions"
    load = time.perf_counter() - t0
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    count = run()  # warm-up
    times, cpu = [], []
    for _ in range(runs):
        sync()
        t, c = time.perf_counter(), time.process_time()
        run()
        sync()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out = {"path": path, "load_s": load, "times": times, "cpu": cpu, "count": count,
           "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if device == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1920x1080", help="frame WIDTHxHEIGHT")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--paths", default=None, help="comma list of stock, torch, torch-bf16, torch-fp16, onnx")
    ap.add_argument("--model", default=None, help="an existing model folder instead of random weights")
    ap.add_argument("--frame", default=None, help="the photo to parse (resized to --size)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--image", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "onnx-export":
        print(json.dumps(export(args.model, args.image)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.model, args.image, args.runs, args.device, args.threads)))
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    paths = (args.paths or ("stock,torch,torch-bf16,torch-fp16" if args.device == "cuda"
                            else "stock,torch,torch-bf16,onnx")).split(",")
    if "onnx" in paths:
        paths.insert(paths.index("onnx"), "onnx-export")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from m2fp_roto.m2fp.random_model import write_random_model

            model = str(write_random_model(Path(tmp) / "m2fp-full-random", "full", seed=0))
        image = frame_image(width, height, Path(tmp) / "frame.png", args.frame)
        results, exported = [], None
        for path in paths:
            cmd = [sys.executable, __file__, "--child", path, "--model", model, "--image", str(image),
                   "--runs", str(args.runs), "--device", args.device]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
            if proc.returncode:
                sys.exit(f"{path} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            if path == "onnx-export":
                exported = result
            else:
                results.append(result)
    import torch

    threads = args.threads or torch.get_num_threads()
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {threads} threads"
    print(f"M2FP full size (random weights), {width}x{height} frame, {where}, load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; median of {args.runs} after a warm-up")
    base = results[0] if results[0]["path"] == "stock" else None
    gpu = args.device == "cuda"
    head = ("| path | s/frame | min | CPU s/frame | peak RSS GiB |" + (" peak GPU GiB |" if gpu else "")
            + " speed-up (median, min) | RSS ratio | load s | output |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        med = statistics.median(r["times"])
        speed = (f"{statistics.median(base['times']) / med:.2f}x, {min(base['times']) / min(r['times']):.2f}x"
                 if base else "-")
        ratio = f"{r['peak_rss_gib'] / base['peak_rss_gib']:.2f}" if base else "-"
        row = (f"| {r['path']} | {med:.2f} | {min(r['times']):.2f} | {statistics.median(r['cpu']):.1f} | "
               f"{r['peak_rss_gib']:.2f} |")
        if gpu:
            row += f" {r['peak_gpu_gib']:.2f} |"
        print(row + f" {speed} | {ratio} | {r['load_s']:.1f} | {r['count']} |")
    if exported:
        print(f"\nONNX export (once per model and input size, then cached): {exported['export_s']:.1f} s, "
              f"peak RSS {exported['peak_rss_gib']:.2f} GiB, a {exported['mib']:.0f} MiB file")


if __name__ == "__main__":
    main()
