"""What every dataset loader returns: users, items with text fields, time-ordered interactions.

Loaders only parse; filtering, splitting and candidate sampling belong to ``protocol.py``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Item:
    """Text fields of one item; every field may be empty when the metadata lacks it."""

    title: str = ""
    categories: list[str] = field(default_factory=list)  # genres / tags / categories
    brand: str = ""  # brand, developer or publisher
    year: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"title": self.title, "categories": self.categories, "brand": self.brand,
                "year": self.year, "extra": self.extra}

    @classmethod
    def from_json(cls, d: dict) -> "Item":
        return cls(d["title"], list(d["categories"]), d["brand"], d["year"], dict(d["extra"]))

    def text(self) -> str:
        """One-line metadata text (the paper's T(i)): title, year, categories, brand."""
        parts = [self.title or "(untitled)"]
        if self.year:
            parts[0] += f" ({self.year})" if f"({self.year})" not in self.title else ""
        if self.categories:
            parts.append("categories: " + ", ".join(self.categories))
        if self.brand:
            parts.append("by " + self.brand)
        return "; ".join(parts)


@dataclass
class LoadReport:
    """Counts of every documented handling of imperfect input, shown by ``ur4rec data stats``."""

    counts: Counter = field(default_factory=Counter)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.counts[reason] += n

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass
class RawDataset:
    """A loaded dataset before the protocol: interactions are in file order (not yet sorted)."""

    name: str
    domain: str  # "movies", "games", "books" — selects prompt templates later
    users: dict[str, dict[str, str]]
    items: dict[str, Item]
    user: np.ndarray  # [n] str tokens
    item: np.ndarray  # [n] str tokens
    timestamp: np.ndarray  # [n] float64 seconds
    rating: np.ndarray  # [n] float32, nan where the source has none
    files: list[Path]
    report: LoadReport = field(default_factory=LoadReport)

    def __len__(self) -> int:
        return len(self.user)

    def counts(self) -> dict[str, int]:
        return {"users": len(np.unique(self.user)), "items": len(np.unique(self.item)),
                "interactions": len(self)}
