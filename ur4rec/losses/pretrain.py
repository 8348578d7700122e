"""The retriever's two pre-training objectives (paper section 3.2), in the ``losses`` contract.

Both take ``scores [B, 1+M]`` over one positive (column ``label``) and M sampled negatives:

* ``InfoNCE`` (L_CL): scores are sim(e^pref, e^item) = max over the K proxy outputs of the cosine
  with the item's output (eq. 6-7); the loss is -log softmax(scores / tau)[label]. The paper's
  printed denominator sums over the negatives only; the positive is kept in it here, as in the
  works it cites (SimCSE, S3-Rec), so the loss is bounded below by 0.
* ``PIM`` (L_CF, preference-item matching): scores are the logits Linear(avg(proxy outputs of
  Retriever([P; h_i], Z))) (eq. 8); the loss is binary cross-entropy, 1 for the positive and 0 for
  each negative, averaged over the real entries.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ur4rec.losses.base import LOSSES, Loss


def max_cosine(pref: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """sim() of L_CL: pref [B, K, d], items [B, M, d] -> [B, M], the best proxy's cosine per item."""
    cos = torch.einsum("bkd,bmd->bkm", F.normalize(pref, dim=-1), F.normalize(items, dim=-1))
    return cos.max(dim=1).values


@LOSSES.register("InfoNCE")
class InfoNCE(Loss):
    """L_CL = -log( exp(s_pos / tau) / sum_j exp(s_j / tau) ) over the positive and M negatives."""

    def __init__(self, tau: float = 0.1):
        if tau <= 0:
            raise ValueError(f"losses.InfoNCE.tau must be positive, not {tau}")
        self.tau = tau

    def __call__(self, scores, label, mask):
        return F.cross_entropy((scores / self.tau).masked_fill(~mask, float("-inf")), label)


@LOSSES.register("PIM")
class PIM(Loss):
    """L_CF = BCE(sigmoid(logit), y), y = 1 for the matching item and 0 for each sampled negative."""

    def __call__(self, scores, label, mask):
        target = F.one_hot(label, scores.shape[1]).to(scores.dtype)
        bce = F.binary_cross_entropy_with_logits(scores, target, reduction="none")
        m = mask.to(scores.dtype)
        return (bce * m).sum() / m.sum().clamp(min=1)
