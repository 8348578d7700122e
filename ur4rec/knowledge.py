"""The contract between text knowledge (LLM texts, encoders) and the models that consume it.

A knowledge source turns a prepared dataset into one vector per user (the encoded preference text
e_u of equation 5) and one per item (the encoded knowledge text e_i). Augmenters (+BERT, +LLM, KAR)
and the UR4Rec retriever read only this, so any LLM/encoder/prompt combination plugs in unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ur4rec.registry import registry


@dataclass
class KnowledgeVectors:
    user: np.ndarray  # [n_users, D] float32, row = user index of the prepared dataset
    item: np.ndarray  # [n_items + 1, D] float32, row = item index; row 0 (padding) is zeros
    description: str  # which texts, prompts, LLM and encoder made these (reported beside results)

    @property
    def dim(self) -> int:
        return int(self.item.shape[1])

    def check(self, n_users: int, n_items: int) -> None:
        if self.user.shape[0] != n_users or self.item.shape[0] != n_items + 1:
            raise ValueError(f"knowledge vectors cover {self.user.shape[0]} users / {self.item.shape[0] - 1} items, "
                             f"dataset has {n_users} / {n_items}")
        if self.user.shape[1] != self.item.shape[1]:
            raise ValueError(f"user and item vectors differ in width: {self.user.shape[1]} vs {self.item.shape[1]}")


class KnowledgeSource:
    """Produces KnowledgeVectors for a prepared dataset (cached by the implementation)."""

    def vectors(self, data) -> KnowledgeVectors:
        raise NotImplementedError


KNOWLEDGE = registry("knowledge", KnowledgeSource)


@KNOWLEDGE.register("Random")
class RandomKnowledge(KnowledgeSource):
    """Seeded Gaussian vectors of width ``dim``: a control that carries no information (and a test double)."""

    def __init__(self, dim: int = 32, seed: int = 0):
        self.dim, self.seed = dim, seed

    def vectors(self, data) -> KnowledgeVectors:
        rng = np.random.default_rng(self.seed)
        item = rng.standard_normal((data.n_items + 1, self.dim)).astype(np.float32)
        item[0] = 0.0
        user = rng.standard_normal((data.n_users, self.dim)).astype(np.float32)
        return KnowledgeVectors(user, item, f"random Gaussian vectors, dim {self.dim}, seed {self.seed}")
