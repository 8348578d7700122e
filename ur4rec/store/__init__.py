"""LMDB stores for generated texts and encoded vectors (the cache between generation, encoding and training)."""
from ur4rec.store.lmdb_store import (CorruptValueError, LMDBStore, StoreDamagedError, StoreMismatchError, TextStore,
                                     VectorStore, content_key)

__all__ = ["CorruptValueError", "LMDBStore", "StoreDamagedError", "StoreMismatchError", "TextStore", "VectorStore", "content_key"]
