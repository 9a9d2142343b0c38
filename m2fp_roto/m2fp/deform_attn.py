"""Multi-scale deformable attention without mmcv.

ModelScope's M2FP encoder imports ``mmcv.ops.multi_scale_deform_attn`` at module level only to
reach one operator; mmcv has no wheels for current torch, and on CPU it falls back to plain
``grid_sample`` anyway. When no usable mmcv is importable, :func:`ensure_deform_attn` registers
a tiny module under that name whose operator is the PyTorch one below. A real mmcv built with
CUDA ops is used untouched when present.

The operator follows Deformable DETR (Zhu et al., 2021, "Deformable DETR: Deformable
Transformers for End-to-End Object Detection", eq. 3): every query samples ``n_points``
locations per head and level with bilinear interpolation and sums them with its attention
weights.
"""

from __future__ import annotations

import importlib.util
import sys
import types

SHIM_MARK = "__m2fp_roto_shim__"
_OP_MODULE = "mmcv.ops.multi_scale_deform_attn"


def multi_scale_deformable_attn(value, spatial_shapes, sampling_locations, attention_weights):
    """Deformable attention over several feature levels, in PyTorch.

    Parameters
    ----------
    value : (N, S, heads, d) tensor, the flattened levels one after another.
    spatial_shapes : (levels, 2) integer tensor of each level's (H, W).
    sampling_locations : (N, Q, heads, levels, points, 2) tensor of (x, y) in [0, 1].
    attention_weights : (N, Q, heads, levels, points) tensor.

    Returns
    -------
    (N, Q, heads * d) tensor.
    """
    import torch.nn.functional as F

    n, _, heads, d = value.shape
    _, q, _, levels, points, _ = sampling_locations.shape
    sizes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    per_level = value.split([h * w for h, w in sizes], dim=1)
    grids = 2.0 * sampling_locations - 1.0  # grid_sample wants [-1, 1]
    # (N, Q, heads, levels, points) -> (N*heads, 1, Q, levels, points)
    weights = attention_weights.transpose(1, 2).reshape(n * heads, 1, q, levels, points)
    out = None
    for level, (h, w) in enumerate(sizes):
        # (N, H*W, heads, d) -> (N*heads, d, H, W)
        v = per_level[level].flatten(2).transpose(1, 2).reshape(n * heads, d, h, w)
        # (N, Q, heads, points, 2) -> (N*heads, Q, points, 2)
        g = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        # Summed level by level: only one level's (N*heads, d, Q, points) samples are ever held.
        # Weighted in place: a new tensor of that size per level cost a fifth of the operator.
        part = sampled.mul_(weights[..., level, :]).sum(-1)
        out = part if out is None else out.add_(part)
    return out.view(n, heads * d, q).transpose(1, 2).contiguous()


class MultiScaleDeformableAttnFunction:
    """Stands in for mmcv's compiled autograd function: computes the PyTorch operator directly."""

    @staticmethod
    def apply(value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
              im2col_step=None):
        return multi_scale_deformable_attn(value, spatial_shapes, sampling_locations, attention_weights)


def _real_mmcv_error() -> str | None:
    """None when a real mmcv provides the operator module, else why not."""
    if importlib.util.find_spec("mmcv") is None:
        return "not installed"
    try:
        importlib.import_module(_OP_MODULE)
    except Exception as exc:  # a broken build raises anything from ImportError to OSError
        return f"installed but its ops do not import ({type(exc).__name__}: {exc})"
    return None


def ensure_deform_attn() -> str:
    """Make ``mmcv.ops.multi_scale_deform_attn`` importable; returns which implementation serves it."""
    mod = sys.modules.get(_OP_MODULE)
    if mod is not None and getattr(mod, SHIM_MARK, False):
        return "pytorch"
    why = _real_mmcv_error()
    if why is None:
        return "mmcv"
    op = types.ModuleType(_OP_MODULE)
    op.__doc__ = "m2fp-roto's PyTorch multi-scale deformable attention (no mmcv installed)."
    op.multi_scale_deformable_attn_pytorch = multi_scale_deformable_attn
    op.MultiScaleDeformableAttnFunction = MultiScaleDeformableAttnFunction
    setattr(op, SHIM_MARK, True)
    op.__spec__ = importlib.util.spec_from_loader(_OP_MODULE, loader=None)
    parents = []
    for name in ("mmcv", "mmcv.ops"):
        # A broken real mmcv keeps its top-level package; only the missing pieces are provided.
        if name == "mmcv" and name in sys.modules:
            continue
        pkg = types.ModuleType(name)
        pkg.__path__ = []
        pkg.__spec__ = importlib.util.spec_from_loader(name, loader=None, is_package=True)
        setattr(pkg, SHIM_MARK, True)
        parents.append(pkg)
    for pkg in parents:
        sys.modules[pkg.__name__] = pkg
    sys.modules[_OP_MODULE] = op
    sys.modules["mmcv.ops"].multi_scale_deform_attn = op
    if "mmcv" in sys.modules and not hasattr(sys.modules["mmcv"], "ops"):
        sys.modules["mmcv"].ops = sys.modules["mmcv.ops"]
    return "pytorch"


def mmcv_status() -> str:
    """One line on mmcv for diagnostics, without installing anything."""
    mod = sys.modules.get(_OP_MODULE)
    if mod is not None and getattr(mod, SHIM_MARK, False):
        return "not used: m2fp-roto's PyTorch deformable attention is active"
    why = _real_mmcv_error()
    if why is not None:
        return f"{why}; the built-in PyTorch deformable attention will be used"
    from ..versions import installed_version

    ver = installed_version("mmcv", "mmcv-full", missing="unknown version")
    return f"mmcv {ver} with compiled ops (used on CUDA; CPU falls back to PyTorch)"
