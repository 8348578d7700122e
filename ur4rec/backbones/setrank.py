"""SetRank (Pang et al., SIGIR 2020): permutation-equivariant self-attention over the candidate set.

    X_0 = rFF(x_i)                                       per-candidate (user, item) features
    IMSAB_m(X) = MAB(X, MAB(I_m, X))                     induced multi-head self-attention block
    MAB(X, Y) = LN(H + rFF(H)),  H = LN(X + MHA(X, Y, Y))
    s_i = rFF(X_K)_i

No position embeddings and no initial ranking: permuting the candidates permutes the scores the
same way. ``inducing=None`` uses plain MSAB blocks, MAB(X, X). Features come from ``PairFeatures``
(history window L = 10) with the augment vector concatenated to the candidate (section 3.3).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, Sizes
from ur4rec.backbones.layers import PairFeatures, PostNormBlock
from ur4rec.modules.attention import FeedForward


class InducedBlock(nn.Module):
    """IMSAB_m(X) = MAB(X, MAB(I_m, X)): m learned inducing points summarise the set, O(N m) not O(N^2)."""

    def __init__(self, dim: int, heads: int, inducing: int, dropout: float):
        super().__init__()
        self.points = nn.Parameter(torch.randn(1, inducing, dim) * 0.02)  # I_m
        self.summarise = PostNormBlock(dim, heads, dropout)
        self.broadcast = PostNormBlock(dim, heads, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x [B, N, d], mask [B, N] -> [B, N, d]
        i_m = self.points.expand(x.shape[0], -1, -1)  # [B, m, d]
        summary = self.summarise(i_m, x, mask.unsqueeze(1))  # [B, m, d], padding never attended
        return self.broadcast(x, summary)  # [B, N, d]


class SelfBlock(nn.Module):
    """MSAB(X) = MAB(X, X)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.mab = PostNormBlock(dim, heads, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.mab(x, x, mask.unsqueeze(1))


@BACKBONES.register("SetRank")
class SetRank(Backbone):
    """Stacked (induced) multi-head self-attention blocks over the candidate set, no positions."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, layers: int = 2, heads: int = 2,
                 inducing: int | None = 20, dropout: float = 0.1):
        super().__init__(sizes, aug_dim)
        self.features = PairFeatures(sizes, dim, aug_dim)
        self.input = nn.Sequential(nn.Linear(self.features.out_dim, dim), nn.ReLU(), nn.Dropout(dropout))
        make = (lambda: InducedBlock(dim, heads, inducing, dropout)) if inducing else (lambda: SelfBlock(dim, heads, dropout))
        self.blocks = nn.ModuleList(make() for _ in range(layers))
        self.out = nn.Sequential(FeedForward(dim, dim, dropout), nn.Linear(dim, 1))

    def item_embedding(self):
        return self.features.items

    def forward(self, batch: Batch) -> torch.Tensor:
        x = self.input(self.features(batch))  # [B, N, d]
        for block in self.blocks:
            x = block(x, batch.cand_mask)
        return self.out(x).squeeze(-1)  # [B, N]
