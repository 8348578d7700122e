"""The prepared dataset: integer-indexed, time-ordered sequences with fixed evaluation candidates.

Items are indexed 1..n_items (0 is padding); users 0..n_users-1. Each user's interactions are a
contiguous, time-ordered slice of ``seq_items``; the first ``n_train[u]`` are training targets, the
next ``n_valid[u]`` validation targets, the rest test targets. A history for the target at position
``pos`` is the ``L`` interactions before ``pos`` (any split), so it is strictly before the target.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import secrets
import shutil
import zipfile
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
    def save(self, folder: Path, replace: bool = False) -> None:
        """Write into a temporary folder, then rename it into place, so a crash or a second process
        preparing the same key never leaves a half-written folder. With ``replace`` an existing
        folder is moved aside first; without it a sound copy another process saved is kept."""
        tmp = _sibling(folder, "tmp")
        tmp.mkdir(parents=True)
        try:
            blobs = {ARRAYS: self._arrays_bytes(), META: json.dumps(self._meta()).encode()}
            for name, blob in blobs.items():
                (tmp / name).write_bytes(blob)
            # written last: a folder with a matching checksums file is complete
            sums = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
            (tmp / CHECKSUMS).write_text(json.dumps(sums))
            _swap_in(tmp, folder, replace)
        finally:
            _remove(tmp)

    def _arrays_bytes(self) -> bytes:
        arrays = {k: getattr(self, k) for k in ("seq_offsets", "seq_items", "seq_times", "seq_ratings",
                                                 "n_train", "n_valid", "item_attrs")}
        arrays["user_tokens"] = self.user_tokens.astype(str)
        arrays["item_tokens"] = self.item_tokens.astype(str)
        for split in ("valid", "test"):
            s = self.samples(split)
            arrays.update({f"{split}_{k}": getattr(s, k) for k in ("user", "pos", "candidates", "label")})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def _meta(self) -> dict:
        return {"name": self.name, "domain": self.domain, "key": self.key, "attr_vocab": self.attr_vocab,
                "stats": self.stats, "params": self.params, "users": self.users,
                "items": [it.to_json() for it in self.items]}

    @classmethod
    def load(cls, folder: Path, key: str | None = None) -> "PreparedDataset":
        """Read a saved folder back; DamagedCache when a file is missing, altered or unreadable."""
        blobs = _read_verified(folder)
        try:
            meta = json.loads(blobs[META])
            with np.load(io.BytesIO(blobs[ARRAYS]), allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            splits = {s: Samples(*(a[f"{s}_{k}"] for k in ("user", "pos", "candidates", "label"))) for s in ("valid", "test")}
            prepared = cls(
                name=meta["name"], domain=meta["domain"], key=meta["key"],
                user_tokens=a["user_tokens"], item_tokens=a["item_tokens"],
                items=[Item.from_json(d) for d in meta["items"]], users=meta["users"],
                seq_offsets=a["seq_offsets"], seq_items=a["seq_items"], seq_times=a["seq_times"],
                seq_ratings=a["seq_ratings"], n_train=a["n_train"], n_valid=a["n_valid"],
                valid=splits["valid"], test=splits["test"], attr_vocab=meta["attr_vocab"],
                item_attrs=a["item_attrs"], stats=meta["stats"], params=meta["params"],
            )
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise DamagedCache(f"unreadable: {type(err).__name__}: {err}") from None
        if key is not None and prepared.key != key:
            raise DamagedCache(f"it holds key {prepared.key!r}, not {key!r}")
        return prepared


class DamagedCache(Exception):
    """A prepared-dataset folder that cannot be trusted; the caller rebuilds it."""


ARRAYS, META, CHECKSUMS = "arrays.npz", "meta.json", "checksums.json"


def _read_verified(folder: Path) -> dict[str, bytes]:
    """The bytes of arrays.npz and meta.json, checked against the sha256 sums recorded at save time."""
    try:
        sums = json.loads((folder / CHECKSUMS).read_text())
        blobs = {name: (folder / name).read_bytes() for name in (ARRAYS, META)}
    except FileNotFoundError as err:
        name = Path(err.filename or "?").name
        why = " (saved by an older ur4rec, or damaged)" if name == CHECKSUMS else ""
        raise DamagedCache(f"{name} is missing{why}") from None
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8 in checksums.json
        raise DamagedCache(f"{CHECKSUMS} is unreadable ({type(err).__name__})") from None
    for name, blob in blobs.items():
        if not isinstance(sums, dict) or sums.get(name) != hashlib.sha256(blob).hexdigest():
            raise DamagedCache(f"{name} does not match the checksum recorded when it was saved")
    return blobs


def _sibling(folder: Path, tag: str) -> Path:
    """A fresh name next to ``folder``, unique across processes and threads."""
    return folder.with_name(f"{folder.name}.{tag}{os.getpid()}-{secrets.token_hex(4)}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _swap_in(tmp: Path, folder: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``folder``; each step is one atomic rename, so concurrent savers cannot collide."""
    for _ in range(20):
        try:
            os.rename(tmp, folder)  # fails while a non-empty folder is in the way
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
        if not replace and _is_sound(folder):
            return  # another process saved this key first; its copy is as good as ours
        old = _sibling(folder, "old")
        try:
            os.rename(folder, old)
        except FileNotFoundError:
            continue  # another process moved it aside first
        _remove(old)
        replace = False  # the damaged or outdated copy is gone; a newer one from another saver is fine
    raise OSError(f"could not move {tmp} to {folder}: other processes keep replacing it")


def _is_sound(folder: Path) -> bool:
    try:
        _read_verified(folder)
        return True
    except DamagedCache:
        return False


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """concat(arange(n) for n in lengths), vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts
