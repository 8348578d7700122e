"""The ``rankers`` registry and the contract every ranker (baseline or trained model) follows."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ur4rec.data.prepared import PreparedDataset, Samples
from ur4rec.registry import registry


class Ranker:
    """Fit on the training split, then score a batch of candidate lists: ``score`` returns [B, N]."""

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__dict__.get("registry_name", type(self).__name__)

    def fit(self, data: PreparedDataset, run_dir: Path | None = None, seed: int = 0, console=None) -> None:
        """Train on ``data``'s training targets (and select on validation); a no-op for fixed scorers."""

    def score(self, data: PreparedDataset, batch: Samples) -> np.ndarray:
        raise NotImplementedError


RANKERS = registry("rankers", Ranker)
