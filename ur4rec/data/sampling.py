"""Seeded candidate sampling: negatives drawn uniformly from items a user never interacted with."""
from __future__ import annotations

import numpy as np


class NegativeSampler:
    """Draws distinct negatives per row, never among the user's items (in any split)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int):
        self.n_items = n_items
        self.forbidden = np.unique(users.astype(np.int64) * (n_items + 1) + items.astype(np.int64))

    def seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """[S, n] bool: did user ``users[s]`` interact with ``items[s, j]`` (in any split)?"""
        keys = users[:, None] * (self.n_items + 1) + items
        hit = np.minimum(np.searchsorted(self.forbidden, keys), len(self.forbidden) - 1)
        return self.forbidden[hit] == keys

    def _invalid(self, users: np.ndarray, cand: np.ndarray) -> np.ndarray:
        seen = self.seen(users, cand)
        order = np.argsort(cand, axis=1, kind="stable")
        ordered = np.take_along_axis(cand, order, axis=1)
        dup = np.zeros_like(seen)
        np.put_along_axis(dup, order[:, 1:], ordered[:, 1:] == ordered[:, :-1], axis=1)
        return seen | dup

    def negatives(self, rng: np.random.Generator, users: np.ndarray, n_neg: int) -> np.ndarray:
        """[S, n_neg] int64; the caller guarantees every user has at least n_neg unseen items."""
        users = np.asarray(users, dtype=np.int64)
        out = rng.integers(1, self.n_items + 1, size=(len(users), n_neg))
        bad = self._invalid(users, out)
        while bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            out[bad] = rng.integers(1, self.n_items + 1, size=int(bad.sum()))
            bad[:] = False
            bad[rows] = self._invalid(users[rows], out[rows])
        return out

    def candidates(self, rng: np.random.Generator, users: np.ndarray, targets: np.ndarray,
                   n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """Target plus n_candidates-1 negatives, positions shuffled; returns (candidates, label column)."""
        negs = self.negatives(rng, users, n_candidates - 1)
        cand = np.concatenate([np.asarray(targets, dtype=np.int64)[:, None], negs], axis=1)
        perm = np.argsort(rng.random(cand.shape), axis=1)
        cand = np.take_along_axis(cand, perm, axis=1)
        label = np.argmax(perm == 0, axis=1)
        return cand.astype(np.int32), label.astype(np.int64)
