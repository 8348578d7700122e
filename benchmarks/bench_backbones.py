"""Training and scoring throughput of each backbone on a real prepared dataset (ML-100K by default).

For every backbone gin file this loads the same config a Table 2 run uses (dataset + backbone +
train/neural.gin), builds the model, and times ``--steps`` optimiser steps on real training rows
(100 candidates each, the backbone's own history window and batch size), after ``--warmup`` steps.
It reports training samples/s, the implied time of one epoch over ``TRAIN_SAMPLES_PER_EPOCH`` rows
(budget file) and over every training target, and scoring samples/s on the validation split.
Threads: whatever torch uses in this process (set OMP_NUM_THREADS / taskset outside); it is recorded.

Usage: python benchmarks/bench_backbones.py [--dataset ml-100k] [--out benchmarks/results/backbones.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ur4rec.config import load  # noqa: E402
from ur4rec.data.pipeline import prepare_data  # noqa: E402
from ur4rec.train.batches import BatchMaker, TrainingRows  # noqa: E402

BACKBONES = ("dlcm", "prm", "setrank", "gru4rec", "sasrec")


def bench_one(dataset: str, backbone: str, steps: int, warmup: int, eval_samples: int) -> dict:
    load([f"experiments/table2/{dataset}/{backbone}/base.gin"])
    import gin

    data = prepare_data()
    ranker = gin.get_configurable("rankers.Neural")()  # every slot bound by the gin file just loaded
    trainer = ranker.trainer
    cap = gin.query_parameter("%TRAIN_SAMPLES_PER_EPOCH")
    torch.manual_seed(0)
    model = ranker.build(data)
    make = BatchMaker(data, ranker.history_len)
    rows_all = TrainingRows(data)
    bs = trainer.batch_size
    rows = rows_all.epoch(0, 0, data.n_candidates, cap=(steps + warmup) * bs)
    opt = torch.optim.AdamW(model.parameters(), lr=trainer.lr)
    model.train()
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        sl = slice(step * bs, (step + 1) * bs)
        batch = make(rows.users[sl], rows.pos[sl], rows.candidates[sl], rows.label[sl])
        value = ranker.loss(model(batch), batch.label, batch.cand_mask)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    train_s = time.perf_counter() - start
    rate = steps * bs / train_s
    ranker.model, ranker.make_batch = model.eval(), make
    sub = data.valid.subset(np.arange(min(eval_samples, len(data.valid))))
    start = time.perf_counter()
    for lo in range(0, len(sub), ranker.eval_batch_size):
        ranker.score(data, sub.subset(np.arange(lo, min(lo + ranker.eval_batch_size, len(sub)))))
    eval_rate = len(sub) / (time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    return {"backbone": type(model.backbone).__name__, "L": ranker.history_len, "batch": bs, "params": params,
            "train/s": rate, "epoch_cap_s": (cap or len(rows_all)) / rate, "cap": cap,
            "epoch_full_s": len(rows_all) / rate, "n_train": len(rows_all), "eval/s": eval_rate,
            "valid_epoch_s": len(data.valid) / eval_rate, "n_valid": len(data.valid)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--eval-samples", type=int, default=2048)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = [bench_one(args.dataset, b, args.steps, args.warmup, args.eval_samples) for b in args.backbones]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    r0 = results[0]
    lines = [
        f"# backbone throughput: {args.dataset}",
        "",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- machine: {platform.node()}, {os.cpu_count()} cores ({platform.machine()}); pinned to CPUs {affinity}, "
        f"torch {torch.__version__} with {torch.get_num_threads()} thread(s); commit {commit}",
        f"- training: {args.steps} timed AdamW steps after {args.warmup} warm-up steps, {r0['n_train']:,} training targets "
        f"in the dataset, 100 candidates per row; epoch time = rows / samples per second "
        f"(capped epoch = TRAIN_SAMPLES_PER_EPOCH of the budget file)",
        f"- scoring: {args.eval_samples} validation samples (eval mode, no grad); a validation pass covers {r0['n_valid']:,} samples",
        "",
        "| backbone | L | batch | parameters | train samples/s | capped epoch (s) | full epoch (s) | score samples/s | validation pass (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['backbone']} | {r['L']} | {r['batch']} | {r['params']:,} | {r['train/s']:.0f} | "
                     f"{r['epoch_cap_s']:.0f} ({r['cap'] or 'all'} rows) | {r['epoch_full_s']:.0f} | {r['eval/s']:.0f} | {r['valid_epoch_s']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
