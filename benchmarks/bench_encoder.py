"""Our frozen encoder vs sentence-transformers on the same texts and model (all-MiniLM-L6-v2 or all-mpnet-base-v2).

Texts are generated ML-100K knowledge texts from the text store when present (else metadata texts).
Both sides: batch 64, max length 256, mean pooling + L2 norm; one warm-up batch each, then timed.
Target (issue 3): ours >= 1.0x sentence-transformers' texts/s; vectors must agree (max |diff| shown).
Usage: python benchmarks/bench_encoder.py [--model all-mpnet-base-v2] [--n 512] [--out benchmarks/results/encoder.md]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _common import header, write


def texts_for(n: int) -> tuple[list[str], str]:
    from ur4rec.knowledge import text_store

    try:
        store = text_store()
        recs = [r for r in store.get(store.keys()[:n]) if r]
        if len(recs) >= n:
            return [r["text"] for r in recs], "generated SmolLM2 texts from the text store"
    except Exception:
        pass
    from ur4rec.config import load
    from ur4rec.data.pipeline import prepare_data

    load(["datasets/ml-100k.gin"])
    data = prepare_data()
    return [data.items[i].text() for i in range(1, n + 1)], "ML-100K item metadata texts"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="a name encoders.HF knows, or a model folder")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from sentence_transformers import SentenceTransformer

    from ur4rec.encoding.encoders import HFEncoder
    from ur4rec.generation.llms import _configure_runtime

    _configure_runtime()
    texts, source = texts_for(args.n)
    ours = HFEncoder(model=args.model, batch_size=64, max_length=256)
    st = SentenceTransformer(str(ours.path()), device="cpu")
    st.max_seq_length = 256
    ours.encode(texts[:64])
    st.encode(texts[:64], batch_size=64)

    def best(fn):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    t_ours, v_ours = best(lambda: ours.encode(texts))
    t_st, v_st = best(lambda: st.encode(texts, batch_size=64, normalize_embeddings=True))
    diff = float(np.abs(v_ours - v_st).max())
    lines = header(f"Encoder texts/s: ur4rec HFEncoder vs SentenceTransformer.encode ({args.model})") + [
        f"{len(texts)} texts ({source}; mean {np.mean([len(t) for t in texts]):.0f} chars), best of {args.repeats}.", "",
        "| method | seconds | texts/s |", "|---|---|---|",
        f"| sentence-transformers encode | {t_st:.2f} | {len(texts) / t_st:.1f} |",
        f"| ur4rec encoders.HF | {t_ours:.2f} | {len(texts) / t_ours:.1f} |", "",
        f"**ours / sentence-transformers = {t_st / t_ours:.2f}x** (target >= 1.0x); max |vector difference| = {diff:.2e}",
    ]
    write(lines, args.out)


if __name__ == "__main__":
    main()
