"""Damaged caches (issue 11, items 5, 6, 8, 9, 11): the prepared-data cache and the LMDB stores.

A damaged prepared cache is reported in one line and rebuilt; an in-place edit of an input is never
served stale; concurrent saves never fail; a damaged store is refused with a message naming it.
Real files in temporary folders throughout: real npz/json caches, real LMDB environments.
"""
import json
import multiprocessing as mp
import os
import struct
import subprocess
import sys
import time

import lmdb
import numpy as np
import pytest

from conftest import write_ml1m
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.prepared import PreparedDataset
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.errors import UserError
from ur4rec.paths import cache_dir
from ur4rec.store.lmdb_store import CorruptValueError, StoreDamagedError, TextStore, VectorStore, content_key


def prepare(folder, log=None, **kw):
    return prepare_data(MovieLens1M(folder), ChronologicalProtocol(k_core=2, n_candidates=20), log=log, **kw)


def same(a, b):
    np.testing.assert_array_equal(a.seq_items, b.seq_items)
    np.testing.assert_array_equal(a.test.candidates, b.test.candidates)
    assert a.stats["filtered"] == b.stats["filtered"] and a.key == b.key


# ---- item 5: an in-place edit is seen; an edited cache is not trusted ------------------------------
def test_in_place_edit_with_same_size_and_mtime_is_seen(tiny_ml1m):
    path = tiny_ml1m / "ratings.dat"
    first = prepare(tiny_ml1m)
    st = path.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity, so ctime moves
    data = bytearray(path.read_bytes())
    data[data.index(b"::") - 1:data.index(b"::")] = b"9"  # first user id 1 -> 9, same size
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    again = prepare(tiny_ml1m)
    assert again.stats["cache"]["hit"] is False and again.key != first.key


def test_edited_meta_json_is_detected_and_rebuilt(tiny_ml1m):
    first = prepare(tiny_ml1m)
    folder = first.stats["cache"]["path"]
    meta_path = os.path.join(folder, "meta.json")
    meta = json.loads(open(meta_path).read())
    meta["stats"]["filtered"]["users"] = 12345
    open(meta_path, "w").write(json.dumps(meta))
    said = []
    again = prepare(tiny_ml1m, log=said.append)
    assert again.stats["filtered"]["users"] == first.stats["filtered"]["users"] != 12345
    assert len(said) == 2 and "meta.json does not match the checksum" in said[0] and "rebuilding" in said[0]
    same(first, again)


# ---- item 8: damaged cache files -------------------------------------------------------------------
def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _empty(path):
    path.write_bytes(b"")


def _delete(path):
    path.unlink()


@pytest.mark.parametrize("name", ["arrays.npz", "meta.json", "checksums.json"])
@pytest.mark.parametrize("damage", [_truncate, _flip, _empty, _delete])
def test_damaged_prepared_cache_is_reported_and_rebuilt(tiny_ml1m, name, damage):
    first = prepare(tiny_ml1m)
    folder = first.stats["cache"]["path"]
    damage(type(tiny_ml1m)(folder) / name)
    said = []
    again = prepare(tiny_ml1m, log=said.append)
    assert again.stats["cache"]["hit"] is False
    assert "cannot be used" in said[0] and folder in said[0] and "\n" not in said[0]
    same(first, again)
    third = prepare(tiny_ml1m)  # the rebuilt copy is sound
    assert third.stats["cache"]["hit"] is True
    same(first, third)


def test_deleted_cache_folder_contents_and_stray_file(tiny_ml1m):
    first = prepare(tiny_ml1m)
    folder = type(tiny_ml1m)(first.stats["cache"]["path"])
    for f in folder.iterdir():
        f.unlink()
    same(first, prepare(tiny_ml1m))
    import shutil

    shutil.rmtree(folder)
    folder.write_text("not a folder")
    same(first, prepare(tiny_ml1m))
    assert folder.is_dir()


@pytest.mark.parametrize("memo", [b"", b"{not json", b"[1, 2]", b'{"stamp": 1, "sha256": 5}', b"\xff\xfe"])
def test_corrupt_file_hash_memo_is_ignored(tiny_ml1m, memo):
    first = prepare(tiny_ml1m)
    for f in cache_dir("filehash").iterdir():
        f.write_bytes(memo)
    again = prepare(tiny_ml1m)
    assert again.stats["cache"]["hit"] is True
    same(first, again)


def test_rebuild_binding_replaces_a_sound_cache(tiny_ml1m):
    first = prepare(tiny_ml1m)
    again = prepare(tiny_ml1m, rebuild=True)
    assert again.stats["cache"]["hit"] is False
    same(first, again)
    assert prepare(tiny_ml1m).stats["cache"]["hit"] is True


# ---- item 11: concurrent saves of one key -----------------------------------------------------------
def _save_many(data, folder, replace, rounds, conn):
    try:
        for _ in range(rounds):
            data.save(folder, replace=replace)
        conn.send("ok")
    except BaseException as err:  # pragma: no cover - reported to the parent
        conn.send(repr(err))


def test_concurrent_saves_never_fail_or_leave_temp_folders(tiny_ml1m):
    data = prepare(tiny_ml1m)
    folder = type(tiny_ml1m)(data.stats["cache"]["path"])
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for k in range(4):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_save_many, args=(data, folder, k % 2 == 0, 30, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(60)
    assert results == ["ok"] * 4
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
    same(data, PreparedDataset.load(folder, data.key))


# ---- item 6 and 9: damaged LMDB stores -------------------------------------------------------------
def make_store(path, n=200):
    store = TextStore(path)
    keys = [content_key("t", i) for i in range(n)]
    store.put({k: {"text": f"text number {i} " * 3, "n_tokens": i} for i, k in enumerate(keys)})
    store.close()
    return keys


def test_empty_data_file_is_refused_not_reopened_empty(tmp_path):
    make_store(tmp_path / "s")
    (tmp_path / "s" / "data.mdb").write_bytes(b"")
    with pytest.raises(StoreDamagedError, match="data.mdb is empty") as err:
        TextStore(tmp_path / "s")
    assert str(tmp_path / "s") in str(err.value) and "Delete the folder" in str(err.value)
    assert (tmp_path / "s" / "data.mdb").stat().st_size == 0  # nothing was written into it


_OPEN_TRUNCATED = """
import sys
from ur4rec.store.lmdb_store import TextStore, content_key
from ur4rec.errors import UserError
try:
    TextStore(sys.argv[1]).get([content_key("t", i) for i in range(200)])
    print("opened")
except UserError as err:
    print("user error:", err)
"""


def test_truncated_data_file_is_refused_without_a_crash(tmp_path):
    """Run in a child: before the header check, LMDB read past the end and died of SIGBUS."""
    make_store(tmp_path / "s")
    path = tmp_path / "s" / "data.mdb"
    full = path.read_bytes()
    for size in (8192, len(full) // 2, len(full) - 4096):
        path.write_bytes(full[:size])
        out = subprocess.run([sys.executable, "-c", _OPEN_TRUNCATED, str(tmp_path / "s")], capture_output=True,
                             text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
        assert out.returncode == 0, (size, out.returncode, out.stderr[-500:])
        assert "user error:" in out.stdout and "data.mdb is truncated" in out.stdout and str(tmp_path / "s") in out.stdout


def _meta(raw):
    """(page size, root page of the main database) of the newer of the two meta pages."""
    metas = []
    for off in (0, struct.unpack_from("<I", raw, 40)[0]):
        psize, = struct.unpack_from("<I", raw, off + 40)
        root, _, txnid = struct.unpack_from("<QQQ", raw, off + 128)
        metas.append((txnid, psize, root))
    _, psize, root = max(metas)
    return psize, root


def test_damaged_pages_name_the_store(tmp_path):
    keys = make_store(tmp_path / "s")
    path = tmp_path / "s" / "data.mdb"
    raw = bytearray(path.read_bytes())
    psize, root = _meta(raw)
    struct.pack_into("<H", raw, root * psize + 10, 0x08)  # the root page claims to be a meta page
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreDamagedError, match="CorruptedError") as err:
        TextStore(tmp_path / "s").get(keys[:3])
    assert str(tmp_path / "s") in str(err.value)


def test_not_an_lmdb_file_names_the_store(tmp_path):
    make_store(tmp_path / "s")
    path = tmp_path / "s" / "data.mdb"
    path.write_bytes(b"\x00" * path.stat().st_size)
    with pytest.raises(StoreDamagedError, match="InvalidError") as err:
        TextStore(tmp_path / "s")
    assert str(tmp_path / "s") in str(err.value)


def test_corrupt_value_names_the_store(tmp_path):
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=4)
    key = content_key(1)
    store.put([key], np.ones((1, 4), np.float32))
    store.close()
    env = lmdb.open(str(tmp_path / "v"))
    with env.begin(write=True) as txn:
        raw = bytearray(txn.get(key))
        raw[-1] ^= 0xFF
        txn.put(key, bytes(raw))
    env.close()
    with pytest.raises(CorruptValueError, match="corrupt") as err:
        VectorStore(tmp_path / "v", encoder_id="enc", dim=4).get([key])
    assert str(tmp_path / "v") in str(err.value) and isinstance(err.value, UserError)


def test_sound_store_still_opens_and_grows(tmp_path):
    keys = make_store(tmp_path / "s", n=50)
    store = TextStore(tmp_path / "s")
    more = [content_key("more", i) for i in range(3000)]
    store.put({k: {"text": "x" * 300, "n_tokens": 1} for k in more})
    store.close()
    reopened = TextStore(tmp_path / "s")
    assert len(reopened) == 3050 and reopened.get(keys[:1])[0]["n_tokens"] == 0
