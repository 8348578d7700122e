"""UR4Rec against Base and +LLM over several seeds: means, spread, and paired t-tests two ways.

For each backbone and row (base, llm, ur4rec) and seed, reads the trained ranker's test per-sample
values and training.json (epochs run, whether early stopping fired) from the run folders that
`ur4rec run gin/experiments/table2/<dataset>/<backbone>/<row>.gin -b SEED=k` writes. Significance:
(1) over samples: paired t-test on the per-sample NDCG@10 of all seeds pooled (same samples, same
seeds on both sides); (2) over seeds: paired t-test on the per-seed means (needs >= 2 seeds).

Usage: python benchmarks/ur4rec_compare.py ml-100k --backbones prm gru4rec --seeds 0 1 2 [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import ROOT, load_trained, p_text
from ur4rec.evaluation.significance import paired_t_test

ROWS = ("base", "llm", "ur4rec")
METRICS = ("MAP@10", "NDCG@10")


def seed_run(runs: Path, dataset: str, backbone: str, row: str, seed: int) -> dict | None:
    run = load_trained(runs, dataset, backbone, row, seed)
    if run is None:
        return None
    training = run["training"]
    return {**run, "epochs": training["epoch"], "stopped": training.get("stopped_by", "?"),
            "best_epoch": training["best_epoch"] + 1}


def compare(a: list[dict], b: list[dict]) -> tuple[float, float]:
    """(p over pooled samples, p over seed means) for NDCG@10 of rows a vs b on the same seeds."""
    pooled = paired_t_test(np.concatenate([r["values"]["NDCG@10"] for r in a]),
                           np.concatenate([r["values"]["NDCG@10"] for r in b]))
    means_a = [r["values"]["NDCG@10"].mean() for r in a]
    means_b = [r["values"]["NDCG@10"].mean() for r in b]
    over_seeds = paired_t_test(np.array(means_a), np.array(means_b)) if len(a) >= 2 else float("nan")
    return pooled, over_seeds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--backbones", nargs="+", default=["prm", "gru4rec"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    head = ["| backbone | row | seeds | " + " | ".join(f"{m} mean ± sd" for m in METRICS)
            + " | epochs (best) per seed | p vs Base: samples / seeds | p vs +LLM: samples / seeds |",
            "|---|---|---|" + "---|" * len(METRICS) + "---|---|---|"]
    lines, commands, caption = list(head), [], ""
    for backbone in args.backbones:
        runs = {row: [seed_run(Path(args.runs), args.dataset, backbone, row, s) for s in args.seeds] for row in ROWS}
        done = {row: [r for r in rs if r is not None] for row, rs in runs.items()}
        for row in ROWS:
            rs = done[row]
            if not rs:
                lines.append(f"| {backbone} | {row} | 0 | " + " | ".join("—" for _ in METRICS) + " | not run | | |")
                continue
            caption = rs[0]["payload"]["splits"]["test"]["caption"]
            stats = " | ".join(f"{np.mean([r['values'][m].mean() for r in rs]):.4f} ± "
                               f"{np.std([r['values'][m].mean() for r in rs], ddof=1) if len(rs) > 1 else 0:.4f}"
                               for m in METRICS)
            epochs = ", ".join(f"{r['epochs']} ({r['best_epoch']}){'' if r['stopped'] == 'early stopping' else ' CAP'}"
                               for r in rs)
            cells = []
            for ref in ("base", "llm"):
                pairs = [(x, y) for x, y in zip(runs[row], runs[ref]) if x is not None and y is not None]
                if row == ref or not pairs or ROWS.index(ref) >= ROWS.index(row):
                    cells.append("")
                    continue
                ps, pm = compare([x for x, _ in pairs], [y for _, y in pairs])
                cells.append(f"{p_text(ps)} / {p_text(pm)}")
            lines.append(f"| {rs[0]['name']} | {row} | {len(rs)} | {stats} | {epochs} | {cells[0]} | {cells[1]} |")
            commands += [f"- {r['name']} seed {s}: `{r['payload']['command']}` (commit {r['payload']['commit']})"
                         for s, r in zip(args.seeds, runs[row]) if r is not None]
    text = "\n".join([f"# UR4Rec vs Base and +LLM on {args.dataset} (test split, best-validation checkpoint)", "",
                      *lines, "", caption, "",
                      "epochs: epochs run (best epoch); CAP marks a run stopped by the epoch cap instead of early stopping. "
                      "p: paired t-test on NDCG@10, over the pooled per-sample values of all seeds / over per-seed means; "
                      "* = p < 0.05.", "", "Runs:", "", *commands]) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
