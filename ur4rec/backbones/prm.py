"""PRM (Pei et al., RecSys 2019): a Transformer over the initial list with a personalised vector.

    E'_i = [x_i ; pv_i] + pe_i            input: item feature, personalised vector, position embedding
    E    = W_E E' + b_E
    F    = Transformer^{N_x}(E)           self-attention across the whole candidate list
    s_i  = W_o F_i + b_o                  (the softmax over the list is the listwise loss)

The positions pe_i are those of the *initial list*; PRM reranks the output of an initial ranker,
which here is item popularity in the training data (``Batch.init_rank``, 0 = most popular).
PRM's pv_i is a pre-trained model's (user, item) hidden vector; here it is learned end to end:
pv_i = ReLU(W_pv x_ui) from the (user, candidate) features of ``PairFeatures`` (history window
L = 10). x_i is the candidate's embedding with the augment vector concatenated (section 3.3).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, Sizes
from ur4rec.backbones.layers import PairFeatures, PostNormBlock


@BACKBONES.register("PRM")
class PRM(Backbone):
    """Transformer encoder over the candidates, with personalised vectors and initial-order positions."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, layers: int = 2, heads: int = 2,
                 dropout: float = 0.1, max_list: int = 512):
        super().__init__(sizes, aug_dim)
        self.features = PairFeatures(sizes, dim, aug_dim)
        self.pv = nn.Sequential(nn.Linear(self.features.out_dim, dim), nn.ReLU())
        self.positions = nn.Embedding(max_list, 2 * dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.input = nn.Linear(2 * dim, dim)  # W_E, b_E
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(PostNormBlock(dim, heads, dropout) for _ in range(layers))
        self.out = nn.Linear(dim, 1)  # W_o, b_o

    def item_embedding(self):
        return self.features.items

    def forward(self, batch: Batch) -> torch.Tensor:
        x_ui = self.features(batch)  # [B, N, 3d]; its first d columns are the candidate x_i
        x_i = x_ui[..., : x_ui.shape[-1] // 3]  # [B, N, d]
        e = torch.cat([x_i, self.pv(x_ui)], dim=-1) + self.positions(batch.init_rank)  # [B, N, 2d]
        h = self.drop(self.input(e))  # [B, N, d]
        keys = batch.cand_mask.unsqueeze(1)  # [B, 1, N]: padding is never attended to
        for block in self.blocks:
            h = block(h, mask=keys)
        return self.out(h).squeeze(-1)  # [B, N]
