import multiprocessing as mp

import lmdb
import numpy as np
import pytest

from ur4rec.store.lmdb_store import (CorruptValueError, StoreMismatchError, TextStore, VectorStore,
                                     content_key)


def test_text_roundtrip_batched_and_contains(tmp_path):
    store = TextStore(tmp_path / "t")
    keys = [content_key("k", i) for i in range(5)]
    store.put({k: {"text": f"t{i}", "n_tokens": i} for i, k in enumerate(keys[:3])})
    assert store.contains(keys) == [True, True, True, False, False]
    got = store.get(keys)
    assert [g and g["text"] for g in got] == ["t0", "t1", "t2", None, None]
    assert len(store) == 3 and set(store.keys()) == set(keys[:3])


def _child_reads(store, keys, expected, conn):
    try:
        got = store.get(keys)  # the parent's handle must be replaced by a fresh one in this process
        store.put([content_key("child")], np.full((1, 4), 7, np.float32))
        conn.send(bool(np.array_equal(got, expected)))
    except Exception as err:  # pragma: no cover - reported to the parent
        conn.send(repr(err))


def test_store_survives_fork(tmp_path):
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=4)
    keys = [content_key(i) for i in range(10)]
    vecs = np.arange(40, dtype=np.float32).reshape(10, 4)
    store.put(keys, vecs)
    store.get(keys)  # the parent has an open environment before forking
    parent, child = mp.get_context("fork").Pipe()
    proc = mp.get_context("fork").Process(target=_child_reads, args=(store, keys, vecs, child))
    proc.start()
    proc.join(30)
    assert parent.recv() is True and proc.exitcode == 0
    np.testing.assert_array_equal(store.get([content_key("child")]), np.full((1, 4), 7, np.float32))
    np.testing.assert_array_equal(store.get(keys), vecs)  # the parent still reads after the child wrote


def test_map_grows_automatically(tmp_path):
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=256, map_size=1 << 16)
    keys = [content_key(i) for i in range(2000)]  # ~2 MB, 30x the initial map
    vecs = np.random.default_rng(0).standard_normal((2000, 256)).astype(np.float32)
    for s in range(0, 2000, 500):
        store.put(keys[s:s + 500], vecs[s:s + 500])
    assert store.env.info()["map_size"] > 1 << 16
    np.testing.assert_array_equal(store.get(keys), vecs)
    reader = VectorStore(tmp_path / "v", encoder_id="enc", dim=256, readonly=True)
    np.testing.assert_array_equal(reader.get(keys[-3:]), vecs[-3:])


def test_header_mismatch_is_a_clear_error(tmp_path):
    VectorStore(tmp_path / "v", encoder_id="minilm", dim=384)
    with pytest.raises(StoreMismatchError, match="encoder: store has 'minilm', caller wants 'mpnet'"):
        VectorStore(tmp_path / "v", encoder_id="mpnet", dim=384)
    with pytest.raises(StoreMismatchError, match="dim"):
        VectorStore(tmp_path / "v", encoder_id="minilm", dim=768)
    with pytest.raises(StoreMismatchError, match="kind"):
        TextStore(tmp_path / "v")


def test_corrupt_and_truncated_values_are_reported(tmp_path):
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=8)
    keys = [content_key(i) for i in range(3)]
    store.put(keys, np.ones((3, 8), np.float32))
    store.close()
    env = lmdb.open(str(tmp_path / "v"))
    with env.begin(write=True) as txn:
        raw = bytearray(txn.get(keys[0]))
        raw[-1] ^= 0xFF  # flip bits in the payload
        txn.put(keys[0], bytes(raw))
        txn.put(keys[1], txn.get(keys[1])[:-5])  # truncated
    env.close()
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=8)
    with pytest.raises(CorruptValueError, match="corrupt"):
        store.get(keys[:1])
    with pytest.raises(CorruptValueError):
        store.get(keys[1:2])
    np.testing.assert_array_equal(store.get(keys[2:]), np.ones((1, 8), np.float32))
    assert set(store.verify()) == set(keys[:2])


def test_missing_vector_is_a_key_error(tmp_path):
    store = VectorStore(tmp_path / "v", encoder_id="enc", dim=2)
    with pytest.raises(KeyError):
        store.get([content_key("absent")])
    assert np.isnan(store.get([content_key("absent")], missing_ok=True)).all()
