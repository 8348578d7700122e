"""DLCM (Ai et al., SIGIR 2018): a GRU reads the initial list, a local ranking function rescores it.

DLCM refines the top results of an initial ranker: the entries are fed to a GRU in *reverse*
initial order (so the best-ranked entries are read last and weigh most on the final state s_n,
the "local ranking context"), and each entry is scored from its GRU output o_i and s_n:

    z_i = elu(W_z x_i + b_z)                       input representation
    o_i, s_n = GRU(z_{n}, ..., z_{1})              reverse initial order
    phi(o_i, s_n) = V . (o_i * tanh(W_phi s_n + b_phi))

Initial ranker here: item popularity in the training data (``Batch.init_rank``), the usual choice
when none is given. x_i is the (user, candidate) feature vector of ``PairFeatures`` (plus the
augment vector, section 3.3), built from a history window of L = 10 items.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, Sizes
from ur4rec.backbones.layers import PairFeatures, gru_final_states


@BACKBONES.register("DLCM")
class DLCM(Backbone):
    """GRU over the candidates in reverse initial (popularity) order + local ranking function."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, hidden: int = 64, dropout: float = 0.1):
        super().__init__(sizes, aug_dim)
        self.features = PairFeatures(sizes, dim, aug_dim)
        self.input = nn.Linear(self.features.out_dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.context = nn.Linear(hidden, hidden)  # W_phi, b_phi
        self.v = nn.Linear(hidden, 1, bias=False)  # V

    def item_embedding(self):
        return self.features.items

    def forward(self, batch: Batch) -> torch.Tensor:
        z = self.drop(F.elu(self.input(self.features(batch))))  # [B, N, h]
        # reverse initial order: worst real candidate first, best last, padding after them all
        n = batch.cand.shape[1]
        read_rank = torch.where(batch.cand_mask, batch.cand_mask.sum(1, keepdim=True) - 1 - batch.init_rank,
                                n + batch.init_rank)  # [B, N]
        order = read_rank.argsort(dim=1)  # [B, N] column read at step t
        z_seq = torch.gather(z, 1, order.unsqueeze(-1).expand_as(z))  # [B, N, h]
        o_seq, s_n = gru_final_states(self.gru, z_seq, batch.cand_mask.sum(1))  # [B, N, h], [B, h]
        o = torch.empty_like(o_seq).scatter_(1, order.unsqueeze(-1).expand_as(o_seq), o_seq)  # back to columns
        local = torch.tanh(self.context(s_n)).unsqueeze(1)  # [B, 1, h]
        return self.v(o * local).squeeze(-1)  # [B, N]
