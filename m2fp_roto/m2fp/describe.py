"""What the M2FP backend would use on this machine, for ``m2fp-roto doctor``."""

from __future__ import annotations

import importlib.util

from ..versions import installed_version


def describe(model=None) -> dict:
    """Versions, model location (or why none), device, mmcv and ONNX Runtime status; downloads nothing."""
    from .deform_attn import mmcv_status
    from .locate import ModelNotFound, locate_model
    from .onnx_net import runtime_status

    info = {name: installed_version(name) for name in ("torch", "torchvision", "modelscope", "timm")}
    try:
        info["model"] = str(locate_model(model, download=False))
    except ModelNotFound as exc:
        info["model"] = f"not found: {exc}"
    if importlib.util.find_spec("torch") is None:
        info["device"] = "none: torch is not installed (pip install 'm2fp-roto[m2fp]')"
    else:
        import torch

        if torch.cuda.is_available():
            info["device"] = f"cuda ({torch.cuda.get_device_name(0)}); cpu also available"
        else:
            info["device"] = f"cpu ({torch.get_num_threads()} threads); no CUDA GPU visible"
    info["mmcv"] = mmcv_status()
    info["onnxruntime"] = runtime_status()
    return info
