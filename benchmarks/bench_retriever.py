"""Retriever cost on real ML-100K rows, every comparison side by side in one run (DESIGN section 8).

1. Path (c) [P; h_1..h_N] with mask (c), one pass per list, against path (b) [P; h_i] per item with
   mask (b): the same weights, 100 candidates, K proxies; forward + backward of the retriever alone.
2. UR4Rec (backbone + retriever, joint training step) against the Base backbone: training samples/s,
   the implied epoch time over TRAIN_SAMPLES_PER_EPOCH rows, and validation scoring samples/s.
3. The retriever's achieved GFLOP/s (analytic FLOP count of path (c), forward + 2x for backward)
   against a plain torch matmul of the FFN's shape ([B*(K+N), d] x [d, 4d]) timed in this run.
4. bf16 autocast against fp32 for the UR4Rec training step and validation scoring, and the epoch that
   implies (speed only; the NDCG effect needs a training run, `ur4rec run ... -b
   "joint/trainers.Supervised.precision='bfloat16'" -b "pretrainers.Retriever.precision='bfloat16'"`).
5. The retriever's dropout (``ur4rec.modules.dropout.Dropout``) against ``nn.Dropout`` on its activations, and
   validation scoring in batches of ``rankers.Neural.eval_batch_size`` against one batch of 256 lists.
6. The optional match-score term (``augmenters.UR4Rec.match_score``, not in the paper): the training step with it
   against the step without.

Knowledge vectors are seeded random vectors of the encoder's width (the cost does not depend on
their content), so this runs without generated LLM texts. The retriever copies the real MiniLM.

Usage: python benchmarks/bench_retriever.py [--backbone prm] [--layers 2] [--proxies 8] [--steps 20]
       [--out benchmarks/results/retriever.md]
"""
from __future__ import annotations

import argparse
import time

import torch

from _common import header, write  # noqa: E402  (puts the repository on sys.path)
from ur4rec.config import load  # noqa: E402
from ur4rec.data.pipeline import prepare_data  # noqa: E402
from ur4rec.modules.dropout import Dropout  # noqa: E402
from ur4rec.train.batches import BatchMaker, TrainingRows  # noqa: E402


def ur4rec_ranker(backbone: str, layers: int, proxies: int, extra: tuple[str, ...] = ()):
    import gin

    load([f"experiments/table2/ml-100k/{backbone}/ur4rec.gin"],
         ["augmenters.UR4Rec.source = @knowledge.Random()", "knowledge.Random.dim = 384",
          f"RETRIEVER_LAYERS = {layers}", f"N_PROXIES = {proxies}", *extra])
    return gin.get_configurable("rankers.Neural")(), gin.query_parameter("%TRAIN_SAMPLES_PER_EPOCH")


def timed(fn, steps: int, warmup: int = 3) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def train_step(model, loss, batch, opt, precision="float32"):
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            value = loss(model(batch), batch.label, batch.cand_mask)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return step


def retriever_flops(b: int, k: int, n: int, s: int, d: int, dz: int, layers: int) -> float:
    """Multiply-adds x 2 of path (c) forward for one batch; backward is counted as 2x forward."""
    t = k + n
    per_layer = (4 * d * d * t  # self-attention q, k, v, out
                 + 2 * t * t * d  # scores and weighted sum
                 + 2 * d * d * t + 2 * s * dz * d  # cross-attention q, out; k, v over Z
                 + 2 * t * s * d  # cross scores and sum
                 + 8 * d * d * t)  # FFN d -> 4d -> d
    return 2.0 * b * layers * per_layer * 3


EVAL_SAMPLES = 256  # validation samples timed per scoring measurement


def scorer(model, make, data, batch_size: int, precision: str = "float32"):
    """Scores the first EVAL_SAMPLES validation samples in batches of ``batch_size``."""
    v = data.valid
    batches = [make(v.user[lo:lo + batch_size], v.pos[lo:lo + batch_size], v.candidates[lo:lo + batch_size])
               for lo in range(0, EVAL_SAMPLES, batch_size)]

    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            for batch in batches:
                model(batch)
    return run


def dropout_step(drop, x, grad):
    return lambda: drop(x).backward(grad)


def matmul_gflops(rows: int, d: int, steps: int) -> float:
    a, w = torch.randn(rows, d), torch.randn(d, 4 * d)
    sec = timed(lambda: a @ w, steps)
    return 2.0 * rows * d * 4 * d / sec / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="prm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--proxies", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    ranker, cap = ur4rec_ranker(args.backbone, args.layers, args.proxies)
    data = prepare_data()
    torch.manual_seed(0)
    model = ranker.build(data)
    base_model = ranker.__class__(ranker.backbone_cls, None, ranker.loss, ranker.trainer, ranker.history_len).build(data)
    make = BatchMaker(data, ranker.history_len)
    bs = ranker.trainer.batch_size
    rows = TrainingRows(data).epoch(0, 0, data.n_candidates, cap=bs)
    batch = make(rows.users, rows.pos, rows.candidates, rows.label)
    aug, retr = model.augmenter, model.augmenter.retriever
    z, z_mask = aug.z(batch)
    h = aug.item_proj(model.backbone.embed_items(batch.cand, batch.cand_attrs)).detach()
    d, n, k, s = retr.dim, batch.cand.shape[1], retr.n_proxies, z.shape[1]

    def path_c():
        p, o = retr.joint(h, batch.cand_mask, z, z_mask)
        (p.sum() + o.sum()).backward()

    def path_b():
        retr.match(h, z, z_mask).sum().backward()

    lines = header("Retriever cost (ML-100K rows, one batch of training rows)")
    sec_c, sec_b = timed(path_c, args.steps), timed(path_b, max(3, args.steps // 5))
    lines += [f"Retriever: {args.layers} layers copied from MiniLM (d={d}), K={k}, {n} candidates, Z of {s} vectors, "
              f"batch {bs}; {args.backbone.upper()} backbone, width {model.backbone.item_dim}.", "",
              "| comparison | A | B | ratio |", "|---|---|---|---|",
              f"| retriever fwd+bwd per batch: path (c) vs path (b) | {sec_c * 1e3:.1f} ms | {sec_b * 1e3:.1f} ms | "
              f"**{sec_b / sec_c:.1f}x faster** (target >= 5x) |"]

    loss = ranker.loss
    opt_u = torch.optim.AdamW(model.parameters(), lr=1e-4)
    opt_b = torch.optim.AdamW(base_model.parameters(), lr=1e-4)
    model.train(), base_model.train()
    sec_u = timed(train_step(model, loss, batch, opt_u), args.steps)
    sec_base = timed(train_step(base_model, loss, batch, opt_b), args.steps)
    sec_u16 = timed(train_step(model, loss, batch, opt_u, "bfloat16"), args.steps)
    model.eval(), base_model.eval()
    ebs = ranker.eval_batch_size
    ev_u, ev_b = timed(scorer(model, make, data, ebs), 3, 1), timed(scorer(base_model, make, data, ebs), 3, 1)
    ev_u16 = timed(scorer(model, make, data, ebs, "bfloat16"), 3, 1)
    big = [timed(scorer(m, make, data, EVAL_SAMPLES, p), 3, 1) for m, p in
           ((model, "float32"), (model, "bfloat16"), (base_model, "float32"))]
    epoch_u = cap / (bs / sec_u) + len(data.valid) / (EVAL_SAMPLES / ev_u)
    epoch_b = cap / (bs / sec_base) + len(data.valid) / (EVAL_SAMPLES / ev_b)
    epoch_u16 = cap / (bs / sec_u16) + len(data.valid) / (EVAL_SAMPLES / ev_u16)
    lines += [f"| training samples/s: UR4Rec vs Base | {bs / sec_u:.0f} | {bs / sec_base:.0f} | "
              f"UR4Rec {sec_u / sec_base:.1f}x slower per sample |",
              f"| validation scoring samples/s (batches of {ebs}): UR4Rec vs Base | {EVAL_SAMPLES / ev_u:.0f} | "
              f"{EVAL_SAMPLES / ev_b:.0f} | {ev_u / ev_b:.1f}x |",
              f"| epoch ({cap:,} training rows + {len(data.valid):,} validation samples): UR4Rec vs Base | "
              f"{epoch_u:.0f} s | {epoch_b:.0f} s | **{epoch_u / epoch_b:.1f}x** (target <= 3x) |",
              f"| UR4Rec training step: bf16 autocast vs fp32 | {bs / sec_u16:.0f} samples/s | {bs / sec_u:.0f} samples/s | "
              f"{sec_u / sec_u16:.2f}x |",
              f"| UR4Rec validation scoring: bf16 autocast vs fp32 | {EVAL_SAMPLES / ev_u16:.0f} samples/s | {EVAL_SAMPLES / ev_u:.0f} "
              f"samples/s | {ev_u / ev_u16:.2f}x |",
              f"| epoch as above: UR4Rec in bf16 autocast vs Base in fp32 | {epoch_u16:.0f} s | {epoch_b:.0f} s | "
              f"**{epoch_u16 / epoch_b:.1f}x** (target <= 3x) |"]

    flops = retriever_flops(bs, k, n, s, d, z.shape[2], args.layers)
    achieved = flops / sec_c / 1e9
    peak = matmul_gflops(bs * (k + n), d, args.steps)
    lines += [f"| retriever path (c) GFLOP/s vs plain matmul [{bs * (k + n)}, {d}] x [{d}, {4 * d}] | {achieved:.0f} | "
              f"{peak:.0f} | **{achieved / peak:.0%}** of matmul (target >= 50%) |", "",
              "FLOPs are counted analytically (projections, attention, FFN; backward = 2x forward).",
              f"Threads: torch {torch.get_num_threads()}."]
    lines += dropout_rows(retr, h, args.steps)
    lines += match_rows(args, data, batch, bs / sec_u)
    lines += [f"| validation scoring, {name}: batches of {ebs} vs one batch of {EVAL_SAMPLES} | "
              f"{EVAL_SAMPLES / small:.0f} samples/s | {EVAL_SAMPLES / one:.0f} samples/s | {one / small:.2f}x |"
              for name, small, one in (("UR4Rec fp32", ev_u, big[0]), ("UR4Rec bf16", ev_u16, big[1]),
                                       ("Base fp32", ev_b, big[2]))]
    lines += ["", "The Base backbones keep `nn.Dropout` (the UR4Rec runs' backbone too), so the Base side of every "
                  "comparison above is the Base model as it trains in the table rows."]
    write(lines, args.out)


def match_rows(args, data, batch, plain_rate: float) -> list[str]:
    """Item 6's match-score term (not in the paper): a UR4Rec training step with it against the step without.
    'pretrained' adds a preference pass and an item pass per step; 'joint' reuses the joint pass's outputs."""
    lines = []
    for form in ("pretrained", "joint"):
        ranker, _ = ur4rec_ranker(args.backbone, args.layers, args.proxies, (f"augmenters.UR4Rec.match_score = '{form}'",))
        torch.manual_seed(0)
        model = ranker.build(data).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        rate = batch.cand.shape[0] / timed(train_step(model, ranker.loss, batch, opt), args.steps)
        lines.append(f"| UR4Rec training step (fp32): match_score='{form}' vs none | {rate:.0f} samples/s | "
                     f"{plain_rate:.0f} samples/s | {plain_rate / rate:.2f}x the time |")
    return lines


def dropout_rows(retr, h, steps: int) -> list[str]:
    """Item 5's dropout rows: the retriever's dropout against nn.Dropout, forward + backward on its activations."""
    lines = ["", "| cheaper form (training mode, fwd+bwd) | new | replaced | ratio |", "|---|---|---|---|"]
    for dtype in (torch.float32, torch.bfloat16):
        act = torch.randn(h.shape[0], retr.n_proxies + h.shape[1], retr.dim, dtype=dtype, requires_grad=True)
        grad = torch.randn_like(act)
        new = timed(dropout_step(Dropout(0.1).train(), act, grad), steps)
        old = timed(dropout_step(torch.nn.Dropout(0.1).train(), act, grad), steps)
        lines.append(f"| dropout p=0.1 on {list(act.shape)} {str(dtype).replace('torch.', '')}: ur4rec Dropout vs "
                     f"nn.Dropout | {new * 1e3:.2f} ms | {old * 1e3:.2f} ms | {old / new:.2f}x |")
    return lines


if __name__ == "__main__":
    main()
