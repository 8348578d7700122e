"""``datasets.FirstUsers``: any dataset cut to its first N users, for ``ur4rec bench --limit-users N``.

A quick, smaller version of a table for smoke tests: the wrapped loader reads its files as usual,
then only the interactions of the first N distinct users (in file order) are kept; the protocol
(k-core, splits, candidates) runs on what is left. The cut is part of the prepared-data cache key.
"""
from __future__ import annotations

import numpy as np

from ur4rec.data.base import DATASETS, Dataset
from ur4rec.errors import ConfigError


@DATASETS.register("FirstUsers")
class FirstUsers(Dataset):
    """The first ``n_users`` users (file order) of the ``inner`` dataset, with all their interactions."""

    def __init__(self, inner: Dataset, n_users: int):
        if not isinstance(inner, Dataset):
            raise ConfigError(f"datasets.FirstUsers.inner must be a dataset (e.g. @datasets.Atomic()), not {inner!r}")
        if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 1:
            raise ConfigError(f"datasets.FirstUsers.n_users must be a whole number >= 1, not {n_users!r}")
        super().__init__(inner.data_dir, inner.name)
        self.inner, self.n_users = inner, n_users
        self.domain = inner.domain

    def input_files(self):
        return self.inner.input_files()

    def params(self) -> dict:
        return {**self.inner.params(), "first_users": self.n_users}

    def load(self):
        raw = self.inner.load()
        _, first = np.unique(raw.user, return_index=True)
        kept_users = raw.user[np.sort(first)[: self.n_users]]
        keep = np.isin(raw.user, kept_users)
        raw.report.add(f"interactions of users after the first {self.n_users} (bench --limit-users)", int((~keep).sum()))
        raw.user, raw.item = raw.user[keep], raw.item[keep]
        raw.timestamp, raw.rating = raw.timestamp[keep], raw.rating[keep]
        kept = set(kept_users.tolist())
        raw.users = {u: p for u, p in raw.users.items() if u in kept}
        return raw
