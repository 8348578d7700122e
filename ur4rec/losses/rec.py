"""Rec-Loss of paper eq. 9: the recommender's own objective over a candidate list.

Listwise: softmax cross-entropy of the positive against the whole list (PRM, SetRank, DLCM's
listwise variant). Pointwise: binary cross-entropy of every candidate against its 0/1 label
(GRU4Rec/SASRec-style sampled training). Padding candidates never contribute.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ur4rec.losses.base import LOSSES, Loss


@LOSSES.register("Listwise")
class Listwise(Loss):
    """-log softmax(scores)[label]: the positive against every real candidate of its list."""

    def __call__(self, scores, label, mask):
        scores = scores.masked_fill(~mask, float("-inf"))  # [B, N]
        return F.cross_entropy(scores, label)


@LOSSES.register("Pointwise")
class Pointwise(Loss):
    """Mean BCE over candidates; ``pos_weight`` balances one positive against N - 1 negatives."""

    def __init__(self, pos_weight: float = 1.0):
        self.pos_weight = pos_weight

    def __call__(self, scores, label, mask):
        target = F.one_hot(label, scores.shape[1]).to(scores.dtype)  # [B, N]
        weight = mask.to(scores.dtype) * (1.0 + (self.pos_weight - 1.0) * target)
        bce = F.binary_cross_entropy_with_logits(scores, target, reduction="none")
        return (bce * weight).sum() / mask.sum().clamp(min=1)
