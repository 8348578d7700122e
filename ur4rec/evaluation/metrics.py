"""Single-positive ranking metrics with pessimistic ties (DESIGN section 5).

With the positive at 1-based rank r among N candidates: MAP@K = 1/r if r <= K else 0 (one relevant
item, so average precision is the reciprocal rank), NDCG@K = 1/log2(r+1) if r <= K else 0,
HR@K = [r <= K], MRR = 1/r. A candidate tied with the positive counts as ranked above it, so a
constant scorer gets rank N, never rank 1.
"""
from __future__ import annotations

import numpy as np

CUTOFFS = (1, 5, 10, 20)


def metric_names(cutoffs=CUTOFFS) -> list[str]:
    return [f"{m}@{k}" for m in ("MAP", "NDCG", "HR") for k in cutoffs] + ["MRR"]


def pessimistic_rank(scores: np.ndarray, label: np.ndarray) -> np.ndarray:
    """[S] 1-based rank of the positive; ties rank the positive below every tied candidate."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; a ranker must return finite scores")
    pos = scores[np.arange(len(label)), label][:, None]
    return (scores >= pos).sum(axis=1)  # counts the positive itself once


def per_sample(rank: np.ndarray, cutoffs=CUTOFFS) -> dict[str, np.ndarray]:
    rank = np.asarray(rank, dtype=np.float64)
    out = {}
    for k in cutoffs:
        hit = rank <= k
        out[f"MAP@{k}"] = np.where(hit, 1.0 / rank, 0.0)
        out[f"NDCG@{k}"] = np.where(hit, 1.0 / np.log2(rank + 1.0), 0.0)
        out[f"HR@{k}"] = hit.astype(np.float64)
    out["MRR"] = 1.0 / rank
    return {name: out[name] for name in metric_names(cutoffs)}


def random_floor(n_candidates: int, cutoffs=CUTOFFS) -> dict[str, float]:
    """Expected metrics of a scorer that ranks the positive uniformly at random among N."""
    ranks = np.arange(1, n_candidates + 1, dtype=np.float64)
    values = per_sample(ranks, cutoffs)
    return {name: float(v.mean()) for name, v in values.items()}
