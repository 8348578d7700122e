"""Text augmentation: the "+BERT" and "+LLM" rows of Tables 2 and 6 (BERT-aug, Llama2-Chat-aug, App. D).

A frozen knowledge source gives one vector per user (encoded preference text, e_u) and one per
item (encoded item text, e_i). For candidate i of user u the augment vector is

    e_aug(u, i) = [W_u e_u ; W_i e_i]          (trainable projections, frozen e_u and e_i)

(``user=False`` keeps only W_i e_i: the item-knowledge-only ablation.)

"+BERT" binds ``source = @knowledge.Metadata()`` (an encoder over the raw metadata text), "+LLM"
binds ``source = @knowledge.LLM()`` (the encoded LLM preference/knowledge texts). The vectors are
kept out of checkpoints (they are a cached, deterministic function of the source).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.augment.base import AUGMENTERS, Augmenter
from ur4rec.knowledge import KnowledgeSource


@AUGMENTERS.register("Text")
class TextAugmenter(Augmenter):
    """[W_u e_u ; W_i e_i] from frozen knowledge vectors (user preference, candidate knowledge)."""

    def __init__(self, data, source: KnowledgeSource, dim: int = 32, dropout: float = 0.1, user: bool = True):
        super().__init__()
        vectors = source.vectors(data)
        vectors.check(data.n_users, data.n_items)
        self.description, self.vectors_key = vectors.description, vectors.key
        self.register_buffer("user_vectors", torch.from_numpy(vectors.user).float(), persistent=False)  # [U, D]
        self.register_buffer("item_vectors", torch.from_numpy(vectors.item).float(), persistent=False)  # [I+1, D]
        self.user_proj = nn.Linear(vectors.dim, dim) if user else None  # W_u; None: item knowledge only
        self.item_proj = nn.Linear(vectors.dim, dim)  # W_i
        self.drop = nn.Dropout(dropout)
        self.dim = 2 * dim if user else dim

    def cache_key(self) -> str:
        return self.vectors_key

    def forward(self, batch, items=None) -> torch.Tensor:
        e_i = self.item_proj(self.item_vectors[batch.cand])  # [B, N, d]
        if self.user_proj is None:
            return self.drop(e_i)
        e_u = self.user_proj(self.user_vectors[batch.user])  # [B, d]
        e_u = e_u.unsqueeze(1).expand_as(e_i)  # [B, N, d]
        return self.drop(torch.cat([e_u, e_i], dim=-1))  # [B, N, 2d]
