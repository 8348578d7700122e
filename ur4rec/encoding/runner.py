"""Resumable encoding behind ``ur4rec encode``: texts -> LMDB vector store, batch by batch (eq. 5's Z).

The key of a vector is hash(text, encoder id, pooling, max length, normalisation); missing texts are
deduplicated, sorted by length and encoded in batches, each committed in one transaction, so a rerun
encodes nothing already stored and ``kill -9`` loses at most the batch in flight.
"""
from __future__ import annotations

import re
import time
from typing import Sequence

import numpy as np

from ur4rec.encoding.encoders import TextEncoder
from ur4rec.generation.runner import RunStats, _progress
from ur4rec.paths import cache_dir
from ur4rec.progress import LogLines, file_log
from ur4rec.store.lmdb_store import VectorStore, content_key


def vector_key(text: str, encoder: TextEncoder) -> bytes:
    return content_key("enc", text, encoder.encoder_id, encoder.params())


def vector_store(encoder: TextEncoder, readonly: bool = False) -> VectorStore:
    """One store per encoder; its header (encoder id, dim, dtype) is checked on every open."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.encoder_id)
    return VectorStore(cache_dir("stores") / f"vectors-{safe}", encoder_id=encoder.encoder_id, dim=encoder.dim,
                       readonly=readonly)


def encode_texts(texts: Sequence[str], encoder: TextEncoder, store: VectorStore | None = None, console=None,
                 progress: bool = True, chunk: int | None = None) -> tuple[np.ndarray, RunStats]:
    """[len(texts), dim] vectors, encoding (and storing) only the texts not yet in ``store``."""
    store = store or vector_store(encoder)
    keys = [vector_key(t, encoder) for t in texts]
    unique = dict(zip(keys, texts))
    ukeys = list(unique)
    todo = [k for k, have in zip(ukeys, store.contains(ukeys)) if not have]
    stats = RunStats(total=len(texts))
    todo_set = set(todo)
    stats.cached = sum(1 for k in keys if k not in todo_set)
    if todo:
        todo.sort(key=lambda k: len(unique[k]), reverse=True)
        size = chunk or max(encoder.batch_size, 1) * 4  # a few encoder batches per commit
        bar = _progress(console) if progress else None
        task = bar.add_task("encoding", total=len(todo), texts_s=0.0, tokens_s=0.0) if bar else None
        lines = LogLines(file_log(console) if progress else None, "encoding", len(todo), "texts")
        start = time.perf_counter()
        try:
            if bar:
                bar.start()
            for s in range(0, len(todo), size):
                batch = todo[s:s + size]
                vecs = encoder.encode([unique[k] for k in batch])
                store.put(batch, vecs)
                stats.generated += len(batch)
                stats.batches += 1
                lines.update(len(batch))
                if bar:
                    el = time.perf_counter() - start
                    bar.update(task, advance=len(batch), texts_s=stats.generated / el, tokens_s=0.0)
        finally:
            if bar:
                bar.stop()
            stats.seconds = time.perf_counter() - start
    return store.get(keys), stats
