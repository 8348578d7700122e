"""SASRec (Kang and McAuley, ICDM 2018): causal self-attention over the history; match with candidates.

    E   = e(h_t) * sqrt(d) + P_t                 item embedding + learned position embedding
    F^b = FFN(LN(A)) + A,  A = Attn(LN(F^{b-1}), F^{b-1}) + F^{b-1}   causal: step t sees steps <= t
    r_i = LN(F^B)_{last} . c_i,  c_i = W [e(i); e_aug(i)]

History window L = 150 (section 4.4). Positions count back from the most recent item (P_0 = the
last step), so a window's left padding never shifts them; padded steps are masked as keys (each
step may always see itself, which keeps an all-padding prefix free of NaN). The augment vector is
concatenated to the candidate's embedding only (section 3.3); item embeddings are tied.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, CandidateInput, ItemEmbedding, Sizes
from ur4rec.modules.attention import FeedForward, MultiHeadAttention


class CausalBlock(nn.Module):
    """SASRec's pre-norm block: A = Attn(LN(X), X) + X; out = FFN(LN(A)) + A."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, dropout)
        self.ffn = FeedForward(dim, dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = x + self.drop(self.attn(self.norm1(x), x, mask))
        return a + self.drop(self.ffn(self.norm2(a)))


def causal_mask(hist_mask: torch.Tensor) -> torch.Tensor:
    """[B, L] real-step mask -> [B, L, L]: query t may see key s iff s <= t and (s is real or s == t)."""
    length = hist_mask.shape[1]
    lower = torch.ones(length, length, dtype=torch.bool, device=hist_mask.device).tril()  # [L, L]
    eye = torch.eye(length, dtype=torch.bool, device=hist_mask.device)
    return lower & (hist_mask.unsqueeze(1) | eye)  # [B, L, L]


@BACKBONES.register("SASRec")
class SASRec(Backbone):
    """Causal self-attention over the history window; score = dot(last output, candidate embedding)."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, layers: int = 2, heads: int = 1,
                 dropout: float = 0.2, max_len: int = 512):
        super().__init__(sizes, aug_dim)
        self.dim = dim
        self.items = ItemEmbedding(sizes, dim)
        self.cand_in = CandidateInput(dim, aug_dim)
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def encode(self, batch: Batch) -> torch.Tensor:
        """[B, L, d]: output at every history step (step t depends on steps <= t only)."""
        length = batch.hist.shape[1]
        recency = torch.arange(length - 1, -1, -1, device=batch.hist.device)  # [L]: L-1 ... 0
        x = self.items(batch.hist, batch.hist_attrs) * math.sqrt(self.dim) + self.positions(recency)  # [B, L, d]
        x = self.drop(x) * batch.hist_mask.unsqueeze(-1)  # padded steps carry nothing
        mask = causal_mask(batch.hist_mask)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def item_embedding(self):
        return self.items

    def forward(self, batch: Batch) -> torch.Tensor:
        f = self.encode(batch)[:, -1]  # [B, d]: the most recent step (windows are left-padded)
        c = self.cand_in(self.items(batch.cand, batch.cand_attrs), batch.augment)  # [B, N, d]
        return torch.einsum("bd,bnd->bn", f, c)  # [B, N]
