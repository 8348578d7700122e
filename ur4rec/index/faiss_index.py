"""An inner-product FAISS index over item knowledge vectors, and the preference-item matching check.

The matching check asks how well the frozen text vectors alone already match users to items: for
each validation sample, search the items nearest the user's preference vector e_u (eq. 5) and score
the target's rank with Recall@N / NDCG@N, beside the random floor. The retriever issue reuses it on
the retriever's outputs (any [S, D] query matrix works). A GPU index is used when FAISS sees a GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (all-zero rows stay zero), so inner products are cosines."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class ItemIndex:
    """Exact inner-product search over item rows 1..n (row 0 is padding and never returned)."""

    def __init__(self, item_vectors: np.ndarray, normalize: bool = True, use_gpu: bool | None = None):
        import faiss

        vecs = np.ascontiguousarray(item_vectors[1:], dtype=np.float32)
        if normalize:  # cosine similarity through the inner product
            vecs = unit_rows(vecs)
        self.normalize = normalize
        self.dim = vecs.shape[1]
        index = faiss.IndexFlatIP(self.dim)
        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        self.on_gpu = bool(gpus > 0 if use_gpu is None else use_gpu and gpus > 0)
        if self.on_gpu:
            index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
        index.add(vecs)
        self.index = index
        self.n_items = vecs.shape[0]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [Q, k], item indices [Q, k] in 1..n_items), best first."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self.normalize:
            q = unit_rows(q)
        scores, ids = self.index.search(q, min(k, self.n_items))
        return scores, ids.astype(np.int64) + 1


@dataclass
class MatchResult:
    n_samples: int
    n_items: int
    metrics: dict  # "Recall@N" / "NDCG@N" -> mean over samples
    floor: dict  # the same metrics for a uniformly random ranking of all items

    def rows(self) -> list[tuple[str, float, float, float]]:
        return [(k, v, self.floor[k], v / self.floor[k] if self.floor[k] else float("nan"))
                for k, v in self.metrics.items()]


def random_floor(n_items: int, cutoffs=(10, 50)) -> dict:
    """Expected Recall@N and NDCG@N when the target's rank is uniform over ``n_items``."""
    out = {}
    for n in cutoffs:
        n_eff = min(n, n_items)
        out[f"Recall@{n}"] = n_eff / n_items
        out[f"NDCG@{n}"] = sum(1 / math.log2(r + 1) for r in range(1, n_eff + 1)) / n_items
    return out


def target_ranks(index: ItemIndex, queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """1-based rank of each target among the top ``k`` results (0 where it is not in the top k)."""
    _, ids = index.search(queries, k)
    hit = ids == np.asarray(targets)[:, None]
    return np.where(hit.any(1), hit.argmax(1) + 1, 0)


def matching_check(data, user_vectors: np.ndarray, item_vectors: np.ndarray, split: str = "valid",
                   cutoffs=(10, 50), use_gpu: bool | None = None) -> MatchResult:
    """Recall@N / NDCG@N of each ``split`` target among all items ranked by similarity to e_u."""
    samples = data.samples(split)
    targets = data.seq_items[data.seq_offsets[samples.user] + samples.pos]
    index = ItemIndex(item_vectors, use_gpu=use_gpu)
    ranks = target_ranks(index, user_vectors[samples.user], targets, max(cutoffs))
    metrics = {}
    for n in cutoffs:
        hit = (ranks > 0) & (ranks <= n)
        metrics[f"Recall@{n}"] = float(hit.mean())
        metrics[f"NDCG@{n}"] = float(np.where(hit, 1 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0).mean())
    return MatchResult(len(samples), data.n_items, metrics, random_floor(data.n_items, cutoffs))
