"""``augmenters.UR4Rec``: the retriever's filtered preference as each candidate's augment vector (eq. 9).

    Z      = [e_u; e_{h_1}; ...; e_{h_m}]                         eq. 5, per sample (see below)
    h'_i   = W_h h_i                                              backbone item representation -> retriever width
    path c (default, section 3.3):  (O_P, O_1..O_N) = Retriever([P; h'_1..h'_N], Z), mask (c)
                                    e_aug_i = mean(O_P, O_i)      ('item': O_i alone)
    path b (eq. 8-9):               e_aug_i = mean over the proxy positions of Retriever([P; h'_i], Z)

``candidate_knowledge=True`` (not in the paper, off by default) adds the candidate's own knowledge
vector to its query, h'_i = W_h h_i + W_e e_i: the paper's query carries only the backbone's ID
representation, so the candidate's LLM text, which is what +LLM feeds the backbone, never reaches it.
``backbone_query=False`` (with candidate_knowledge) drops W_h h_i: the query is W_e e_i alone, so the
retriever can only match knowledge with knowledge and cannot relearn the backbone's ID signal.

``match_score`` (not in the paper, off by default) adds a score term to the backbone's scores,
r_i += s * sim(u, i), with s learned (starting at ``match_scale``, 1/tau of the default InfoNCE):
'pretrained' is sim() of L_CL exactly as pre-training trained it (eq. 6-7: max over proxies of the cosine
between Retriever(P, Z) and Retriever(h'_i)), so the pre-trained match ranks the candidates from the first
joint step (it costs a preference pass and an item pass more); 'joint' is the same max-cosine between the
joint pass's proxy outputs and item i's output (no extra pass; path b: item i's own pass). In the paper the
preference reaches the score only through e_aug and the backbone, an indirect path that failed the oracle
control; the term narrows that gap without closing it (benchmarks/results/ur4rec_match_ml-100k_prm_seed0.md).

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
MATCH_SCORES = (None, "pretrained", "joint")


@AUGMENTERS.register("UR4Rec")
class UR4RecAugmenter(Augmenter):
    """Retriever over the LLM knowledge Z, queried by each candidate's backbone representation h_i."""

    def __init__(self, data, source: KnowledgeSource, retriever=None, path: str = "joint", aggregate: str = "mean",
                 z_history: int = 10, user_vector: str = "prefix-safe", dropout: float = 0.1,
                 candidate_knowledge: bool = False, backbone_query: bool = True, match_score: str | None = None,
                 match_scale: float = 10.0):
        super().__init__()
        if path not in ("joint", "match"):
            raise ValueError(f"augmenters.UR4Rec.path must be 'joint' (mask c) or 'match' (mask b), not {path!r}")
        if aggregate not in ("mean", "item"):
            raise ValueError(f"augmenters.UR4Rec.aggregate must be 'mean' or 'item', not {aggregate!r}")
        if user_vector not in USER_VECTOR_POLICIES:
            raise ValueError(f"augmenters.UR4Rec.user_vector must be one of {USER_VECTOR_POLICIES}, not {user_vector!r}")
        if match_score not in MATCH_SCORES:
            raise ValueError(f"augmenters.UR4Rec.match_score must be one of {MATCH_SCORES}, not {match_score!r}")
        if match_score is not None and retriever is None:
            raise ValueError("augmenters.UR4Rec.match_score needs a retriever (it is None: the 'w/o Retr' row)")
        if not backbone_query and not (candidate_knowledge and retriever is not None):
            raise ValueError("augmenters.UR4Rec.backbone_query=False leaves the retriever no query: "
                             "set candidate_knowledge=True (and keep a retriever)")
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
        self.backbone_query = backbone_query
        use_knowledge = candidate_knowledge and self.retriever is not None
        self.knowledge_proj = nn.Linear(vectors.dim, self.dim) if use_knowledge else None  # W_e
        self.match_head = nn.Linear(self.dim, 1) if self.retriever is not None else None  # PIM's Linear (eq. 8)
        self.drop = Dropout(dropout)
        self.match_score = match_score
        self.match_scale = nn.Parameter(torch.tensor(float(match_scale))) if match_score is not None else None
        if match_score is not None and self.retriever.n_proxies == 0:
            raise ValueError("augmenters.UR4Rec.match_score compares proxies with items; this retriever has K = 0")
        how = "w/o Retr" if self.retriever is None else (
            f"retriever {self.retriever.n_layers} layers, K={self.retriever.n_proxies}, path {path}, "
            f"{self.retriever.init_description}")
        if use_knowledge:
            how += ", query + candidate knowledge" if backbone_query else ", query = candidate knowledge only"
        if match_score is not None:
            how += f", + {match_score} match score"
        self.description = f"UR4Rec ({how}; Z = e_u ({user_vector}) + {z_history} history items) over {vectors.description}"

    def attach(self, backbone) -> None:
        if self.retriever is not None and self.backbone_query:
            self.item_proj = nn.Linear(backbone.item_dim, self.dim)

    def query(self, ids: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """h'_i [..., d] for item ids [...] with backbone representations items [..., item_dim]."""
        if self.item_proj is None:
            return self.knowledge_proj(self.item_vectors[ids])
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

    # ---- joint training: e_aug per candidate (and the optional match score) --------------------
    def forward(self, batch, items: torch.Tensor) -> torch.Tensor:
        return self.augment(batch, items)[0]

    def augment(self, batch, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z, z_mask = self.z(batch)
        if self.retriever is None:  # w/o Retr
            pooled = masked_mean(z, z_mask).unsqueeze(1).expand(-1, batch.cand.shape[1], -1)  # [B, N, D]
            return self.drop(self.direct(torch.cat([pooled, self.item_vectors[batch.cand]], dim=-1))), None
        h = self.query(batch.cand, items)  # [B, N, d]
        sim = None
        if self.path == "match":
            out = self.retriever.match(h, z, z_mask)  # [B, N, K+1, d]
            e_aug = self._proxy_average(out)
            if self.match_score == "joint":
                sim = self._match_sim(out)
        else:
            proxies, own = self.retriever.joint(h, batch.cand_mask, z, z_mask)  # [B, K, d], [B, N, d]
            e_aug = self._joint_aggregate(proxies, own)
            if self.match_score == "joint":
                sim = max_cosine(proxies, own)
        if self.match_score == "pretrained":
            sim = max_cosine(self.retriever.preference(z, z_mask), self.retriever.items(h))
        bias = None if self.match_score is None else self.match_scale * sim
        return self.drop(e_aug), bias

    def _joint_aggregate(self, proxies: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        if self.aggregate == "item" or proxies.shape[1] == 0:
            return own
        k = proxies.shape[1]
        return (proxies.sum(1, keepdim=True) + own) / (k + 1)  # mean over the K proxies and the item

    @staticmethod
    def _match_sim(out: torch.Tensor) -> torch.Tensor:
        # out [B, M, K+1, d] -> [B, M]: the best proxy's cosine with the item's own position
        k = out.shape[2] - 1
        b, m, _, d = out.shape
        return max_cosine(out[:, :, :k].reshape(b * m, k, d), out[:, :, k:].reshape(b * m, 1, d)).view(b, m)

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
