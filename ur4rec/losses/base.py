"""The ``losses`` registry and its contract: ``loss(scores [B, N], label [B], mask [B, N]) -> scalar``."""
from __future__ import annotations

import torch

from ur4rec.registry import registry


class Loss:
    """A differentiable objective over scored candidate lists; one positive per list at ``label``."""

    def __call__(self, scores: torch.Tensor, label: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


LOSSES = registry("losses", Loss)
