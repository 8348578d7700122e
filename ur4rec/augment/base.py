"""The ``augmenters`` registry and contract: ``forward(batch) -> [B, N, dim]``, one vector per candidate.

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
    """Maps a Batch to e_aug, [B, N, dim]; ``dim`` and ``description`` are set by the subclass."""

    dim: int = 0
    description: str = ""

    def forward(self, batch) -> torch.Tensor:
        raise NotImplementedError


AUGMENTERS = registry("augmenters", Augmenter)
