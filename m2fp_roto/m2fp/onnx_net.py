"""The M2FP network through ONNX Runtime: exported once per model and input size, cached, run on the CPU.

The network part of M2FP (ResNet backbone, pixel decoder with its multi-scale deformable
attention, masked transformer decoder) is exported with ``torch.onnx.export`` into plain ONNX
ops; the deformable attention is m2fp-roto's ``grid_sample`` operator (:mod:`.deform_attn`),
which becomes ONNX ``GridSample`` (opset 16 and later). Pre- and post-processing are the torch
path's own (:mod:`.parser`, :mod:`.postprocess`): both runtimes start from the same input tensor
and turn the same two outputs into a :class:`~m2fp_roto.parsing.Parsing`.

One export serves one padded input size (every frame of a plate has the same): the export is a
trace, and the network derives its position embeddings, level shapes and reference points from
the input size. It uses the TorchScript-based exporter (``dynamo=False``): the
``torch.export``-based one stops at the encoder's data-dependent sizes (``.item()`` on the level
shapes, ``linspace``).

The file is ``m2fp-<model sha256[:16]>-<W>x<H>-opset<N>-v<EXPORT_VERSION>.onnx`` in the model
folder's ``onnx/`` sub-folder, or, when the model folder is read-only (a render farm's model
share), under ``$M2FP_ROTO_CACHE/onnx`` (else ``~/.cache/m2fp-roto/onnx``). The name carries
everything the export depends on, so changed weights or config, another size or another opset
never meet an old file; exports of other weights left in the model's own ``onnx/`` are removed.
Files are written atomically, and an unreadable one is exported again.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..atomic import atomic_path, create_new, private_name

log = logging.getLogger("m2fp_roto")

OPSET = 17            # GridSample needs 16; 17 also has LayerNormalization as one op
EXPORT_VERSION = 2    # bump when the exported graph changes for the same weights
DIRNAME = "onnx"
_NAME = re.compile(r"m2fp-(?P<model>[0-9a-f]{16})-\d+x\d+-opset\d+-v(?P<version>\d+)\.onnx")


def require_onnx() -> None:
    """ONNX Runtime, and the ``onnx`` package torch's exporter needs, or a BackendMissing error."""
    from .parser import BackendMissing

    missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendMissing(f"--runtime onnx needs {' and '.join(missing)}: pip install 'm2fp-roto[m2fp]'")


def export_name(fingerprint: str, size: tuple[int, int], opset: int = OPSET) -> str:
    """The cached export's file name for a model (its :func:`~.network.fingerprint`) and padded (H, W)."""
    return f"m2fp-{fingerprint[:16]}-{size[1]}x{size[0]}-opset{opset}-v{EXPORT_VERSION}.onnx"


def user_cache_root() -> Path:
    """Where exports go when the model folder is read-only."""
    from ..sources.parse_cache import CACHE_ENV

    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / DIRNAME
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "m2fp-roto" / DIRNAME


def _writable(folder: Path) -> bool:
    # Try it: os.access answers for the permission bits, not for read-only mounts or root squash.
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = private_name(folder, ".write-probe.", "")
        try:
            create_new(probe)
        finally:
            probe.unlink(missing_ok=True)
        return True
    except OSError:
        return False


def cached_export(model_dir, fingerprint: str, size: tuple[int, int], opset: int = OPSET) -> Path:
    """The ``.onnx`` of the model at padded input ``size`` (H, W), exported now if there is none."""
    name = export_name(fingerprint, size, opset)
    own, shared = Path(model_dir) / DIRNAME, user_cache_root()
    for folder in (own, shared):
        if (folder / name).is_file():
            return folder / name
    folder = own if _writable(own) else shared
    if folder is shared:
        log.info("the model folder %s is not writable; the ONNX export goes to %s", model_dir, shared)
    export_network(model_dir, folder / name, size, opset)
    if folder is own:
        _remove_stale(own, fingerprint)
    return folder / name


def _remove_stale(folder: Path, fingerprint: str) -> None:
    """Exports in the model's own folder made from other weights or by an older exporter."""
    for path in folder.glob("m2fp-*.onnx"):
        m = _NAME.fullmatch(path.name)
        if m and (m["model"] != fingerprint[:16] or int(m["version"]) != EXPORT_VERSION):
            log.info("removing the stale ONNX export %s", path)
            path.unlink(missing_ok=True)


def _exported_part(net):
    """The module that is exported: ``image (1, 3, H, W) -> (class logits, mask logits)``."""
    import torch

    from .network import run_network

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, image):
            return run_network(self.net, image)

    return Network().eval()


@contextmanager
def _pytorch_deform_attn():
    """Route ModelScope's deformable attention to the PyTorch operator while tracing, also when a
    real mmcv is installed (its compiled autograd Function cannot be exported)."""
    from modelscope.models.cv.image_instance_segmentation.maskdino import ms_deform_attn as module

    from .deform_attn import MultiScaleDeformableAttnFunction, multi_scale_deformable_attn

    saved = module.MultiScaleDeformableAttnFunction, module.multi_scale_deformable_attn_pytorch
    module.MultiScaleDeformableAttnFunction = MultiScaleDeformableAttnFunction
    module.multi_scale_deformable_attn_pytorch = multi_scale_deformable_attn
    try:
        yield
    finally:
        module.MultiScaleDeformableAttnFunction, module.multi_scale_deformable_attn_pytorch = saved


def export_network(model_dir, path, size: tuple[int, int], opset: int = OPSET) -> Path:
    """Export the model folder's network for a (1, 3, H, W) input to ``path`` (atomically)."""
    import torch

    from .network import load_network

    log.warning("exporting M2FP to ONNX for a %dx%d network input, once per model and size (the "
                "published model takes about a minute and several GiB of memory): %s", size[1], size[0], path)
    start = time.perf_counter()
    net = _exported_part(load_network(model_dir))
    with atomic_path(path) as tmp, torch.no_grad(), _pytorch_deform_attn(), warnings.catch_warnings():
        # TracerWarnings say the graph is specialised to this input size, which is the design.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, *size),), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["class_logits", "mask_logits"])
    log.info("ONNX export done in %.1f s", time.perf_counter() - start)
    return Path(path)


class OnnxNetwork:
    """M2FP on ONNX Runtime's CPU provider, one session per padded input size.

    Parameters
    ----------
    model_dir : the model folder.
    fingerprint : its :func:`~.network.fingerprint` (the export's key).
    threads : intra-op threads (default: ONNX Runtime's choice, the physical cores).
    """

    def __init__(self, model_dir, fingerprint: str, threads: int | None = None):
        self.model_dir, self.fingerprint, self.threads = Path(model_dir), fingerprint, threads
        self._sessions: dict[tuple[int, int], object] = {}

    def __call__(self, batch):
        """(B, 3, H, W) float32 tensor -> class logits (B, Q, K+1), mask logits (B, Q, H/4, W/4)."""
        import numpy as np
        import torch

        session = self.session(tuple(batch.shape[-2:]))
        # One frame per call: the export has batch 1 (batching gains a CPU nothing).
        outs = [session.run(None, {"image": image[None].numpy()}) for image in batch]
        return tuple(torch.from_numpy(np.concatenate([o[k] for o in outs])) for k in range(2))

    def session(self, size: tuple[int, int]):
        if size not in self._sessions:
            path = cached_export(self.model_dir, self.fingerprint, size)
            try:
                self._sessions[size] = self._open(path)
            except Exception as exc:  # ONNX Runtime raises its own Fail / InvalidProtobuf kinds
                log.warning("the cached ONNX export %s cannot be loaded (%s); exporting it again", path, exc)
                path.unlink(missing_ok=True)
                self._sessions[size] = self._open(cached_export(self.model_dir, self.fingerprint, size))
        return self._sessions[size]

    def _open(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Without the arena and memory patterns each activation is freed when last used: the
        # peak stays near the largest live set instead of the sum of everything ever allocated.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        # Idle workers sleep instead of spinning: on a shared node spinning costs other jobs (and,
        # measured under load, this one) CPU time, and M2FP's ops are large enough not to notice.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads:
            options.intra_op_num_threads = self.threads
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runtime_status() -> str:
    """One line on ONNX Runtime for diagnostics: version and execution providers."""
    from ..versions import installed_version

    if importlib.util.find_spec("onnxruntime") is None:
        return "not installed (--runtime onnx needs it: pip install 'm2fp-roto[m2fp]')"
    import onnxruntime as ort

    onnx = installed_version("onnx")
    return (f"{ort.__version__}, providers {', '.join(ort.get_available_providers())}; onnx {onnx}, "
            f"exports cached in the model folder's {DIRNAME}/ or {user_cache_root()}")
