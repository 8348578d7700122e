"""GRU4Rec (Hidasi et al., ICLR 2016): a GRU reads the user's history; candidates are scored by a match.

    s_u = GRU(e(h_1), ..., e(h_L))[last]        session/user state after the most recent item
    r_i = s_u . c_i,  c_i = W [e(i); e_aug(i)]  dot product with each candidate's (augmented) embedding

The history window is L = 150 (paper section 4.4). The item table is shared between input and
output (tied embeddings); the augment vector is concatenated to the candidate's embedding only
(section 3.3). Left padding of the window never enters the GRU state (sequences are packed).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, CandidateInput, ItemEmbedding, Sizes
from ur4rec.backbones.layers import gru_final_states, left_to_right_padded


@BACKBONES.register("GRU4Rec")
class GRU4Rec(Backbone):
    """GRU over the history window; score = dot(final state, candidate embedding)."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, layers: int = 1, dropout: float = 0.2):
        super().__init__(sizes, aug_dim)
        self.items = ItemEmbedding(sizes, dim)
        self.cand_in = CandidateInput(dim, aug_dim)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, dim, num_layers=layers, batch_first=True)
        self.out = nn.Linear(dim, dim)

    def user_state(self, batch: Batch) -> torch.Tensor:
        hist = self.drop(self.items(batch.hist, batch.hist_attrs))  # [B, L, d]
        hist, lengths = left_to_right_padded(hist, batch.hist_mask)  # real steps first
        _, s_u = gru_final_states(self.gru, hist, lengths)  # [B, d]
        return self.out(s_u)

    def item_embedding(self):
        return self.items

    def forward(self, batch: Batch) -> torch.Tensor:
        s_u = self.user_state(batch)  # [B, d]
        c = self.cand_in(self.items(batch.cand, batch.cand_attrs), batch.augment)  # [B, N, d]
        return torch.einsum("bd,bnd->bn", s_u, c)  # [B, N]
