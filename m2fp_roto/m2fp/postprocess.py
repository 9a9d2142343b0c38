"""From M2FP's query outputs to a :class:`~m2fp_roto.parsing.Parsing`, without full-size masks.

M2FP answers every image with ``Q`` queries: class logits ``(Q, K+1)`` (K = 20 CIHP labels plus
``Human``; the extra slot is "no object") and mask logits at a quarter of the padded network
input. The stages, named as in the M2FP code where they mirror it:

1. :func:`select_instances` - M2FP's instance-parsing inference: top (query, class) pairs scored
   by class probability x mean mask confidence.
2. :func:`assign_people` - drop duplicate ``Human`` instances, then give each part instance to
   the person whose mask covers most of it (the stock pipeline links parts to nobody).
3. :func:`compose` - soft per-label and per-person logits at network-input resolution (the
   instance masks' own resolution, upsampled 4x as M2FP does); a pixel takes the label whose
   logit is highest, background wins where no instance is above 0 (sigmoid 0.5, the stock
   mask threshold).
4. :func:`to_parsing` - label and person maps at frame size from those few channels, resized
   one at a time, so 100 full-size instance masks never exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOOR = -20.0  # logit of "certainly not"; keeps float16 storage and differences finite
CHUNK = 8      # instance masks upsampled at once: bounds memory at high working resolutions


@dataclass
class Instances:
    """Part, background and human instances of one image, masks still at quarter resolution.

    labels, scores, queries: (N,) tensors; labels index the model's classes.
    masks: (Q, h/4, w/4) mask logits of the padded network input (shared by all instances).
    input_size: (h, w) of the resized image inside the padded network input.
    """

    labels: "torch.Tensor"  # noqa: F821
    scores: "torch.Tensor"  # noqa: F821
    queries: "torch.Tensor"  # noqa: F821
    masks: "torch.Tensor"  # noqa: F821
    input_size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.labels.numel())

    def upsampled(self, index):
        """Mask logits of instances ``index`` at network-input size, as M2FP computes them."""
        import torch.nn.functional as F

        m = self.masks[self.queries[index]]
        pad_h, pad_w = m.shape[-2] * 4, m.shape[-1] * 4
        m = F.interpolate(m[None].float(), size=(pad_h, pad_w), mode="bilinear", align_corners=False)[0]
        return m[:, : self.input_size[0], : self.input_size[1]]

    def full_masks(self, index, size: tuple[int, int]):
        """Boolean masks of instances ``index`` at ``size`` (H, W): the stock pipeline's masks."""
        import torch.nn.functional as F

        m = self.upsampled(index)
        return F.interpolate(m[None], size=size, mode="bilinear", align_corners=False)[0] > 0


def select_instances(class_logits, mask_logits, input_size, topk: int = 100) -> Instances:
    """M2FP's instance-parsing selection for one image.

    Scores are ``softmax(class)`` (without "no object") times the mean sigmoid inside the mask;
    the mask term is measured on the quarter-resolution logits of the image's own area.
    """
    import torch

    probs = class_logits.float().softmax(-1)[:, :-1]
    n_classes = probs.shape[1]
    top, flat = probs.flatten().topk(min(topk, probs.numel()), sorted=False)
    labels, queries = flat % n_classes, flat // n_classes
    h4, w4 = -(-input_size[0] // 4), -(-input_size[1] // 4)
    m = mask_logits[:, :h4, :w4].float().flatten(1)
    fg = (m > 0).float()
    mask_score = (m.sigmoid() * fg).sum(1) / (fg.sum(1) + 1e-6)
    scores = top * mask_score[queries]
    order = torch.argsort(scores, descending=True)
    return Instances(labels[order], scores[order], queries[order], mask_logits, input_size)


@dataclass
class Assignment:
    parts: "torch.Tensor"      # noqa: F821  indices into Instances of kept part instances
    owners: "torch.Tensor"     # noqa: F821  person (0-based, into `people`) of each kept part
    background: "torch.Tensor"  # noqa: F821 indices of kept background instances
    people: "torch.Tensor"     # noqa: F821  indices of kept human instances, best first


def _first_per_query(queries, among):
    """True at the first (best-scoring) entry of each query among the ``among`` entries."""
    import torch

    first = torch.zeros_like(among)
    idx = torch.nonzero(among).flatten()
    q = queries[idx]
    order = torch.argsort(q * len(queries) + torch.arange(len(q), device=q.device))
    q_sorted = q[order]
    lead = torch.ones_like(q_sorted, dtype=torch.bool)
    lead[1:] = q_sorted[1:] != q_sorted[:-1]
    first[idx[order[lead]]] = True
    return first


def assign_people(inst: Instances, human_label: int, *, part_threshold: float, person_threshold: float,
                  min_overlap: float = 0.1, duplicate_iou: float = 0.6) -> Assignment:
    """Which instances to keep, and which person owns each part instance.

    A query ranked under several part labels counts once, as its best one. Humans above
    ``person_threshold`` are taken best first, skipping any whose mask overlaps an
    already taken one by more than ``duplicate_iou`` (a second query on the same person). A part
    instance above ``part_threshold`` goes to the person covering the largest fraction of it, if
    that fraction reaches ``min_overlap``; otherwise it is dropped as belonging to nobody found.
    People who end up with no part are dropped.
    """
    import torch

    h4, w4 = -(-inst.input_size[0] // 4), -(-inst.input_size[1] // 4)
    fg = inst.masks[inst.queries, :h4, :w4].flatten(1) > 0  # (N, hw) at quarter resolution
    is_human = inst.labels == human_label
    humans = torch.nonzero(is_human & (inst.scores >= person_threshold)).flatten()
    # One mask, one label: a query that ranks under several part labels keeps its best one.
    region = ~is_human & (inst.scores >= part_threshold) & _first_per_query(inst.queries, ~is_human)
    parts = torch.nonzero(region & (inst.labels != 0)).flatten()
    background = torch.nonzero(region & (inst.labels == 0)).flatten()

    hf = fg[humans].float()
    area = hf.sum(1)
    inter = hf @ hf.T
    iou = inter / (area[:, None] + area[None, :] - inter).clamp(min=1)
    taken: list[int] = []
    for i in range(len(humans)):  # greedy over at most a hundred humans, best score first
        if not taken or bool((iou[i, taken] <= duplicate_iou).all()):
            taken.append(i)
    humans = humans[taken]

    empty = torch.zeros(0, dtype=torch.long, device=parts.device)
    if len(humans) == 0 or len(parts) == 0:
        return Assignment(empty, empty, background, empty)
    pf = fg[parts].float()
    cover = (pf @ fg[humans].float().T) / pf.sum(1, keepdim=True).clamp(min=1)  # (parts, humans)
    best, owner = cover.max(1)
    keep = best >= min_overlap
    parts, owner = parts[keep], owner[keep]
    used = torch.unique(owner)  # people with parts, still best score first
    remap = torch.full((len(humans),), -1, dtype=torch.long, device=owner.device)
    remap[used] = torch.arange(len(used), device=owner.device)
    return Assignment(parts, remap[owner], background, humans[used])


def compose(inst: Instances, asg: Assignment, n_labels: int):
    """Soft label logits ``(n_labels, h, w)`` and person logits ``(P, h, w)`` at network-input size.

    A label's logit is the highest mask logit among its kept instances (``FLOOR`` where it has
    none); the background's is 0, raised by confident background instances.
    """
    import torch

    h, w = inst.input_size
    dev = inst.masks.device
    label_logits = torch.full((n_labels, h, w), FLOOR, device=dev)
    label_logits[0] = 0.0
    person_logits = torch.full((len(asg.people), h, w), FLOOR, device=dev)
    idx = torch.cat([asg.background, asg.parts])
    owners = torch.cat([torch.full_like(asg.background, -1), asg.owners])
    for s in range(0, len(idx), CHUNK):
        m = inst.upsampled(idx[s:s + CHUNK]).clamp(min=FLOOR)
        for k in range(len(m)):
            label = int(inst.labels[idx[s + k]])
            torch.maximum(label_logits[label], m[k], out=label_logits[label])
            owner = int(owners[s + k])
            if owner >= 0:
                torch.maximum(person_logits[owner], m[k], out=person_logits[owner])
    return label_logits, person_logits


def _resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(channel, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def argmax_resized(channels: np.ndarray, size: tuple[int, int], active=None) -> np.ndarray:
    """``argmax`` over channels after a bilinear resize of each to ``size``, one at a time."""
    active = range(len(channels)) if active is None else active
    best = winner = None
    for c in active:
        up = _resize(channels[c], size)
        if best is None:
            best, winner = up, np.full(size, c, np.uint8)
        else:
            better = up > best
            np.copyto(best, up, where=better)
            winner[better] = c
    return winner


def to_parsing(frame: int, label_logits, person_logits, person_scores, size: tuple[int, int],
               logit_stride: int | None = 1, label_set: str = "cihp"):
    """The frame-size :class:`Parsing` from :func:`compose`'s channels (torch, any device)."""
    import cv2

    from ..parsing import Parsing

    labels = label_logits.float().cpu().numpy()
    persons = person_logits.float().cpu().numpy()
    used = [c for c in range(1, len(labels)) if labels[c].max() > FLOOR]
    parts = argmax_resized(labels, size, [0] + used)
    if len(persons) > 1:
        people = argmax_resized(persons, size).astype(np.int32) + 1
    else:
        people = np.ones(size, np.int32)
    people[parts == 0] = 0
    ids = np.unique(people)
    ids = ids[ids != 0]
    if len(ids) and (ids[-1] != len(ids)):  # a person can lose all pixels to others at frame size
        lut = np.zeros(len(persons) + 1, np.int32)
        lut[ids] = np.arange(1, len(ids) + 1)
        people = lut[people]
    scores = {int(n): float(person_scores[int(p) - 1]) for n, p in enumerate(ids, 1)}
    logits = None
    if logit_stride:
        if logit_stride > 1:
            h, w = labels.shape[1:]
            small = (max(1, round(w / logit_stride)), max(1, round(h / logit_stride)))
            labels = np.stack([cv2.resize(c, small, interpolation=cv2.INTER_AREA) for c in labels])
        logits = labels.astype(np.float16)
    return Parsing(frame=frame, parts=parts, people=people, label_set=label_set, scores=scores,
                   part_logits=logits)
