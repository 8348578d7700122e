"""Non-learned reference rankers: the random floor and training-set popularity."""
from __future__ import annotations

import numpy as np

from ur4rec.data.prepared import PreparedDataset, Samples
from ur4rec.rankers.base import RANKERS, Ranker


@RANKERS.register("Random")
class RandomRanker(Ranker):
    """Uniform random scores (seeded): the empirical random floor."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.rng = np.random.default_rng(0)

    def fit(self, data, run_dir=None, seed: int = 0, console=None) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, data: PreparedDataset, batch: Samples) -> np.ndarray:
        return self.rng.random(batch.candidates.shape)


@RANKERS.register("Popularity")
class PopularityRanker(Ranker):
    """Scores an item by its number of training interactions (no validation/test leakage)."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.counts: np.ndarray | None = None

    def fit(self, data: PreparedDataset, run_dir=None, seed: int = 0, console=None) -> None:
        self.counts = data.popularity().astype(np.float64)

    def score(self, data: PreparedDataset, batch: Samples) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("Popularity.score called before fit")
        return self.counts[batch.candidates]
