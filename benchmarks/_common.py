"""Shared bits of the knowledge benchmarks: machine/commit/command header and the results writer."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def header(title: str) -> list[str]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    import torch

    from ur4rec.device import machine_description

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [f"# {title}", "",
            f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}`",
            f"- machine: {machine_description()}, "
            f"this process pinned to cores {affinity}, torch threads {torch.get_num_threads()}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
            f"- commit: {commit}", ""]


def ndcg10(scores, labels):
    """Per-sample NDCG@10 of score lists [S, N] (-inf for padding) against the positives' positions [S]."""
    from ur4rec.evaluation.metrics import per_sample, pessimistic_rank

    return per_sample(pessimistic_rank(scores, labels))["NDCG@10"]


def write(lines: list[str], out: str | None) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)


# ---- Table 2 runs: runs/table2/<dataset>/<backbone>/<row>/<dataset>/seed<k>/ as `ur4rec run` writes them ----
TABLE2_BACKBONES = ("dlcm", "prm", "setrank", "gru4rec", "sasrec")
REFERENCE_ROWS = ("Popularity", "random floor")  # printed beside the trained ranker in every Table 2 run


def table2_run(runs: Path, dataset: str, backbone: str, row: str, seed: int) -> tuple[Path, dict] | None:
    """(run folder, metrics.json payload) of one Table 2 run; None when it has not been run."""
    return experiment_run(runs, f"table2/{dataset}/{backbone}/{row}", dataset, seed)


def experiment_run(runs: Path, experiment: str, dataset: str, seed: int) -> tuple[Path, dict] | None:
    """(run folder, payload) of ``<runs>/<experiment>/<dataset>/seed<k>``; None when it has not finished."""
    import json

    folder = Path(runs) / experiment / dataset / f"seed{seed}"
    if not (folder / "metrics.json").is_file():
        return None
    return folder, json.loads((folder / "metrics.json").read_text())


def load_trained(runs: Path, dataset: str, backbone: str, row: str, seed: int) -> dict | None:
    """The Table 2 run's trained ranker (see ``load_experiment``); None when not run."""
    return load_experiment(runs, f"table2/{dataset}/{backbone}/{row}", dataset, seed)


def load_experiment(runs: Path, experiment: str, dataset: str, seed: int) -> dict | None:
    """The run's trained ranker: name, test per-sample values, training.json, payload; None when not run."""
    import json

    import numpy as np

    run = experiment_run(runs, experiment, dataset, seed)
    if run is None:
        return None
    folder, payload = run
    name = trained_row(payload)["ranker"]
    training = folder / name / "training.json"
    return {"name": name, "values": dict(np.load(folder / name / "test_per_sample.npz")), "payload": payload,
            "training": json.loads(training.read_text()) if training.is_file() else {}}


def trained_row(payload: dict) -> dict:
    """The test-split row of the run's one trained ranker (every row but the reference ones)."""
    (model,) = [r for r in payload["splits"]["test"]["rows"] if r["ranker"] not in REFERENCE_ROWS]
    return model


def p_text(p: float) -> str:
    """A p-value as a table cell: '<1e-16', scientific below 0.001, '*' when p < 0.05, 'n/a' when undefined."""
    if p != p:  # NaN: too few pairs for a test
        return "n/a"
    return ("<1e-16" if p < 1e-16 else f"{p:.1e}" if p < 0.001 else f"{p:.3f}") + ("*" if p < 0.05 else "")
