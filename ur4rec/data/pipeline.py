"""``prepare_data``: load a dataset, apply the protocol, cache the result keyed by content hashes.

The key covers the bytes of every input file, the loader's parameters, the protocol's parameters and
``FORMAT_VERSION``; a rerun with the same inputs loads the cached copy in well under a second.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import gin

from ur4rec.data.base import Dataset
from ur4rec.data.prepared import DamagedCache, PreparedDataset
from ur4rec.paths import cache_dir

FORMAT_VERSION = 1


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoised on (path, size, mtime, ctime, inode) so warm runs skip re-reading.

    ctime is in the stamp because a program can restore mtime after editing a file in place (same
    size), but nothing can set ctime back: any write or ``touch`` moves it."""
    st = path.stat()
    memo_path = cache_dir("filehash") / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24] + ".json")
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    memo = _read_memo(memo_path)
    if memo.get("stamp") == stamp and _is_sha256(memo.get("sha256")):
        return memo["sha256"]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    tmp = memo_path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"stamp": stamp, "sha256": h.hexdigest()}))
    os.replace(tmp, memo_path)
    return h.hexdigest()


def _read_memo(path: Path) -> dict:
    """A digest memo, or {} when absent or damaged (it is only a shortcut: the file is hashed again)."""
    try:
        memo = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def cache_key(dataset: Dataset, protocol) -> str:
    parts = {
        "format": FORMAT_VERSION,
        "dataset": dataset.params(),
        "protocol": protocol.params(),
        "files": sorted((p.name, file_digest(p)) for p in dataset.input_files()),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@gin.configurable
def prepare_data(dataset: Dataset = gin.REQUIRED, protocol=gin.REQUIRED, rebuild: bool = False,
                 log=None) -> PreparedDataset:
    """The prepared dataset for (dataset, protocol), from cache when its inputs are unchanged.

    A cached folder is checked against the checksums saved with it; a damaged one is reported in one
    line and rebuilt. ``rebuild=True`` (``-b prepare_data.rebuild=True``) rebuilds unconditionally."""
    key = cache_key(dataset, protocol)
    folder = cache_dir("prepared") / f"{dataset.name}-{key}"
    replace = rebuild
    if os.path.lexists(folder) and not rebuild:
        try:
            prepared = PreparedDataset.load(folder, key)
        except DamagedCache as err:
            _say(log, f"prepared cache {folder} cannot be used ({err}); rebuilding it")
            replace = True
        else:
            prepared.stats["cache"] = {"hit": True, "path": str(folder)}
            return prepared
    start = time.perf_counter()
    if log:
        log(f"preparing {dataset.name} (cache miss: {folder})")
    prepared = protocol.apply(dataset.load(), key)
    prepared.stats["prepare_seconds"] = round(time.perf_counter() - start, 2)
    prepared.save(folder, replace=replace)
    prepared.stats["cache"] = {"hit": False, "path": str(folder)}
    return prepared


def _say(log, message: str) -> None:
    if log is not None:
        log(message)
    else:
        print(message, file=sys.stderr)
