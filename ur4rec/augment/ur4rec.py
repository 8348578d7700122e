"""``augmenters.UR4Rec``: the retriever's filtered preference as each candidate's augment vector (eq. 9).

    Z      = [e_u; e_{h_1}; ...; e_{h_m}]                         eq. 5, per sample (see below)
    h'_i   = W_h h_i                                              backbone item representation -> retriever width
    path c (default, section 3.3):  (O_P, O_1..O_N) = Retriever([P; h'_1..h'_N], Z), mask (c)
                                    e_aug_i = mean(O_P, O_i)      ('item': O_i alone)
    path b (eq. 8-9):               e_aug_i = mean over the proxy positions of Retriever([P; h'_i], Z)

``candidate_knowledge=True`` (not in the paper, off by default) adds the candidate's own knowledge
vector to its query, h'_i = W_h h_i + W_e e_i: the paper's query carries only the backbone's ID
representation, so the candidate's LLM text, which is what +LLM feeds the backbone, never reaches it.

The same module serves pre-training: ``contrastive_scores`` (eq. 6-7, for InfoNCE) and
``matching_scores`` (eq. 8, for PIM). ``retriever = None`` is the "w/o Retr" row: e_aug_i =
W [mean(Z); e_i], the LLM vectors go to the backbone with no retriever in between.

Leakage: Z's history part is the item-knowledge vectors of the L interactions before the target
(item texts depend on metadata only). The user vector e_u is written from the user's training
interactions, so for a training target it describes the target and later items. ``user_vector``:
'prefix-safe' (default) masks e_u out of Z for every sample whose target lies inside the span its
text was written from (pos < cutoff), i.e. all training targets, and keeps it for validation/test;
'never' drops it everywhere; 'always' keeps it (leaks; for measuring what the leak is worth).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.augment.base import AUGMENTERS, Augmenter
from ur4rec.backbones.layers import masked_mean
from ur4rec.knowledge import KnowledgeSource
from ur4rec.losses.pretrain import max_cosine
from ur4rec.modules.dropout import Dropout

USER_VECTOR_POLICIES = ("prefix-safe", "never", "always")


@AUGMENTERS.register("UR4Rec")
class UR4RecAugmenter(Augmenter):
    """Retriever over the LLM knowledge Z, queried by each candidate's backbone representation h_i."""

    def __init__(self, data, source: KnowledgeSource, retriever=None, path: str = "joint", aggregate: str = "mean",
                 z_history: int = 10, user_vector: str = "prefix-safe", dropout: float = 0.1,
                 candidate_knowledge: bool = False):
        super().__init__()
        if path not in ("joint", "match"):
            raise ValueError(f"augmenters.UR4Rec.path must be 'joint' (mask c) or 'match' (mask b), not {path!r}")
        if aggregate not in ("mean", "item"):
            raise ValueError(f"augmenters.UR4Rec.aggregate must be 'mean' or 'item', not {aggregate!r}")
        if user_vector not in USER_VECTOR_POLICIES:
            raise ValueError(f"augmenters.UR4Rec.user_vector must be one of {USER_VECTOR_POLICIES}, not {user_vector!r}")
        if z_history < 0:
            raise ValueError(f"augmenters.UR4Rec.z_history must be >= 0, not {z_history}")
        vectors = source.vectors(data)
        vectors.check(data.n_users, data.n_items)
        self.vectors_key = vectors.key
        self.register_buffer("user_vectors", torch.from_numpy(vectors.user).float(), persistent=False)  # [U, D]
        self.register_buffer("item_vectors", torch.from_numpy(vectors.item).float(), persistent=False)  # [I+1, D]
        cutoff = vectors.user_cutoff
        cutoff = torch.zeros(data.n_users, dtype=torch.long) if cutoff is None else torch.from_numpy(cutoff).long()
        self.register_buffer("user_cutoff", cutoff, persistent=False)  # [U]
        self.path, self.aggregate, self.z_history, self.user_vector = path, aggregate, z_history, user_vector
        self.retriever = retriever(z_dim=vectors.dim) if retriever is not None else None
        self.dim = self.retriever.dim if self.retriever is not None else vectors.dim
        self.direct = None if self.retriever is not None else nn.Linear(2 * vectors.dim, self.dim)
        self.item_proj = None  # W_h, sized by attach() once the backbone's item width is known
        use_knowledge = candidate_knowledge and self.retriever is not None
        self.knowledge_proj = nn.Linear(vectors.dim, self.dim) if use_knowledge else None  # W_e
        self.match_head = nn.Linear(self.dim, 1) if self.retriever is not None else None  # PIM's Linear (eq. 8)
        self.drop = Dropout(dropout)
        how = "w/o Retr" if self.retriever is None else (
            f"retriever {self.retriever.n_layers} layers, K={self.retriever.n_proxies}, path {path}, "
            f"{self.retriever.init_description}")
        if use_knowledge:
            how += ", query + candidate knowledge"
        self.description = f"UR4Rec ({how}; Z = e_u ({user_vector}) + {z_history} history items) over {vectors.description}"

    def attach(self, backbone) -> None:
        if self.retriever is not None:
            self.item_proj = nn.Linear(backbone.item_dim, self.dim)

    def query(self, ids: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """h'_i [..., d] for item ids [...] with backbone representations items [..., item_dim]."""
        h = self.item_proj(items)
        if self.knowledge_proj is not None:
            h = h + self.knowledge_proj(self.item_vectors[ids])
        return h

    def cache_key(self) -> str:
        return self.vectors_key

    # ---- Z = e_u^aggr (eq. 5) ----------------------------------------------------------------
    def user_visible(self, batch) -> torch.Tensor:
        """[B] bool: may e_u enter this sample's Z without describing the target or later items?"""
        if self.user_vector == "always":
            return torch.ones_like(batch.user, dtype=torch.bool)
        if self.user_vector == "never" or batch.pos is None:
            return torch.zeros_like(batch.user, dtype=torch.bool)
        return batch.pos >= self.user_cutoff[batch.user]

    def z(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(Z [B, 1+m, D], mask [B, 1+m]): e_u then the knowledge of the m most recent history items."""
        hist = batch.hist[:, batch.hist.shape[1] - self.z_history:] if self.z_history else batch.hist[:, :0]
        z = torch.cat([self.user_vectors[batch.user].unsqueeze(1), self.item_vectors[hist]], dim=1)
        mask = torch.cat([self.user_visible(batch).unsqueeze(1), hist > 0], dim=1)
        empty = ~mask.any(1)  # keep one (zero) key so attention never divides by an empty row
        z = z.masked_fill((~mask).unsqueeze(-1), 0.0)
        mask = mask.clone()
        mask[empty, 0] = True
        return z, mask

    # ---- joint training: e_aug per candidate ---------------------------------------------------
    def forward(self, batch, items: torch.Tensor) -> torch.Tensor:
        z, z_mask = self.z(batch)
        if self.retriever is None:  # w/o Retr
            pooled = masked_mean(z, z_mask).unsqueeze(1).expand(-1, batch.cand.shape[1], -1)  # [B, N, D]
            return self.drop(self.direct(torch.cat([pooled, self.item_vectors[batch.cand]], dim=-1)))
        h = self.query(batch.cand, items)  # [B, N, d]
        if self.path == "match":
            return self.drop(self._proxy_average(self.retriever.match(h, z, z_mask)))
        proxies, own = self.retriever.joint(h, batch.cand_mask, z, z_mask)  # [B, K, d], [B, N, d]
        if self.aggregate == "item" or proxies.shape[1] == 0:
            return self.drop(own)
        k = proxies.shape[1]
        return self.drop((proxies.sum(1, keepdim=True) + own) / (k + 1))  # mean over the K proxies and the item

    @staticmethod
    def _proxy_average(out: torch.Tensor) -> torch.Tensor:
        # out [B, M, K+1, d]: the proxies' positions, or the item's own when there are no proxies (w/o proxy)
        k = out.shape[2] - 1
        return out[:, :, :k].mean(2) if k > 0 else out[:, :, k]

    # ---- pre-training scores (section 3.2) ------------------------------------------------------
    def contrastive_scores(self, batch, items: torch.Tensor) -> torch.Tensor:
        """Eq. 6-7: max-over-proxies cosine between Retriever(P, Z) and Retriever(h_i) -> [B, M]."""
        z, z_mask = self.z(batch)
        pref = self.retriever.preference(z, z_mask)  # [B, K, d]
        return max_cosine(pref, self.retriever.items(self.query(batch.cand, items)))

    def matching_scores(self, batch, items: torch.Tensor) -> torch.Tensor:
        """Eq. 8: Linear(avg of proxy outputs of Retriever([P; h_i], Z)) -> logits [B, M]."""
        z, z_mask = self.z(batch)
        out = self.retriever.match(self.query(batch.cand, items), z, z_mask)  # [B, M, K+1, d]
        return self.match_head(self._proxy_average(out)).squeeze(-1)
