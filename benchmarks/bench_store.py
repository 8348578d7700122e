"""LMDB vector store batched reads vs an in-memory numpy gather (vectors/s both).

Writes N random 384-d float32 vectors (MiniLM width) to a fresh store, then reads random batches of B
keys (as a training loader would: e_u^aggr needs 1 + L vectors per sample) through
``VectorStore.get`` (one read transaction per batch, checksum-verified) and through ``array[idx]``.
Usage: python benchmarks/bench_store.py [--n 100000] [--batch 1024] [--out benchmarks/results/store.md]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from _common import header, write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from ur4rec.store.lmdb_store import VectorStore, content_key

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    keys = [content_key("bench", i) for i in range(args.n)]
    batches = [rng.integers(0, args.n, args.batch) for _ in range(args.batches)]
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(tmp + "/v", encoder_id="bench", dim=args.dim)
        t = time.perf_counter()
        for s in range(0, args.n, 4096):
            store.put(keys[s:s + 4096], vecs[s:s + 4096])
        write_s = time.perf_counter() - t
        store.get([keys[i] for i in batches[0]])  # warm the page cache
        t = time.perf_counter()
        for idx in batches:
            got = store.get([keys[i] for i in idx])
        lmdb_s = time.perf_counter() - t
        assert np.array_equal(got, vecs[batches[-1]])
        t = time.perf_counter()
        for idx in batches:
            got = vecs[idx]
        np_s = time.perf_counter() - t
    total = args.batch * args.batches
    lines = header("LMDB vector store: batched reads vs in-memory numpy gather") + [
        f"{args.n:,} vectors x {args.dim} float32 ({args.n * args.dim * 4 / 2**20:.0f} MiB); {args.batches} random batches "
        f"of {args.batch} keys; store written in {write_s:.2f}s ({args.n / write_s:,.0f} vectors/s, commits of 4096).", "",
        "| method | seconds | vectors/s |", "|---|---|---|",
        f"| numpy gather `array[idx]` | {np_s:.4f} | {total / np_s:,.0f} |",
        f"| VectorStore.get (one txn per batch, crc32 checked) | {lmdb_s:.4f} | {total / lmdb_s:,.0f} |", "",
        f"numpy / LMDB = {lmdb_s / np_s:.1f}x. LMDB reads include a B-tree lookup, a crc32 check and a copy per vector; "
        "a training run loads KnowledgeVectors into memory once, the store is the durable cache behind it.",
    ]
    write(lines, args.out)


if __name__ == "__main__":
    main()
