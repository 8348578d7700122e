"""Is there anything in a knowledge source for a reranker to use? Late fusion of a trained Base with cos(e_u, e_i).

For a finished Base row (its published checkpoint), scores the validation and test lists, standardises
within each list both the Base scores and the knowledge score cos(e_u, e_i) of each candidate, and ranks
by base + w * knowledge, with w chosen on validation from a grid. Reports test NDCG@10 of Base, of the
knowledge score alone and of the fusion, with a paired t-test of fusion against Base. Not a model of
the paper: a bound-free check of whether the knowledge carries signal the Base ranking lacks. With
``-b "KNOWLEDGE=@knowledge.Oracle()"`` (every user's vector leaks its targets) it shows what a model
that could use such knowledge would gain; with the default LLM knowledge, what SmolLM2's texts offer.

Usage: python benchmarks/knowledge_fusion.py gin/experiments/table2/ml-100k/prm/base.gin [-b SEED=0]
       [-b "KNOWLEDGE=@knowledge.Oracle()"] [--out FILE]
"""
from __future__ import annotations

import argparse

import numpy as np

from _common import header, ndcg10 as ndcg, p_text, write

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


def standardised(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-9)


def load_base(ranker, data, seed: int) -> None:
    """Put the published Base checkpoint of ``ranker`` (a Base row's rankers.Neural) in place for scoring."""
    import torch

    from ur4rec.train.batches import BatchMaker

    path = ranker.base_path(ranker.base_key(data, seed))
    if not path.is_file():
        raise SystemExit(f"no published Base checkpoint {path}: run the Base row with this seed first")
    ranker.model = ranker.build(data)
    ranker.model.backbone.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["backbone"])
    ranker.model.eval()
    ranker.make_batch = BatchMaker(data, ranker.history_len)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("-b", "--binding", action="append", default=[])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import gin

    from ur4rec.config import load
    from ur4rec.data.pipeline import prepare_data
    from ur4rec.evaluation.significance import paired_t_test
    from ur4rec.index.faiss_index import unit_rows
    from ur4rec.knowledge import knowledge_source

    load(args.files + ["knowledge/llm.gin"], args.binding)
    data = prepare_data()
    seed = gin.query_parameter("%SEED")
    ranker = next(r.scoped_configurable_fn() for r in gin.query_parameter("experiment.rankers")
                  if r.selector.endswith("rankers.Neural"))
    vectors = knowledge_source().vectors(data)
    user, item = unit_rows(vectors.user), unit_rows(vectors.item)
    load_base(ranker, data, seed)
    parts = {}
    for split in ("valid", "test"):
        s = data.samples(split)
        parts[split] = (standardised(ranker.score(data, s)),
                        standardised(np.einsum("sd,snd->sn", user[s.user], item[s.candidates])), s.label)
    bv, kv, lv = parts["valid"]
    valid = {w: ndcg(bv + w * kv, lv).mean() for w in WEIGHTS}
    best = max(valid, key=valid.get)
    bt, kt, lt = parts["test"]
    base, alone, fused = ndcg(bt, lt), ndcg(kt, lt), ndcg(bt + best * kt, lt)
    lines = header(f"Late fusion of {ranker.name} Base with cos(e_u, e_i): {' '.join(args.files)} "
                   f"{' '.join(args.binding)}") + [
        f"knowledge: {vectors.description}", f"seed {seed}; {len(lv):,} validation and {len(lt):,} test lists of "
        f"{data.n_candidates} candidates; w chosen on validation from {list(WEIGHTS)}", "",
        "| w | valid NDCG@10 |", "|---|---|", *[f"| {w} | {v:.4f} |" for w, v in valid.items()], "",
        "| test NDCG@10 | Base | knowledge alone | Base + w * knowledge (w = %s) | p fusion vs Base |" % best,
        "|---|---|---|---|---|",
        f"| | {base.mean():.4f} | {alone.mean():.4f} | {fused.mean():.4f} | {p_text(paired_t_test(fused, base))} |"]
    write(lines, args.out)


if __name__ == "__main__":
    main()
