"""UR4Rec against Base, +LLM and the Base-continued control over several seeds: means, spread, t-tests.

For each backbone, row and seed, reads the trained ranker's per-sample test values, its validation
NDCG@10 and training.json (epochs run, whether early stopping fired) from the run folders that
`ur4rec run <gin> -b SEED=k` writes under runs/<experiment>/<dataset>/seed<k>. Rows: base, llm,
ur4rec (table2/<dataset>/<backbone>/<row>) and base-continued (controls/<dataset>/<backbone>/...),
plus any `--row NAME=EXPERIMENT` (e.g. a variant's `+<hash>` folder; {dataset} and {backbone} are
filled in). Significance: paired t-test on NDCG@10, (1) over the pooled per-sample values of the
seeds both rows have, (2) over per-seed means (needs >= 2 seeds).

Usage: python benchmarks/ur4rec_compare.py ml-100k --backbones prm gru4rec --seeds 0 1 2 [--row N=EXP] [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import ROOT, load_experiment, p_text
from ur4rec.evaluation.significance import paired_t_test

ROWS = {"base": "table2/{dataset}/{backbone}/base", "llm": "table2/{dataset}/{backbone}/llm",
        "ur4rec": "table2/{dataset}/{backbone}/ur4rec", "base-continued": "controls/{dataset}/{backbone}/base-continued"}
REFERENCES = ("base", "llm", "base-continued")
METRICS = ("MAP@10", "NDCG@10")


def seed_run(runs: Path, experiment: str, dataset: str, seed: int) -> dict | None:
    run = load_experiment(runs, experiment, dataset, seed)
    if run is None:
        return None
    training = run["training"]
    valid = [r for r in run["payload"]["splits"].get("valid", {}).get("rows", []) if r["ranker"] == run["name"]]
    return {**run, "epochs": training.get("epoch", "?"), "stopped": training.get("stopped_by", "?"),
            "best_epoch": training["best_epoch"] + 1 if "best_epoch" in training else "?", "valid": valid[0]["NDCG@10"] if valid else float("nan")}


def compare(a: list[dict], b: list[dict]) -> tuple[float, float]:
    """(p over pooled samples, p over seed means) for NDCG@10 of rows a vs b on the same seeds."""
    pooled = paired_t_test(np.concatenate([r["values"]["NDCG@10"] for r in a]),
                           np.concatenate([r["values"]["NDCG@10"] for r in b]))
    means_a = [r["values"]["NDCG@10"].mean() for r in a]
    means_b = [r["values"]["NDCG@10"].mean() for r in b]
    over_seeds = paired_t_test(np.array(means_a), np.array(means_b)) if len(a) >= 2 else float("nan")
    return pooled, over_seeds


def mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f}"


def row_line(backbone: str, row: str, runs: dict, seeds: list[int]) -> tuple[str, list[str], str]:
    rs = [r for r in runs[row] if r is not None]
    if not rs:
        return f"| {backbone} | {row} | 0 | — | — | — | not run | | | |", [], ""
    stats = " | ".join(mean_sd([r["values"][m].mean() for r in rs]) for m in METRICS)
    epochs = ", ".join(f"{r['epochs']} ({r['best_epoch']}){'' if r['stopped'] == 'early stopping' else ' CAP'}"
                       for r in rs)
    cells = []
    for ref in REFERENCES:
        pairs = [(x, y) for x, y in zip(runs[row], runs.get(ref, [])) if x is not None and y is not None]
        if row == ref or not pairs:
            cells.append("")
            continue
        ps, pm = compare([x for x, _ in pairs], [y for _, y in pairs])
        cells.append(f"{p_text(ps)} / {p_text(pm)}")
    valid = np.nanmean([r["valid"] for r in rs])
    line = f"| {rs[0]['name']} | {row} | {len(rs)} | {valid:.4f} | {stats} | {epochs} | " + " | ".join(cells) + " |"
    commands = [f"- {row} seed {s}: `{r['payload']['command']}` (commit {r['payload']['commit']})"
                for s, r in zip(seeds, runs[row]) if r is not None]
    return line, commands, rs[0]["payload"]["splits"]["test"]["caption"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--backbones", nargs="+", default=["prm", "gru4rec"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--row", action="append", default=[], help="NAME=EXPERIMENT folder under runs/ (extra row)")
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = dict(ROWS, **dict(r.split("=", 1) for r in args.row))
    lines = ["| ranker | row | seeds | valid NDCG@10 (mean) | " + " | ".join(f"test {m} mean ± sd" for m in METRICS)
             + " | epochs (best) per seed | p vs Base: samples / seeds | p vs +LLM | p vs Base continued |",
             "|---|---|---|---|" + "---|" * len(METRICS) + "---|---|---|---|"]
    commands, caption = [], ""
    for backbone in args.backbones:
        runs = {row: [seed_run(Path(args.runs), exp.format(dataset=args.dataset, backbone=backbone), args.dataset, s)
                      for s in args.seeds] for row, exp in rows.items()}
        for row in rows:
            line, cmds, cap = row_line(backbone, row, runs, args.seeds)
            lines.append(line)
            commands += cmds
            caption = caption or cap
    text = "\n".join([f"# UR4Rec vs Base, +LLM and Base continued on {args.dataset} (test split, best-validation "
                      "checkpoint)", "", *lines, "", caption, "",
                      "epochs: epochs run (best epoch); CAP marks a run stopped by the epoch cap instead of early "
                      "stopping. p: paired t-test on test NDCG@10, over the pooled per-sample values of the seeds "
                      "both rows have / over per-seed means; * = p < 0.05.", "", "Runs:", "", *commands]) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
