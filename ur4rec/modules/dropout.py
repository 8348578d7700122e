"""Inverted dropout with a cheaper random mask on the CPU (used by the UR4Rec retriever).

torch's CPU dropout draws one Mersenne-Twister number per element (``bernoulli_``, single-threaded);
on the retriever's [B, K+N, d] activations that was 28% of a bf16 training step
(``benchmarks/results/retriever.md``). Here each 64-bit draw gives four 16-bit words, each word's low
15 bits decide one element: drop when below ``round(p * 2^15)``. The drop probability is therefore p
rounded to a multiple of 2^-15 (0.1 -> 0.100006) and kept elements are scaled by 1 / (1 - that
probability), so the expectation is unchanged. Draws come from torch's default generator, so seeding
(and the trainer's per-epoch resume) works as with ``nn.Dropout``. Other devices use ``F.dropout``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WORD = 1 << 15  # each 16-bit word contributes its low 15 bits (int64 draws are in [0, 2^63): top bit 0)


def keep_mask(shape: torch.Size | tuple, p: float) -> tuple[torch.Tensor, float]:
    """(bool mask of ``shape``, True = keep, and the exact keep probability) on the CPU."""
    n = 1
    for s in shape:
        n *= s
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_().view(torch.int16)[:n]
    threshold = round(p * WORD)
    return (words & (WORD - 1)).ge(threshold).view(shape), 1.0 - threshold / WORD


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout(p)`` (same parameters: none; same expectation; see the module docstring)."""

    def __init__(self, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        keep, rate = keep_mask(x.shape, self.p)
        # one multiply by a scaled mask in x's dtype is cheaper, forward and backward, than torch.where
        # (in bf16 the scale rounds as in torch's own dropout, which also scales a bf16 mask)
        return x * keep.to(x.dtype).mul_(1.0 / rate)

    def extra_repr(self) -> str:
        return f"p={self.p}"
