"""``M2FPParser``: frames in, :class:`~m2fp_roto.parsing.Parsing` out, through the M2FP network.

The network runs on our own pre-processing (identical to ModelScope's pipeline: short side 640,
long side at most 1333, bilinear) and our own post-processing (:mod:`.postprocess`), which keeps
the soft part logits, links every part to its person and never builds full-size masks for all
100 queries. The model loads on the first parse, so a run whose frames are all cached never
imports torch.
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
    batch_size : frames per network call in :meth:`parse_batch`.
    threads : CPU threads for torch (default: torch's own choice).
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

    def __init__(self, model=None, *, device: str = "cpu", precision: str = "fp32", batch_size: int = 1,
                 threads: int | None = None, resolution: int | None = None,
                 part_threshold: float | None = None, person_threshold: float | None = None,
                 logit_stride: int | None = 1):
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
            raise InputError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
        if precision == "fp16" and device == "cpu":
            raise InputError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
        if batch_size < 1 or (threads is not None and threads < 1):
            raise InputError("batch_size and threads must be at least 1")
        if resolution is not None and not 32 <= resolution <= 4096:
            raise InputError(f"resolution (the network's short side) must be 32..4096, not {resolution}")
        if logit_stride is not None and logit_stride < 1:
            raise InputError("logit_stride must be at least 1 (or None to keep no logits)")
        require_backend()
        self.model_dir: Path = locate_model(model)
        from .network import read_config

        self.config = read_config(self.model_dir)
        self.device, self.precision, self.batch_size, self.threads = device, precision, batch_size, threads
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
                "precision": self.precision, "resolution": [self.min_size, self.max_size],
                "part_threshold": self.part_threshold, "person_threshold": self.person_threshold,
                "logit_stride": self.logit_stride, "postprocess": POSTPROCESS_VERSION}

    @property
    def net(self):
        """The loaded network (loaded on first use)."""
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
        from PIL import Image

        net = self.net
        self._threads()
        height, width = images[0].shape[:2]
        h, w = network_size(height, width, self.min_size, self.max_size)
        batch = []
        for rgb in images:
            small = np.array(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
            # Same arithmetic as the pipeline's ToTensor() * 255.
            t = torch.from_numpy(small).permute(2, 0, 1).float().div(255).mul(255)
            batch.append({"image": t})
        with torch.inference_mode(), self._autocast(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="torch.meshgrid")  # inside ModelScope's decoder
            out = net.forward({"batched_inputs": batch})["outputs"]
        return (out["pred_logits"].float(), out["pred_masks"].float()), (h, w)

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
