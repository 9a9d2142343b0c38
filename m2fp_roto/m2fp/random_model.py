"""Model folders with the real M2FP architecture and random weights, for tests and benchmarks.

The trained weights live only on the ModelScope hub, so offline tests and speed measurements
build a folder of the same layout themselves and load it through the normal loading code.
``"full"`` is the published multi-person model's architecture (ResNet-101, 63.1 M parameters;
reconstructed from the M2FP CIHP training config); ``"tiny"`` keeps every stage but shrinks the
widths and depths so that it builds and runs in a fraction of a second.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

CIHP_CLASSES = ["Background", "Hat", "Hair", "Gloves", "Sunglasses", "UpperClothes", "Dress", "Coat",
                "Socks", "Pants", "Torso-skin", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
                "Left-leg", "Right-leg", "Left-shoe", "Right-shoe", "Human"]

FULL = {
    "type": "m2fp", "pretrained": True, "single_human": False, "num_parsing": 20,
    "parsing_ins_score_thr": 0.3, "parsing_on": True, "semantic_on": False,
    "sem_seg_postprocess_before_inference": True, "classes": CIHP_CLASSES,
    "backbone": {"out_features": ["res2", "res3", "res4", "res5"], "depth": 101, "num_groups": 1,
                 "width_per_group": 64, "norm": "BN", "stem_out_channels": 128,
                 "res2_out_channels": 256, "stride_in_1x1": False, "res4_dilation": 1,
                 "res5_dilation": 1, "res5_multi_grid": [1, 1, 1]},
    "encoder": {"in_features": ["res2", "res3", "res4", "res5"],
                "transformer_in_features": ["res3", "res4", "res5"], "transformer_dropout": 0.0,
                "transformer_nheads": 8, "transformer_dim_feedforward": 1024,
                "transformer_enc_layers": 6, "conv_dim": 256, "mask_dim": 256, "common_stride": 4},
    "decoder": {"num_classes": 21, "hidden_dim": 256, "num_queries": 100, "nheads": 8,
                "dim_feedforward": 2048, "dec_layers": 9, "pre_norm": False, "mask_dim": 256,
                "enforce_input_project": False},
}


def model_config(size: str = "full") -> dict:
    """The ``model`` block of ``configuration.json`` for ``"full"`` or ``"tiny"``."""
    config = copy.deepcopy(FULL)
    if size == "tiny":
        # GroupNorm(32) in the pixel decoder needs widths divisible by 32.
        config["backbone"].update(depth=50, width_per_group=16, stem_out_channels=64, res2_out_channels=64)
        config["encoder"].update(transformer_nheads=4, transformer_dim_feedforward=128,
                                 transformer_enc_layers=1, conv_dim=64, mask_dim=64)
        config["decoder"].update(hidden_dim=64, num_queries=20, nheads=4, dim_feedforward=128,
                                 dec_layers=1, mask_dim=64)
    elif size != "full":
        raise ValueError(f"size must be 'full' or 'tiny', not {size!r}")
    return config


def write_random_model(folder, size: str = "tiny", seed: int = 0) -> Path:
    """Write ``configuration.json`` + ``pytorch_model.pt`` with seeded random weights.

    The decoder keeps each query distinct, and the class biases are raised ("no object"
    lowered) so that random weights still yield part and person instances
    for the post-processing to work on.
    """
    import torch

    from .network import CONFIG_FILE, WEIGHTS_FILE, build_network

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model_config(size)
    (folder / CONFIG_FILE).write_text(json.dumps(
        {"framework": "pytorch", "task": "image-segmentation",
         "pipeline": {"type": "m2fp-image-human-parsing"}, "model": model}, indent=1))
    torch.manual_seed(seed)
    net = build_network(folder, model)
    with torch.no_grad():
        predictor = net.sem_seg_head.predictor
        # Untrained decoder layers wash every query into the same feature; weak residual
        # branches let each query keep its own, so queries differ in class and mask.
        for name, module in predictor.named_modules():
            if name.endswith(("out_proj", "linear2")):
                module.weight.mul_(0.1)
        head = predictor.class_embed
        head.weight.normal_(0, 2 / head.in_features ** 0.5)
        head.bias[:-1] = torch.rand(head.bias.numel() - 1) * 3
        head.bias[-2] = 3  # Human
        head.bias[-1] = -10
    torch.save({"model": net.state_dict()}, folder / WEIGHTS_FILE)
    return folder
