"""LMDB key-value stores: generated texts (section 3.1's s_u, s_i) and their frozen-encoder vectors (eq. 5).

Why LMDB: one file, many concurrent readers (DataLoader workers), one writer, and each write
transaction is atomic, so a generation batch committed in one transaction is either fully stored or
absent after a ``kill -9``. Every value is framed as ``crc32 | length | payload`` so a truncated or
corrupted value is reported (``CorruptValueError``) instead of being decoded into garbage. A header
record (kind, encoder id, dim, dtype, ...) is checked on open so vectors from one encoder are never
read as another's. The environment is reopened after ``fork`` (LMDB handles must not cross a fork).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ur4rec.errors import UserError

HEADER_KEY = b"\x00__header__"
FORMAT = 1
_FRAME = struct.Struct("<II")  # crc32(payload), len(payload)
_INITIAL_MAP = 64 << 20  # grows by doubling on MapFullError, so the first size only needs to be modest


_ENVS: dict[str, tuple[int, object]] = {}  # resolved path -> (pid that opened it, lmdb.Environment)


def _shared_env(path: Path, map_size: int):
    """The process's environment for ``path``: LMDB allows one per process, so every store object shares it.

    Opened read-write when the folder is writable (read-only stores are enforced by the API), so a
    reader and a writer in one process can coexist; several processes open their own.
    """
    key = str(path.resolve())
    entry = _ENVS.get(key)
    if entry is not None and entry[0] == os.getpid():
        return entry[1]
    import lmdb

    if entry is not None:
        # Inherited across fork: py-lmdb refuses a second open of the same files in one process until
        # the inherited handle is closed. Closing it in the child only unmaps the child's copy and
        # closes the child's descriptors (LMDB clears reader slots of getpid() only, and fcntl locks
        # belong to a process), so the parent's environment is untouched.
        entry[1].close()
    check_data_file(path)
    writable = os.access(path, os.W_OK)
    env = lmdb.open(str(path), map_size=map_size, readonly=not writable, lock=True, readahead=False,
                    max_dbs=0, subdir=True)
    _ENVS[key] = (os.getpid(), env)
    return env


def _close_env(path: Path) -> None:
    entry = _ENVS.get(str(path.resolve()))
    if entry is not None and entry[0] == os.getpid():
        entry[1].close()
        del _ENVS[str(path.resolve())]


# LMDB's meta page (lmdb.h / mdb.c, 64-bit build): a 16-byte page header, then magic, version, address,
# map size, two 48-byte database records (the first one's leading 4 bytes hold the page size), the
# last used page number and the transaction id. Pages 0 and 1 hold two such metas; the newer is live.
_META_MAGIC, _META_VERSION = 0xBEEFC0DE, 1
_META = struct.Struct("<II8x8xI92xQQ")  # magic, version, page size, last page, txnid (from byte 16)
_META_OFFSET = 16


def _read_meta(fh, offset: int) -> tuple[int, int, int] | None:
    """(page size, last page, txnid) of the meta page at ``offset``; None if it is not a valid meta."""
    fh.seek(offset + _META_OFFSET)
    raw = fh.read(_META.size)
    if len(raw) < _META.size:
        return None
    magic, version, psize, last_pg, txnid = _META.unpack(raw)
    if magic != _META_MAGIC or version != _META_VERSION or psize < 512 or psize > 65536 or psize & (psize - 1):
        return None
    return psize, last_pg, txnid


def check_data_file(folder: Path) -> None:
    """Refuse a data.mdb that is empty or shorter than its own header says, before LMDB maps it.

    LMDB would treat an empty file as a new, empty store (everything silently gone), and reading a
    page past the end of a truncated file kills the process with SIGBUS instead of raising."""
    path = Path(folder) / "data.mdb"
    if not path.is_file():
        return  # a new store, or no file at all (LMDB reports the latter)
    with open(path, "rb") as fh:
        first = _read_meta(fh, 0)
        second = _read_meta(fh, first[0]) if first else None
        size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise StoreDamagedError(folder, "data.mdb is empty (0 bytes): everything stored in it is gone, "
                                "e.g. after a full disk or a failed copy")
    if first is None:
        return  # not an LMDB file at all: lmdb.open says so, and that error names the store
    psize, last_pg, _ = max((m for m in (first, second) if m), key=lambda m: m[2])
    needed = (last_pg + 1) * psize
    if size < needed:
        raise StoreDamagedError(folder, f"data.mdb is truncated: its header expects at least {needed:,} bytes, "
                                f"the file has {size:,}")


class StoreDamagedError(UserError):
    """The store's files are damaged (empty, truncated, corrupt pages); names the store and the way out."""

    def __init__(self, folder: str | Path, problem: str):
        super().__init__(f"store {folder}: {problem}. Delete the folder {folder} to start it again (what it held "
                         "will be generated or encoded again) or restore it from a backup.")


def _lmdb_errors(method):
    """Turn LMDB's own exceptions (corrupt pages, invalid file) into a StoreDamagedError naming the store."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        import lmdb

        try:
            return method(self, *args, **kwargs)
        except lmdb.Error as err:
            raise StoreDamagedError(self.path, f"LMDB reports {type(err).__name__}: {err}") from None
    return wrapper


class StoreMismatchError(UserError):
    """The store on disk was written for another encoder / dim / dtype / kind than the one opening it."""


class CorruptValueError(UserError):
    """A stored value failed its checksum or length check."""


def content_key(*parts) -> bytes:
    """A 32-byte sha256 over a canonical JSON rendering of ``parts`` (the cache key of a text or vector)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).digest()


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(zlib.crc32(payload), len(payload)) + payload


def _unframe(key: bytes, raw: bytes, store: Path) -> bytes:
    if len(raw) < _FRAME.size:
        raise CorruptValueError(f"store {store}: stored value for key {key.hex()[:16]}… is truncated ({len(raw)} bytes)")
    crc, length = _FRAME.unpack_from(raw)
    payload = bytes(raw[_FRAME.size:])
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise CorruptValueError(
            f"store {store}: stored value for key {key.hex()[:16]}… is corrupt (expected {length} bytes with crc {crc:08x}, "
            f"found {len(payload)} bytes with crc {zlib.crc32(payload):08x}); delete the store or the entry and rerun")
    return payload


class LMDBStore:
    """Framed byte values under byte keys, with a checked header; subclasses add the value codec."""

    kind = "bytes"

    def __init__(self, path: str | Path, header: Mapping | None = None, readonly: bool = False,
                 map_size: int = _INITIAL_MAP):
        self.path = Path(path)
        self.readonly = readonly
        self.header = dict(header or {})
        self.header.setdefault("kind", self.kind)
        self.header.setdefault("format", FORMAT)
        self._map_size = map_size
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
        elif not (self.path / "data.mdb").is_file():
            raise UserError(f"no store at {self.path} (run `ur4rec generate`/`ur4rec encode` first)")
        self._check_header()

    # ---- environment: one per (files, process), opened lazily, reopened in a forked child -----------
    @property
    def env(self):
        return _shared_env(self.path, self._map_size)

    def close(self) -> None:
        _close_env(self.path)

    def __getstate__(self):  # picklable for spawn-started DataLoader workers
        state = dict(self.__dict__)
        return state

    def _begin(self, write: bool = False):
        import lmdb

        try:
            return self.env.begin(write=write)
        except lmdb.MapResizedError:
            # Another process grew the map; adopt the new size (set_mapsize(0) reads it from the file).
            self.env.set_mapsize(0)
            return self.env.begin(write=write)

    # ---- header ------------------------------------------------------------------------------
    @_lmdb_errors
    def _check_header(self) -> None:
        with self._begin() as txn:
            raw = txn.get(HEADER_KEY)
        if raw is None:
            if self.readonly:
                raise StoreMismatchError(f"store {self.path} has no header record")
            self._put_raw({HEADER_KEY: json.dumps(self.header, sort_keys=True).encode()})
            return
        try:
            stored = json.loads(_unframe(HEADER_KEY, raw, self.path))
        except ValueError:  # a header that passed its checksum but is no JSON object
            stored = None
        if not isinstance(stored, dict):
            raise StoreDamagedError(self.path, "the header record is not readable")
        wanted = {k: v for k, v in self.header.items()}
        diff = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if diff:
            shown = "; ".join(f"{k}: store has {a!r}, caller wants {b!r}" for k, (a, b) in diff.items())
            raise StoreMismatchError(f"store {self.path} was written with different settings ({shown}). "
                                     "Use another store path or delete this one.")
        self.header = stored

    # ---- raw framed access -------------------------------------------------------------------
    def _put_raw(self, items: Mapping[bytes, bytes]) -> None:
        import lmdb

        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, payload in items.items():
                        txn.put(key, _frame(payload))
                return
            except lmdb.MapFullError:
                # The aborted transaction wrote nothing; double the map and retry the whole batch.
                self._map_size = max(self._map_size, self.env.info()["map_size"]) * 2
                self.env.set_mapsize(self._map_size)
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)

    @_lmdb_errors
    def put_bytes(self, items: Mapping[bytes, bytes]) -> None:
        """Write all ``items`` in one transaction: after a crash either all of them are stored or none."""
        if self.readonly:
            raise UserError(f"store {self.path} is open read-only")
        if HEADER_KEY in items:
            raise ValueError("the header key is reserved")
        self._put_raw(items)

    @_lmdb_errors
    def get_bytes(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Payloads for ``keys`` in one read transaction (None where absent)."""
        with self._begin() as txn:
            return [None if (raw := txn.get(k)) is None else _unframe(k, raw, self.path) for k in keys]

    @_lmdb_errors
    def contains(self, keys: Iterable[bytes]) -> list[bool]:
        with self._begin() as txn, txn.cursor() as cur:
            return [cur.set_key(k) for k in keys]

    @_lmdb_errors
    def __len__(self) -> int:
        with self._begin() as txn:
            return txn.stat()["entries"] - 1  # minus the header

    @_lmdb_errors
    def keys(self) -> list[bytes]:
        with self._begin() as txn, txn.cursor() as cur:
            return [bytes(k) for k in cur.iternext(keys=True, values=False) if k != HEADER_KEY]

    @_lmdb_errors
    def verify(self) -> list[bytes]:
        """Keys whose values fail the checksum (a full scan; empty when the store is sound)."""
        bad = []
        with self._begin() as txn, txn.cursor() as cur:
            for k, raw in cur:
                try:
                    _unframe(bytes(k), raw, self.path)
                except CorruptValueError:
                    bad.append(bytes(k))
        return bad


class TextStore(LMDBStore):
    """Generated texts: key -> JSON record (``text``, ``n_tokens`` and provenance fields)."""

    kind = "text"

    def put(self, records: Mapping[bytes, dict]) -> None:
        self.put_bytes({k: json.dumps(v, ensure_ascii=False).encode("utf-8") for k, v in records.items()})

    def get(self, keys: Sequence[bytes]) -> list[dict | None]:
        return [None if b is None else json.loads(b) for b in self.get_bytes(keys)]


class VectorStore(LMDBStore):
    """Encoded vectors of fixed width and dtype (both in the header): key -> raw little-endian array."""

    kind = "vector"

    def __init__(self, path: str | Path, encoder_id: str, dim: int, dtype: str = "float32", readonly: bool = False,
                 **kw):
        self.dim, self.dtype = int(dim), np.dtype(dtype).newbyteorder("<")
        super().__init__(path, {"encoder": encoder_id, "dim": self.dim, "dtype": np.dtype(dtype).name},
                         readonly=readonly, **kw)
        self._nbytes = self.dim * self.dtype.itemsize

    @_lmdb_errors
    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=self.dtype)
        if vectors.ndim != 2 or vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected {len(keys)} x {self.dim} vectors, got {vectors.shape}")
        self.put_bytes({k: vectors[i].tobytes() for i, k in enumerate(keys)})

    @_lmdb_errors
    def get(self, keys: Sequence[bytes], missing_ok: bool = False) -> np.ndarray:
        """[len(keys), dim] in one read transaction; a missing key raises KeyError unless ``missing_ok``
        (then its row is NaN)."""
        out = np.empty((len(keys), self.dim), dtype=self.dtype)
        with self._begin() as txn:
            for i, k in enumerate(keys):
                raw = txn.get(k)
                if raw is None:
                    if not missing_ok:
                        raise KeyError(f"no vector for key {k.hex()[:16]}… in {self.path}")
                    out[i] = np.nan
                    continue
                payload = _unframe(k, raw, self.path)
                if len(payload) != self._nbytes:
                    raise CorruptValueError(f"store {self.path}: vector for key {k.hex()[:16]}… has {len(payload)} bytes, "
                                            f"expected {self._nbytes} ({self.dim} x {self.dtype.name})")
                out[i] = np.frombuffer(payload, dtype=self.dtype)
        return out.astype(np.float32, copy=False)
