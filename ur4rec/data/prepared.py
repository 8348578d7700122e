"""The prepared dataset: integer-indexed, time-ordered sequences with fixed evaluation candidates.

Items are indexed 1..n_items (0 is padding); users 0..n_users-1. Each user's interactions are a
contiguous, time-ordered slice of ``seq_items``; the first ``n_train[u]`` are training targets, the
next ``n_valid[u]`` validation targets, the rest test targets. A history for the target at position
``pos`` is the ``L`` interactions before ``pos`` (any split), so it is strictly before the target.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ur4rec.data.schema import Item

SPLITS = ("train", "valid", "test")


@dataclass
class Samples:
    """Evaluation samples: user, target position in the user's sequence, candidates, label column."""

    user: np.ndarray  # [S] int64
    pos: np.ndarray  # [S] int64, index into the user's sequence
    candidates: np.ndarray  # [S, N] int32 item indices, target included once
    label: np.ndarray  # [S] int64, column of the target in candidates

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, idx: np.ndarray) -> "Samples":
        return Samples(self.user[idx], self.pos[idx], self.candidates[idx], self.label[idx])


@dataclass
class PreparedDataset:
    name: str
    domain: str
    key: str
    user_tokens: np.ndarray  # [n_users] str
    item_tokens: np.ndarray  # [n_items + 1] str, index 0 = "<pad>"
    items: list[Item]  # [n_items + 1], index 0 = empty
    users: list[dict]  # [n_users] profile fields
    seq_offsets: np.ndarray  # [n_users + 1]
    seq_items: np.ndarray  # [n_interactions] int32
    seq_times: np.ndarray  # [n_interactions] float64
    seq_ratings: np.ndarray  # [n_interactions] float32
    n_train: np.ndarray  # [n_users]
    n_valid: np.ndarray  # [n_users]
    valid: Samples
    test: Samples
    attr_vocab: list[str]  # attribute (genre/category) names, index 0 = padding
    item_attrs: np.ndarray  # [n_items + 1, A] int32 attribute ids, 0-padded
    stats: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_tokens)

    @property
    def n_items(self) -> int:
        return len(self.item_tokens) - 1

    @property
    def n_candidates(self) -> int:
        return self.valid.candidates.shape[1]

    def seq_len(self) -> np.ndarray:
        return np.diff(self.seq_offsets)

    def samples(self, split: str) -> Samples:
        if split not in ("valid", "test"):
            raise ValueError(f"fixed candidate sets exist for 'valid' and 'test', not {split!r}")
        return self.valid if split == "valid" else self.test

    # ---- derived views -------------------------------------------------------------------
    def user_items(self, user: int, end: int | None = None) -> np.ndarray:
        start = self.seq_offsets[user]
        stop = self.seq_offsets[user + 1] if end is None else start + end
        return self.seq_items[start:stop]

    def train_interactions(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) of every training interaction."""
        users = np.repeat(np.arange(self.n_users), self.n_train)
        pos = _ranges(self.n_train)
        return users, self.seq_items[self.seq_offsets[users] + pos]

    def train_targets(self, min_history: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(user, pos) of every training target with at least ``min_history`` earlier interactions."""
        users = np.repeat(np.arange(self.n_users), self.n_train)
        pos = _ranges(self.n_train)
        keep = pos >= min_history
        return users[keep], pos[keep]

    def histories(self, users: np.ndarray, pos: np.ndarray, length: int) -> np.ndarray:
        """[S, length] item indices before each target, most recent last, left-padded with 0."""
        offs = np.arange(-length, 0)[None, :] + pos[:, None]  # positions pos-L .. pos-1
        valid = offs >= 0
        flat = self.seq_offsets[users][:, None] + np.where(valid, offs, 0)
        return np.where(valid, self.seq_items[flat], 0).astype(np.int64)

    def popularity(self) -> np.ndarray:
        """[n_items + 1] training-interaction counts (index 0 = padding = 0)."""
        _, items = self.train_interactions()
        return np.bincount(items, minlength=self.n_items + 1)

    def item_text(self, idx: int) -> str:
        return self.items[idx].text()

    # ---- disk ----------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write atomically: a crash never leaves a half-written prepared dataset behind."""
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        arrays = {k: getattr(self, k) for k in ("seq_offsets", "seq_items", "seq_times", "seq_ratings",
                                                 "n_train", "n_valid", "item_attrs")}
        arrays["user_tokens"] = self.user_tokens.astype(str)
        arrays["item_tokens"] = self.item_tokens.astype(str)
        for split in ("valid", "test"):
            s = self.samples(split)
            arrays.update({f"{split}_{k}": getattr(s, k) for k in ("user", "pos", "candidates", "label")})
        np.savez(tmp / "arrays.npz", **arrays)
        meta = {"name": self.name, "domain": self.domain, "key": self.key, "attr_vocab": self.attr_vocab,
                "stats": self.stats, "params": self.params, "users": self.users,
                "items": [it.to_json() for it in self.items]}
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path) -> "PreparedDataset":
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "arrays.npz") as z:
            a = {k: z[k] for k in z.files}
        splits = {s: Samples(*(a[f"{s}_{k}"] for k in ("user", "pos", "candidates", "label"))) for s in ("valid", "test")}
        return cls(
            name=meta["name"], domain=meta["domain"], key=meta["key"],
            user_tokens=a["user_tokens"], item_tokens=a["item_tokens"],
            items=[Item.from_json(d) for d in meta["items"]], users=meta["users"],
            seq_offsets=a["seq_offsets"], seq_items=a["seq_items"], seq_times=a["seq_times"],
            seq_ratings=a["seq_ratings"], n_train=a["n_train"], n_valid=a["n_valid"],
            valid=splits["valid"], test=splits["test"], attr_vocab=meta["attr_vocab"],
            item_attrs=a["item_attrs"], stats=meta["stats"], params=meta["params"],
        )


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """concat(arange(n) for n in lengths), vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts
