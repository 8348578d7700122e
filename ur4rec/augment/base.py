"""The ``augmenters`` registry and contract: ``forward(batch, items) -> [B, N, dim]``, one vector per candidate.

``augment(batch, items) -> (e_aug, bias)`` is what the reranker calls: ``bias`` ([B, N] or None) is added
to the backbone's scores. Only UR4Rec's optional match-score term uses it; every other augmenter
inherits the default, ``(forward(...), None)``.

``items`` is the backbone's representation h_i of every candidate ([B, N, item_dim], from
``Backbone.embed_items``); augmenters that only read frozen knowledge ignore it, the UR4Rec
retriever queries the LLM knowledge with it (eq. 8-9). After the backbone is built (it needs
``dim`` first), ``attach(backbone)`` lets an augmenter size the layers that read h_i.

An augmenter is built by the trainer with the prepared dataset (``Text(data, **gin_bindings)``),
so gin files pass the class without parentheses: ``rankers.Neural.augmenter = @augmenters.Text``.
The Base row of Table 2 is ``rankers.Neural.augmenter = None``: no augmenter, no augment input.
Its parameters train jointly with the backbone (eq. 9, L_train = L_RS).
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.registry import registry


class Augmenter(nn.Module):
    """Maps a Batch (and the candidates' h_i) to e_aug, [B, N, dim]; ``dim`` and ``description`` are set by the subclass."""

    dim: int = 0
    description: str = ""

    def attach(self, backbone) -> None:
        """Called once the backbone exists; nothing to do for augmenters that ignore h_i."""

    def cache_key(self) -> str:
        """A key of the frozen inputs this augmenter reads (knowledge vectors); part of every run fingerprint."""
        return ""

    def forward(self, batch, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def augment(self, batch, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(e_aug [B, N, dim], score bias [B, N] or None); the default has no score term."""
        return self(batch, items), None


AUGMENTERS = registry("augmenters", Augmenter)
