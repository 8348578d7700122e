"""The evaluation protocol (DESIGN section 5): k-core, per-user chronological 8:1:1, fixed candidates.

Steps, each counted in ``stats``: drop duplicate (user, item) pairs keeping the earliest; iterative
k-core on users and items; drop users too short for one target in each split or with fewer unseen
items than negatives needed; sort each user's interactions by time (ties: file order); split; draw
validation and test candidate sets once with a seed.
"""
from __future__ import annotations

import math
from collections import Counter
from numbers import Integral, Real

import numpy as np

from ur4rec.data.prepared import PreparedDataset, Samples, _ranges
from ur4rec.data.sampling import NegativeSampler
from ur4rec.data.schema import Item, RawDataset
from ur4rec.errors import ConfigError, UserError
from ur4rec.registry import registry

PROTOCOLS = registry("protocols")


@PROTOCOLS.register("Chronological")
class ChronologicalProtocol:
    """Iterative k-core, per-user time-ordered train/valid/test split, 100 fixed candidates per target."""

    def __init__(self, k_core: int = 5, split: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 n_candidates: int = 100, seed: int = 0, eval_targets_per_user: int | None = None):
        self.k_core = _whole(k_core, "k_core", "K_CORE", minimum=1)
        self.split = _fractions(split)
        self.n_candidates = _whole(n_candidates, "n_candidates", "N_CANDIDATES", minimum=2)
        self.seed = _whole(seed, "seed", "PROTOCOL_SEED", minimum=0)
        self.eval_targets_per_user = (None if eval_targets_per_user is None else
                                      _whole(eval_targets_per_user, "eval_targets_per_user", "EVAL_TARGETS_PER_USER", minimum=1))

    def params(self) -> dict:
        return {"class": type(self).__name__, "k_core": self.k_core, "split": list(self.split),
                "n_candidates": self.n_candidates, "seed": self.seed,
                "eval_targets_per_user": self.eval_targets_per_user}

    def apply(self, raw: RawDataset, key: str) -> PreparedDataset:
        dropped: Counter = Counter()
        u_tok, u = np.unique(raw.user.astype(str), return_inverse=True)
        i_tok, i = np.unique(raw.item.astype(str), return_inverse=True)
        rows = np.arange(len(raw))
        rows = self._dedupe(u, i, raw.timestamp, rows, dropped)
        rows = self._k_core(u, i, rows, dropped)
        rows = self._short_users(u, i, rows, len(i_tok), dropped)
        # Dropping users can remove the only uses of some items, leaving another user fewer unseen
        # items than negatives needed (the sampler would then loop forever): repeat until stable.
        while len(rows) and len(again := self._short_users(u, i, rows, len(i_tok), dropped)) < len(rows):
            rows = again
        if len(rows) == 0:
            files = ", ".join(str(f) for f in raw.files)
            raise UserError(f"{raw.name} ({files}): no interactions left after the protocol's filters "
                            f"({dict(dropped)}); lower K_CORE or N_CANDIDATES, or check the input files")
        return self._build(raw, u_tok, i_tok, u, i, rows, dropped, key)

    # ---- filters -------------------------------------------------------------------------
    @staticmethod
    def _dedupe(u, i, t, rows, dropped) -> np.ndarray:
        order = np.lexsort((rows, t[rows], i[rows], u[rows]))
        r = rows[order]
        first = np.ones(len(r), dtype=bool)
        first[1:] = (u[r][1:] != u[r][:-1]) | (i[r][1:] != i[r][:-1])
        dropped["duplicate (user, item) interactions (earliest kept)"] += int((~first).sum())
        return np.sort(r[first])

    def _k_core(self, u, i, rows, dropped) -> np.ndarray:
        before = len(rows)
        while True:
            uc = np.bincount(u[rows])
            ic = np.bincount(i[rows])
            keep = (uc[u[rows]] >= self.k_core) & (ic[i[rows]] >= self.k_core)
            if keep.all():
                break
            rows = rows[keep]
        dropped[f"interactions removed by iterative {self.k_core}-core"] += before - len(rows)
        return rows

    def _short_users(self, u, i, rows, n_items_total, dropped) -> np.ndarray:
        counts = np.bincount(u[rows])
        n_items = len(np.unique(i[rows]))
        # at least one target per split: with an uneven split (e.g. 0.2:0.4:0.4) three are not enough
        too_short = (counts < 3) | (self.split_sizes(counts)[0] < 1)
        too_full = (n_items - counts) < (self.n_candidates - 1)
        bad_users = np.flatnonzero((too_short | too_full) & (counts > 0))
        dropped["users too short for a train/valid/test target (dropped)"] += int((too_short & (counts > 0)).sum())
        dropped[f"users with fewer than {self.n_candidates - 1} unseen items (dropped)"] += int((too_full & ~too_short & (counts > 0)).sum())
        keep = ~np.isin(u[rows], bad_users)
        dropped["interactions of dropped users"] += int((~keep).sum())
        return rows[keep]

    # ---- split and candidates ------------------------------------------------------------
    def split_sizes(self, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_valid = np.maximum(1, np.round(lengths * self.split[1]).astype(np.int64))
        n_test = np.maximum(1, np.round(lengths * self.split[2]).astype(np.int64))
        return lengths - n_valid - n_test, n_valid, n_test

    def _build(self, raw, u_tok, i_tok, u, i, rows, dropped, key) -> PreparedDataset:
        users_used, u_new = np.unique(u[rows], return_inverse=True)
        items_used, i_new = np.unique(i[rows], return_inverse=True)
        i_new = i_new + 1  # 0 is padding
        order = np.lexsort((rows, raw.timestamp[rows], u_new))  # per user, by time, ties in file order
        r, u_s, i_s = rows[order], u_new[order], i_new[order]
        lengths = np.bincount(u_s, minlength=len(users_used))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        n_train, n_valid, n_test = self.split_sizes(lengths)
        item_tokens = np.concatenate([["<pad>"], i_tok[items_used]]).astype(object)
        items = [Item()] + [raw.items[t] for t in i_tok[items_used]]
        attr_vocab, item_attrs = _attributes(items)
        sampler = NegativeSampler(u_s, i_s, len(items_used))
        valid = self._samples(sampler, u_s, i_s, offsets, n_train, n_valid, split_id=1)
        test = self._samples(sampler, u_s, i_s, offsets, n_train + n_valid, n_test, split_id=2)
        profiles = [raw.users.get(t, {}) for t in u_tok[users_used]]
        prepared = PreparedDataset(
            name=raw.name, domain=raw.domain, key=key, user_tokens=u_tok[users_used].astype(object),
            item_tokens=item_tokens, items=items, users=profiles, seq_offsets=offsets,
            seq_items=i_s.astype(np.int32), seq_times=raw.timestamp[r], seq_ratings=raw.rating[r],
            n_train=n_train, n_valid=n_valid, valid=valid, test=test, attr_vocab=attr_vocab,
            item_attrs=item_attrs, params=self.params(),
        )
        prepared.stats = _stats(raw, prepared, dropped, n_test, self.eval_targets_per_user)
        return prepared

    def _samples(self, sampler, u_s, i_s, offsets, start, count, split_id) -> Samples:
        """Targets at positions [start, start+count) per user, capped; candidates drawn once."""
        cap = count if self.eval_targets_per_user is None else np.minimum(count, self.eval_targets_per_user)
        users = np.repeat(np.arange(len(start)), cap)
        pos = np.repeat(start, cap) + _ranges(cap)
        targets = i_s[offsets[users] + pos]
        rng = np.random.default_rng([self.seed, split_id])
        cand, label = sampler.candidates(rng, users, targets, self.n_candidates)
        return Samples(users.astype(np.int64), pos.astype(np.int64), cand, label)


def _whole(value, param: str, macro: str, minimum: int) -> int:
    """A whole number >= minimum (bool and 2.5 are refused, 5.0 is taken as 5), else a ConfigError."""
    if isinstance(value, Real) and not isinstance(value, bool) and float(value).is_integer():
        value = int(value)
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"protocols.Chronological.{param} (macro {macro}) must be a whole number >= {minimum}, "
                          f"got {value!r}")
    return int(value)


def _fractions(split) -> tuple[float, float, float]:
    """Three positive numbers (train, valid, test) summing to 1, else a ConfigError."""
    ok = isinstance(split, (list, tuple)) and len(split) == 3 and all(
        isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in split)
    if not ok or abs(sum(split) - 1.0) > 1e-6:
        raise ConfigError(f"protocols.Chronological.split must be three positive fractions (train, valid, test) "
                          f"summing to 1, e.g. (0.8, 0.1, 0.1); got {split!r}")
    return tuple(float(x) for x in split)


def _attributes(items: list[Item]) -> tuple[list[str], np.ndarray]:
    vocab = ["<pad>"] + sorted({c for it in items for c in it.categories})
    index = {c: k for k, c in enumerate(vocab)}
    width = max(1, max(len(it.categories) for it in items))
    attrs = np.zeros((len(items), width), dtype=np.int32)
    for row, it in enumerate(items):
        for col, c in enumerate(it.categories):
            attrs[row, col] = index[c]
    return vocab, attrs


def _stats(raw: RawDataset, p: PreparedDataset, dropped: Counter, n_test: np.ndarray, cap) -> dict:
    lengths = p.seq_len()
    n_inter = int(lengths.sum())
    return {
        "raw": raw.counts(),
        "load_report": raw.report.as_dict(),
        "dropped": {k: v for k, v in dropped.items()},
        "filtered": {"users": p.n_users, "items": p.n_items, "interactions": n_inter,
                     "density": n_inter / max(1, p.n_users * p.n_items)},
        "history_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                           "mean": float(lengths.mean()), "max": int(lengths.max())},
        "split_interactions": {"train": int(p.n_train.sum()), "valid": int(p.n_valid.sum()), "test": int(n_test.sum())},
        "eval_samples": {"valid": len(p.valid), "test": len(p.test), "targets_per_user_cap": cap},
        "n_candidates": p.n_candidates,
    }
