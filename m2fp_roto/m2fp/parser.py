"""``M2FPParser``: frames in, :class:`~m2fp_roto.parsing.Parsing` out, through the M2FP network.

The network runs on our own pre-processing (identical to ModelScope's pipeline: short side 640,
long side at most 1333, bilinear) and our own post-processing (:mod:`.postprocess`), which keeps
the soft part logits, links every part to its person and never builds full-size masks for all
100 queries. Between the two, the network runs in PyTorch (``runtime="torch"``) or as an ONNX
export in ONNX Runtime (``runtime="onnx"``, :mod:`.onnx_net`). The model loads on the first
parse, so a run whose frames are all cached never imports torch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import InputError, RotoError
from .locate import locate_model

log = logging.getLogger("m2fp_roto")

MIN_SIZE, MAX_SIZE = 640, 1333  # the pipeline's (and training's) test scale
PRECISIONS = ("fp32", "bf16", "fp16")
RUNTIMES = ("torch", "onnx")
# M2FP's input normalisation (ImageNet mean and std of RGB in 0..255) and padding multiple.
PIXEL_MEAN, PIXEL_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
SIZE_DIVISIBILITY = 32
POSTPROCESS_VERSION = 1  # bump when the post-processing changes its output


class BackendMissing(RotoError):
    """The optional M2FP dependencies are not installed."""


def require_backend() -> None:
    missing = [m for m in ("torch", "torchvision", "modelscope", "timm", "addict")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendMissing(f"the M2FP backend needs {', '.join(missing)}: "
                             "pip install 'm2fp-roto[m2fp]'")


def network_size(height: int, width: int, min_size: int = MIN_SIZE, max_size: int = MAX_SIZE):
    """(h, w) the network sees: short side ``min_size``, long side at most ``max_size``."""
    scale = min_size / min(height, width)
    h, w = height * scale, width * scale
    if max(h, w) > max_size:
        h, w = h * max_size / max(h, w), w * max_size / max(h, w)
    return int(h + 0.5), int(w + 0.5)


def network_input(images, min_size: int = MIN_SIZE, max_size: int = MAX_SIZE):
    """The batch M2FP's network sees for same-size (H, W, 3) uint8 RGB images, and their size in it.

    As ModelScope's pipeline and model prepare it: resized with PIL's bilinear filter to
    :func:`network_size`, taken as float 0..255, normalised, then zero-padded at the bottom and
    right to multiples of 32. Returns a (B, 3, H32, W32) float32 tensor and the resized (h, w).
    """
    import torch
    from PIL import Image

    h, w = network_size(*images[0].shape[:2], min_size, max_size)
    padded = [-(-n // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY for n in (h, w)]
    mean, std = torch.tensor(PIXEL_MEAN).view(-1, 1, 1), torch.tensor(PIXEL_STD).view(-1, 1, 1)
    batch = torch.zeros((len(images), 3, *padded))
    for b, rgb in enumerate(images):
        small = np.array(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        # Same arithmetic as the pipeline's ToTensor() * 255, then the model's normalisation.
        t = torch.from_numpy(small).permute(2, 0, 1).float().div(255).mul(255)
        batch[b, :, :h, :w] = (t - mean) / std
    return batch, (h, w)


class M2FPParser:
    """Multi-person human parsing with M2FP.

    Parameters
    ----------
    model : path or hub id, optional
        See :func:`~m2fp_roto.m2fp.locate_model` (option > ``$M2FP_ROTO_MODEL`` > ModelScope cache >
        download).
    device : ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : ``"fp32"``, ``"bf16"`` (autocast; fast on CPUs with AVX-512 BF16 and on GPUs) or
        ``"fp16"`` (autocast, CUDA only).
    runtime : ``"torch"`` (default) or ``"onnx"``: the network exported to ONNX (once per model
        and input size, cached, see :mod:`.onnx_net`) and run by ONNX Runtime; CPU and fp32 only.
    batch_size : frames per network call in :meth:`parse_batch` (the ONNX runtime takes one
        frame per call whatever this says).
    threads : CPU threads for torch and ONNX Runtime (default: their own choice).
    resolution : the network input's short side in pixels (default 640, the model's training
        scale); the long side is capped in proportion (1333 at 640). Larger follows edges more
        closely at roughly quadratic cost.
    part_threshold, person_threshold : minimum instance scores (default: the model's
        ``parsing_ins_score_thr``, 0.3 for the published model).
    logit_stride : keep ``Parsing.part_logits`` at the network-input size divided by this
        (1 = full network resolution); ``None`` keeps none.

    Examples
    --------
    >>> parser = M2FPParser("/mnt/models/m2fp-multi", precision="bf16")  # doctest: +SKIP
    >>> parsing = parser.parse(rgb, frame=1001)                           # doctest: +SKIP
    """

    label_set = "cihp"  # the published model's ids (what PlateParsingSource reads)

    def __init__(self, model=None, *, device: str = "cpu", precision: str = "fp32", runtime: str = "torch",
                 batch_size: int = 1, threads: int | None = None, resolution: int | None = None,
                 part_threshold: float | None = None, person_threshold: float | None = None,
                 logit_stride: int | None = 1):
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
            raise InputError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
        if precision == "fp16" and device == "cpu":
            raise InputError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
        if runtime not in RUNTIMES:
            raise InputError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        if runtime == "onnx" and (device != "cpu" or precision != "fp32"):
            raise InputError("runtime onnx runs fp32 on the CPU; for --device cuda or --precision "
                             "bf16/fp16 use --runtime torch")
        if batch_size < 1 or (threads is not None and threads < 1):
            raise InputError("batch_size and threads must be at least 1")
        if resolution is not None and not 32 <= resolution <= 4096:
            raise InputError(f"resolution (the network's short side) must be 32..4096, not {resolution}")
        if logit_stride is not None and logit_stride < 1:
            raise InputError("logit_stride must be at least 1 (or None to keep no logits)")
        require_backend()
        if runtime == "onnx":
            from .onnx_net import require_onnx

            require_onnx()
        self.model_dir: Path = locate_model(model)
        from .network import read_config

        self.config = read_config(self.model_dir)
        self.device, self.precision, self.batch_size, self.threads = device, precision, batch_size, threads
        self.runtime = runtime
        self.min_size = resolution or MIN_SIZE
        self.max_size = round(self.min_size * MAX_SIZE / MIN_SIZE)
        default_thr = float(self.config.get("parsing_ins_score_thr", 0.3))
        self.part_threshold = default_thr if part_threshold is None else float(part_threshold)
        self.person_threshold = default_thr if person_threshold is None else float(person_threshold)
        self.logit_stride = logit_stride
        self.human_label = int(self.config["num_parsing"])
        self._net = None

    @cached_property
    def settings(self) -> dict:
        """Everything that changes the output: the parse cache's key. The folder's location is
        not part of it, so a copied model reuses the cache."""
        from .network import fingerprint

        return {"backend": "m2fp", "model_sha256": fingerprint(self.model_dir),
                "precision": self.precision, "runtime": self.runtime, "resolution": [self.min_size, self.max_size],
                "part_threshold": self.part_threshold, "person_threshold": self.person_threshold,
                "logit_stride": self.logit_stride, "postprocess": POSTPROCESS_VERSION}

    @property
    def net(self):
        """The loaded network (loaded on first use): a torch module, or for ``runtime="onnx"`` an
        :class:`~.onnx_net.OnnxNetwork` (which exports or opens the ONNX file of an input size the
        first time it meets it)."""
        if self._net is None and self.runtime == "onnx":
            from .onnx_net import OnnxNetwork

            self._threads()
            self._net = OnnxNetwork(self.model_dir, self.settings["model_sha256"], self.threads)
        if self._net is None:
            import torch

            from .network import load_network

            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise InputError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
            self._threads()
            log.info("loading M2FP from %s", self.model_dir)
            net = load_network(self.model_dir).to(self.device)
            # oneDNN/cuDNN convolutions run faster in NHWC (about 15 % of the CPU forward).
            net.backbone.to(memory_format=torch.channels_last)
            self._net = net
        return self._net

    def __getstate__(self):  # the loaded network does not travel to another process; it loads there
        state = dict(self.__dict__)
        state["_net"] = None
        return state

    def _threads(self):
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)

    def parse(self, rgb: np.ndarray, frame: int):
        """Parse one (H, W, 3) uint8 RGB frame."""
        return self.parse_batch([(frame, rgb)])[0]

    def parse_batch(self, items):
        """Parse ``[(frame, rgb), ...]``; frames of one size share network calls of ``batch_size``."""
        out = {}
        by_size: dict[tuple, list] = {}
        for n, (frame, rgb) in enumerate(items):
            by_size.setdefault(self._check(rgb, frame), []).append(n)
        for indices in by_size.values():
            for s in range(0, len(indices), self.batch_size):
                chunk = indices[s:s + self.batch_size]
                for n, parsing in zip(chunk, self._run([items[i] for i in chunk])):
                    out[n] = parsing
        return [out[n] for n in range(len(items))]

    def instances(self, rgb: np.ndarray):
        """The selected instances of one frame (for inspection and full-size masks on demand)."""
        from .postprocess import select_instances

        self._check(rgb, 0)
        (cls, masks), size = self._forward([rgb])
        return select_instances(cls[0], masks[0], size)

    @staticmethod
    def _check(rgb, frame):
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            what = getattr(rgb, "shape", type(rgb).__name__)
            raise InputError(f"frame {frame}: expected an (H, W, 3) uint8 RGB image, got {what}")
        return rgb.shape

    def _autocast(self):
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast("cuda" if self.device.startswith("cuda") else "cpu", dtype=dtype)

    def _forward(self, images):
        """Class and mask logits for same-size images, and the network input size."""
        import torch

        from .network import run_network

        net = self.net
        self._threads()
        batch, size = network_input(images, self.min_size, self.max_size)
        if self.runtime == "onnx":
            cls, masks = net(batch)
        else:
            with torch.inference_mode(), self._autocast(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="torch.meshgrid")  # inside ModelScope's decoder
                cls, masks = run_network(net, batch.to(self.device))
        return (cls.float(), masks.float()), size

    def _run(self, items):
        import torch

        from .postprocess import assign_people, compose, select_instances, to_parsing

        (cls, masks), size = self._forward([rgb for _, rgb in items])
        results = []
        with torch.inference_mode():
            for b, (frame, rgb) in enumerate(items):
                inst = select_instances(cls[b], masks[b], size)
                asg = assign_people(inst, self.human_label, part_threshold=self.part_threshold,
                                    person_threshold=self.person_threshold)
                labels, persons = compose(inst, asg, n_labels=self.human_label)
                scores = inst.scores[asg.people].tolist()
                results.append(to_parsing(frame, labels, persons, scores, rgb.shape[:2],
                                          logit_stride=self.logit_stride))
        return results
