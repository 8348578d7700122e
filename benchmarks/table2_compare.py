"""Table 2 side by side: each backbone's Base, +BERT and +LLM rows, with a paired t-test against Base.

Reads the per-sample test values that `ur4rec run gin/experiments/table2/<dataset>/<backbone>/<row>.gin`
writes under runs/table2/<dataset>/<backbone>/<row>/<dataset>/seed<k>/<ranker>/test_per_sample.npz.
Usage: python benchmarks/table2_compare.py ml-100k [--note "..."] [--out benchmarks/results/table2_ml-100k.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from _common import ROOT, TABLE2_BACKBONES, load_trained, p_text
from ur4rec.evaluation.significance import paired_t_test

ROWS = ("base", "bert", "llm")
METRICS = ("MAP@10", "NDCG@5", "NDCG@10", "NDCG@20")


def load_row(runs: Path, dataset: str, backbone: str, row: str, seed: int) -> dict | None:
    """The trained ranker's test per-sample values, name, command and commit; None when not run."""
    run = load_trained(runs, dataset, backbone, row, seed)
    if run is None:
        return None
    payload = run["payload"]
    return {"name": run["name"], "values": run["values"], "command": payload["command"], "commit": payload["commit"],
            "caption": payload["splits"]["test"]["caption"], "machine": payload["machine"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    header = ("| backbone | row | " + " | ".join(METRICS) + " | Δ NDCG@10 vs Base | p vs Base (NDCG@10) |")
    lines, commands, caption, machine = [header, "|" + "---|" * (len(METRICS) + 4)], [], "", ""
    for backbone in TABLE2_BACKBONES:
        base = load_row(Path(args.runs), args.dataset, backbone, "base", args.seed)
        for row in ROWS:
            run = base if row == "base" else load_row(Path(args.runs), args.dataset, backbone, row, args.seed)
            if run is None:
                lines.append(f"| {backbone} | {row} | " + " | ".join("—" for _ in METRICS) + " | not run | |")
                continue
            caption, machine = run["caption"], run["machine"]
            commands.append(f"- {run['name']}: `{run['command']}` (commit {run['commit']})")
            means = " | ".join(f"{run['values'][m].mean():.4f}" for m in METRICS)
            if row == "base" or base is None:
                lines.append(f"| {run['name']} | {row} | {means} | | |")
                continue
            ours, ref = run["values"]["NDCG@10"], base["values"]["NDCG@10"]
            lines.append(f"| {run['name']} | {row} | {means} | {ours.mean() - ref.mean():+.4f} "
                         f"| {p_text(paired_t_test(ours, ref))} |")
    text = "\n".join([f"# Table 2 rows side by side on {args.dataset} (test split, best validation NDCG@10 checkpoint, seed {args.seed})",
                      "", *lines, "", caption, "", f"machine: {machine}" + (f"; {args.note}" if args.note else ""),
                      "", "Runs:", "", *commands]) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
