"""How much of each candidate's input does the augment vector carry in a trained run?

CandidateInput maps [e_i; e_aug_i] to W_id e_i + W_aug e_aug_i + b (eq. 9's concatenation, W_aug
initialised to 0). For a finished UR4Rec (or +LLM/KAR) run this loads its best checkpoint, runs the
validation samples through it and reports ||W_aug e_aug|| / ||W_id e|| per candidate (median, mean,
90th percentile), and the change in validation NDCG@10 when e_aug is zeroed: a share near 0 and no
change mean the model ranks as its Base would and the augment path carries nothing. A UR4Rec run with
a match score (``augmenters.UR4Rec.match_score``) also gets a second table: its learned scale, the per-list spread of the
backbone's scores and of the score term, and validation NDCG@10 of the term alone and without it.

Usage: python benchmarks/augment_share.py gin/experiments/table2/ml-100k/prm/ur4rec.gin -b SEED=0 [--samples 2000] [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import ROOT, header, ndcg10, write


def augmented_ranker():
    """The first rankers.Neural of ``experiment.rankers`` that has an augmenter (UR4Rec, +LLM, KAR ...)."""
    import gin

    for ref in gin.query_parameter("experiment.rankers"):
        if ref.selector.endswith("rankers.Neural"):
            ranker = ref.scoped_configurable_fn()
            if ranker.augmenter_cls is not None:
                return ranker
    raise SystemExit("no rankers.Neural with an augmenter in this experiment")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("-b", "--binding", action="append", default=[])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import gin
    import torch

    from ur4rec.backbones.base import CandidateInput
    from ur4rec.config import load
    from ur4rec.data.pipeline import prepare_data
    from ur4rec.experiment import experiment_name
    from ur4rec.train.batches import BatchMaker

    files = [str(Path(f).resolve()) for f in args.files]
    load(files, args.binding)
    data = prepare_data()
    ranker = augmented_ranker()
    seed = gin.query_parameter("%SEED")
    runs = Path(gin.query_parameter("%RUNS_DIR"))  # where `ur4rec run` put the run (relative: from the repo root)
    folder = (runs if runs.is_absolute() else ROOT / runs) / experiment_name(files, args.binding) / data.name
    folder = folder / f"seed{seed}" / ranker.name
    ranker.model = ranker.build(data)
    ranker.make_batch = BatchMaker(data, ranker.history_len)
    state = torch.load(folder / "best.pt", map_location="cpu", weights_only=True)
    ranker.model.load_state_dict(state["model"])
    model = ranker.model.eval()
    cand_in = next(m for m in model.backbone.modules() if isinstance(m, CandidateInput))
    dim = cand_in.proj.weight.shape[0]
    captured = {}
    cand_in.register_forward_hook(lambda mod, inp, out: captured.update(emb=inp[0], aug=inp[1]))
    aug = model.augmenter
    has_bias = getattr(aug, "match_scale", None) is not None
    if has_bias:
        plain_augment = aug.augment

        def keep_bias(b, h):
            e_aug, captured["bias"] = plain_augment(b, h)
            return e_aug, captured["bias"]

        aug.augment = keep_bias
    biases = []

    s = data.samples("valid")
    take = np.random.default_rng(0).permutation(len(s))[:args.samples]
    shares, full, zeroed = [], [], []
    with torch.no_grad():
        for start in range(0, len(take), 256):
            idx = take[start:start + 256]
            batch = ranker.make_batch(s.user[idx], s.pos[idx], s.candidates[idx])
            scores = model(batch)
            w = cand_in.proj.weight
            part_id = captured["emb"] @ w[:, :dim].T
            part_aug = captured["aug"] @ w[:, dim:].T
            mask = batch.cand_mask
            shares.append((part_aug.norm(dim=-1) / part_id.norm(dim=-1).clamp_min(1e-9))[mask].numpy())
            full.append(scores.numpy())
            if has_bias:
                biases.append(captured["bias"].float().numpy())
            w_aug = w[:, dim:].clone()
            w[:, dim:] = 0.0
            zeroed.append(model(batch).numpy())
            w[:, dim:] = w_aug
    shares = np.concatenate(shares)
    labels = s.label[take]
    nd_full = ndcg10(np.concatenate(full), labels).mean()
    nd_zero = ndcg10(np.concatenate(zeroed), labels).mean()
    lines = header(f"Augment share of the candidate input: {' '.join(args.files)} {' '.join(args.binding)}") + [
        f"run: {folder}; {len(take):,} validation samples (seeded draw), {len(shares):,} candidates", "",
        "| ||W_aug e_aug|| / ||W_id e|| median | mean | 90th pct | valid NDCG@10 | with e_aug zeroed |",
        "|---|---|---|---|---|",
        f"| {np.median(shares):.4f} | {shares.mean():.4f} | {np.quantile(shares, 0.9):.4f} | {nd_full:.4f} | {nd_zero:.4f} |"]
    if has_bias:
        lines += match_score_rows(np.concatenate(full), np.concatenate(biases), labels, float(aug.match_scale))
    write(lines, args.out)


def match_score_rows(full: np.ndarray, bias: np.ndarray, labels: np.ndarray, scale: float) -> list[str]:
    def nd(scores):
        return ndcg10(scores, labels).mean()

    def spread(scores):  # mean over lists of the std over real candidates
        return np.nanstd(np.where(finite, scores, np.nan), axis=1).mean()

    finite = np.isfinite(full)  # padding candidates score -inf
    backbone = np.where(finite, full - bias, -np.inf)
    term = np.where(finite, bias, -np.inf)
    spread_b, spread_t = spread(backbone), spread(term)
    lines = ["", f"match score term s * sim(u, i), learned s = {scale:.3f}", "",
             "| per-list std: backbone | term | valid NDCG@10: both | term alone | backbone alone |",
             "|---|---|---|---|---|",
             f"| {spread_b:.3f} | {spread_t:.3f} | {nd(full):.4f} | {nd(term):.4f} | {nd(backbone):.4f} |", "",
             "the same backbone scores with c * s instead of s (what another scale would give, weights unchanged):", "",
             "| c | " + " | ".join(str(c) for c in MULTIPLIERS) + " |", "|---|" + "---|" * len(MULTIPLIERS),
             "| valid NDCG@10 | " + " | ".join(f"{nd(backbone + c * term):.4f}" for c in MULTIPLIERS) + " |"]
    return lines


MULTIPLIERS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)


if __name__ == "__main__":
    main()
