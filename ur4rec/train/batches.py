"""Turn (user, target position, candidate list) rows of a prepared dataset into backbone ``Batch``es.

Training rows are every training target with at least one earlier interaction; each epoch re-draws
their negatives (seeded by (seed, epoch)) so that candidate lists look like the fixed evaluation
lists: the target plus n - 1 items the user never interacted with, positions shuffled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ur4rec.backbones.base import Batch, Sizes
from ur4rec.data.prepared import PreparedDataset
from ur4rec.data.sampling import NegativeSampler


def sizes_of(data: PreparedDataset) -> Sizes:
    return Sizes(n_users=data.n_users, n_items=data.n_items, n_attrs=len(data.attr_vocab))


def popularity_rank(popularity: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[S, N] rank of each candidate in the initial list: most popular first (0), ties by column, padding last."""
    key = np.where(candidates > 0, -popularity[candidates].astype(np.float64), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(candidates.shape[1])[None, :].repeat(len(candidates), 0), axis=1)
    return rank


class BatchMaker:
    """Gathers history windows, attribute ids and initial ranks for rows of (user, pos, candidates)."""

    def __init__(self, data: PreparedDataset, history_len: int, device: torch.device | str = "cpu"):
        self.data, self.history_len, self.device = data, history_len, torch.device(device)
        self.attrs = torch.from_numpy(data.item_attrs.astype(np.int64))  # [n_items + 1, A]
        self.popularity = data.popularity()

    def __call__(self, users: np.ndarray, pos: np.ndarray, candidates: np.ndarray,
                 label: np.ndarray | None = None) -> Batch:
        hist = torch.from_numpy(self.data.histories(users, pos, self.history_len))  # [B, L]
        cand = torch.from_numpy(np.asarray(candidates, dtype=np.int64))  # [B, N]
        batch = Batch(
            user=torch.from_numpy(np.asarray(users, dtype=np.int64)),
            hist=hist, hist_attrs=self.attrs[hist],
            cand=cand, cand_attrs=self.attrs[cand],
            init_rank=torch.from_numpy(popularity_rank(self.popularity, np.asarray(candidates))),
            label=None if label is None else torch.from_numpy(np.asarray(label, dtype=np.int64)),
            pos=torch.from_numpy(np.asarray(pos, dtype=np.int64)),
        )
        return batch if self.device.type == "cpu" else batch.to(self.device)


@dataclass
class TrainRows:
    users: np.ndarray  # [S]
    pos: np.ndarray  # [S]
    candidates: np.ndarray  # [S, N]
    label: np.ndarray  # [S]

    def __len__(self) -> int:
        return len(self.users)


class TrainingRows:
    """One epoch's shuffled training rows with freshly drawn negatives, optionally capped in number."""

    def __init__(self, data: PreparedDataset, min_history: int = 1):
        self.data = data
        self.users, self.pos = data.train_targets(min_history=min_history)
        self.targets = data.seq_items[data.seq_offsets[self.users] + self.pos]
        all_users = np.repeat(np.arange(data.n_users), data.seq_len())
        self.sampler = NegativeSampler(all_users, data.seq_items, data.n_items)

    def __len__(self) -> int:
        return len(self.users)

    def epoch(self, seed: int, epoch: int, n_candidates: int, cap: int | None = None) -> TrainRows:
        rng = np.random.default_rng([seed, epoch])
        idx = rng.permutation(len(self.users))
        if cap is not None and cap < len(idx):
            idx = idx[:cap]  # a fresh random subset every epoch
        cand, label = self.sampler.candidates(rng, self.users[idx], self.targets[idx], n_candidates)
        return TrainRows(self.users[idx], self.pos[idx], cand, label)
