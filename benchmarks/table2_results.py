"""Collect the Table 2 Base runs of each backbone into one Markdown table (test split, best-validation checkpoint).

Reads runs/table2/<dataset>/<backbone>/<row>/<dataset>/seed<k>/metrics.json (+ training.json) as
written by `ur4rec run gin/experiments/table2/<dataset>/<backbone>/<row>.gin`.
Usage: python benchmarks/table2_results.py ml-100k [--row base] [--out benchmarks/results/backbones_table2_ml-100k.md]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import REFERENCE_ROWS, ROOT, TABLE2_BACKBONES, table2_run, trained_row

METRICS = ("MAP@1", "MAP@5", "MAP@10", "MAP@20", "NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20")


CAPS = ("TRAIN_SAMPLES_PER_EPOCH", "EPOCHS", "PATIENCE", "LR", "BATCH_SIZE", "EMBED_DIM", "HISTORY_LEN",
        "EVAL_TARGETS_PER_USER")


def caps(operative: Path) -> list[str]:
    """The budget macros as the run actually used them."""
    found = {}
    for line in operative.read_text().splitlines():
        name, _, value = line.partition(" = ")
        if name in CAPS:
            found[name] = value
    return [f"{k}={found[k]}" for k in CAPS if k in found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("--row", default="base")
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line on how the runs were executed (threads, cores)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    header = "| ranker | " + " | ".join(m.replace("MAP", "M").replace("NDCG", "N") for m in METRICS) \
             + " | p vs Popularity (N@10) | best epoch / run | train samples/s |"
    lines, fixed, notes = [header, "|" + "---|" * (len(METRICS) + 4)], {}, []
    for backbone in TABLE2_BACKBONES:
        run = table2_run(Path(args.runs), args.dataset, backbone, args.row, args.seed)
        if run is None:
            lines.append(f"| {backbone} | " + " | ".join("—" for _ in METRICS) + " | not run | | |")
            continue
        folder, payload = run
        rows = {r["ranker"]: r for r in payload["splits"]["test"]["rows"]}
        for name in REFERENCE_ROWS:
            fixed.setdefault(name, rows[name])
        model = trained_row(payload)
        training = json.loads(next(folder.glob("*/training.json")).read_text())
        rate = sum(h["samples/s"] for h in training["history"]) / len(training["history"])
        p = model.get("p vs Popularity")
        shown = "" if p is None else ("<1e-16" if p < 1e-16 else f"{p:.1e}") + ("*" if p < 0.05 else "")
        lines.append(f"| {model['ranker']} | " + " | ".join(f"{model[m]:.4f}" for m in METRICS)
                     + f" | {shown} | {training['best_epoch'] + 1} / {training['epoch']}"
                     + f" | {rate:.0f} |")
        notes.append(f"- {model['ranker']}: `{payload['command']}` (commit {payload['commit']}); "
                     + ", ".join(caps(folder / "operative_config.gin")))
        caption, machine = payload["splits"]["test"]["caption"], payload["machine"]
    for name, r in fixed.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[m]:.4f}" for m in METRICS) + " | | | |")
    text = "\n".join([f"# Table 2/6 {args.row} rows on {args.dataset} (test split, best validation NDCG@10 checkpoint)", "",
                      *lines, "", caption, "", f"machine: {machine}" + (f"; {args.note}" if args.note else ""), "",
                      "Commands, commits and the caps each run used (from its operative config):", "", *notes]) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
