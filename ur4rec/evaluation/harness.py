"""Run any ranker over a split's fixed candidate sets and keep per-sample metric values."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ur4rec.data.prepared import PreparedDataset
from ur4rec.evaluation.metrics import per_sample, pessimistic_rank

USER_KEY = "_user"  # beside the metric arrays in a *_per_sample.npz; no metric name starts with "_"


@dataclass
class EvalResult:
    ranker: str
    split: str
    values: dict[str, np.ndarray]  # metric -> [S] per-sample values
    n_samples: int
    users: np.ndarray | None = None  # [S] the user of each sample (for the test over users)

    def means(self) -> dict[str, float]:
        return {k: float(v.mean()) for k, v in self.values.items()}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {} if self.users is None else {USER_KEY: self.users}
        np.savez_compressed(path, **self.values, **extra)


def evaluate(ranker, data: PreparedDataset, split: str, batch_size: int = 512, progress=None) -> EvalResult:
    """Score every sample of ``split`` in batches; ``progress(n_done)`` is called after each batch."""
    samples = data.samples(split)
    ranks = np.empty(len(samples), dtype=np.int64)
    for start in range(0, len(samples), batch_size):
        idx = np.arange(start, min(start + batch_size, len(samples)))
        batch = samples.subset(idx)
        scores = np.asarray(ranker.score(data, batch))
        if scores.shape != batch.candidates.shape:
            raise ValueError(f"{ranker.name}.score returned shape {scores.shape}, expected {batch.candidates.shape}")
        ranks[idx] = pessimistic_rank(scores, batch.label)
        if progress:
            progress(len(idx))
    return EvalResult(ranker.name, split, per_sample(ranks), len(samples), np.asarray(samples.user))
