"""The M2FP network from a local model folder: validated config, strict and safe weight loading.

A model folder is what the ModelScope hub serves for ``damo/cv_resnet101_image-multiple-human-
parsing``: ``configuration.json`` (whose ``model`` block holds the architecture) and
``pytorch_model.pt`` (a ``torch.save`` pickle whose ``"model"`` entry is the state dict). The
network class itself is ModelScope's (imported at load time, never copied here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

from ..errors import RotoError

log = logging.getLogger("m2fp_roto")

CONFIG_FILE = "configuration.json"
WEIGHTS_FILE = "pytorch_model.pt"

# Entries of a training checkpoint that inference never uses: Mask2Former's loss keeps a
# class-weight buffer, and BatchNorm's update counter does not affect evaluation.
_IGNORED_EXTRA = ("criterion.",)
_IGNORED_SUFFIX = (".num_batches_tracked",)


class ModelLoadError(RotoError):
    """The model folder exists but cannot be used (bad config, unreadable or mismatched weights)."""


def read_config(folder: Path) -> dict:
    """The ``model`` block of ``configuration.json``, checked to be a multi-person M2FP model."""
    path = Path(folder) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder} is not an M2FP model folder: {CONFIG_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or model.get("type") != "m2fp":
        raise ModelLoadError(f"{path} does not describe an M2FP model (model.type must be 'm2fp')")
    if model.get("single_human", True) or not model.get("parsing_on", False):
        raise ModelLoadError(f"{path} is a single-person M2FP model; m2fp-roto needs the multi-person "
                             "one (damo/cv_resnet101_image-multiple-human-parsing)")
    for key in ("backbone", "encoder", "decoder", "classes", "num_parsing"):
        if key not in model:
            raise ModelLoadError(f"{path}: model.{key} is missing")
    return model


def fingerprint(folder: Path) -> str:
    """SHA-256 over the config and the weights: what identifies a model's output."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        digest.update(name.encode())
        with open(Path(folder) / name, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def build_network(folder: Path, config: dict | None = None):
    """ModelScope's ``M2FP`` module for the folder's architecture, with untrained weights."""
    from .deform_attn import ensure_deform_attn

    ensure_deform_attn()
    with warnings.catch_warnings():
        # ModelScope's modules use deprecated torch/timm spellings; that is not the user's concern.
        warnings.simplefilter("ignore", FutureWarning)
        from modelscope.models.cv.image_human_parsing.m2fp_net import M2FP

    config = dict(config or read_config(folder))
    config.pop("type", None)
    config["pretrained"] = False
    # ModelScope's constructor consumes (pops from) its sub-config dicts.
    for key in ("backbone", "encoder", "decoder"):
        config[key] = dict(config[key])
    try:
        net = M2FP(str(folder), device="cpu", **config)
    except (TypeError, KeyError, ValueError, AssertionError) as exc:
        raise ModelLoadError(f"{Path(folder) / CONFIG_FILE}: the M2FP architecture cannot be built "
                             f"from it ({type(exc).__name__}: {exc})") from None
    return net.eval()


def read_state_dict(path: Path) -> dict:
    """The ``"model"`` state dict of a checkpoint, unpickled with ``weights_only=True``.

    Hub checkpoints may carry training state (optimizer, scheduler objects) beside the weights.
    Globals that the weights-only unpickler would refuse are mapped to an inert placeholder
    class, so such a file loads without running any of its code; the state dict itself must then
    consist of tensors only.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path.parent} has no {path.name} (the weights)")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint: the weights-only load below says what is wrong
        unsafe = []
    placeholders = [(_inert(name), name) for name in unsafe]
    try:
        with torch.serialization.safe_globals(placeholders):
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read the weights {path}: {exc}") from None
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path} holds no 'model' state dict")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"{path}: 'model' entries that are not tensors: {', '.join(bad[:5])}")
    return state


def _inert(qualified_name: str) -> type:
    module, _, name = qualified_name.rpartition(".")

    class Placeholder:
        """Stands for a pickled object that is not needed and must not be reconstructed."""

        def __init__(self, *args, **kwargs):
            pass

        def __setstate__(self, state):
            pass

    Placeholder.__module__, Placeholder.__qualname__ = module, name
    return Placeholder


def load_weights(net, state: dict, where) -> None:
    """Copy ``state`` into ``net``; every missing, unexpected or mis-shaped key is an error."""
    own = net.state_dict()
    unexpected = [k for k in state if k not in own and not _ignorable(k)]
    missing = [k for k in own if k not in state and not k.endswith(_IGNORED_SUFFIX)]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                  if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {what}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ModelLoadError(f"the weights in {where} do not fit the architecture in its "
                             f"{CONFIG_FILE}: " + "; ".join(problems))
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def _ignorable(key: str) -> bool:
    return key.startswith(_IGNORED_EXTRA) or key.endswith(_IGNORED_SUFFIX)


def run_network(net, image):
    """Class logits (B, Q, K+1) and mask logits (B, Q, H/4, W/4) of a normalised, padded (B, 3, H, W)
    batch (:func:`~.parser.network_input`): M2FP's forward without its own pre-processing."""
    out = net.sem_seg_head(net.backbone(image))
    return out["pred_logits"], out["pred_masks"]


def load_network(folder: Path):
    """Build the folder's M2FP network and load its weights (strict, weights only). CPU, eval mode."""
    folder = Path(folder)
    config = read_config(folder)
    net = build_network(folder, config)
    load_weights(net, read_state_dict(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    return net
