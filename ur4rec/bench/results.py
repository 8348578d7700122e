"""Read finished run folders into per-cell results with significance (paired t-tests).

A run folder holds ``metrics.json`` (rows of every ranker it fitted) and
``<ranker>/test_per_sample.npz``. The row's model is the last ranker that is neither the run's
reference baseline (Popularity) nor the random floor.

Significance, on the table's key metric (NDCG@10) and on each shown metric for the marks:
- *over samples*: a paired t-test on per-sample values, each averaged over the seeds both rows have;
- *over users*: the same averaged values, each user's differences averaged first (a user's ~10 targets are not
  independent samples), when the run folders record each sample's user (runs since this test was added);
- *over seeds*: a paired t-test on the per-seed means, when both rows have two or more common seeds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ur4rec.bench.plan import Run
from ur4rec.bench.tables import TableSpec
from ur4rec.evaluation.harness import USER_KEY
from ur4rec.evaluation.significance import clustered_users, paired_t_test, paired_t_test_over_users

REFERENCE = ("random floor",)


@dataclass
class RunResult:
    run: Run
    ranker: str
    values: dict[str, np.ndarray]  # metric -> per-sample test values of the row's model
    baseline: str
    baseline_values: dict[str, np.ndarray] | None
    payload: dict
    training: dict = field(default_factory=dict)  # the model's training.json (stopped_by, epoch, best_epoch)
    users: np.ndarray | None = None  # each test sample's user; None in folders written before it was recorded


class PValues(NamedTuple):
    """One comparison's paired t-tests; None where a test cannot be made (see the module docstring)."""

    samples: float | None = None
    seeds: float | None = None
    users: float | None = None


@dataclass
class CellGroup:
    """One row of one backbone on one dataset: its runs (one per seed) and tests against other rows."""

    dataset: str
    group: str
    row: str
    results: list[RunResult] = field(default_factory=list)
    p_base: PValues = PValues()  # key metric
    p_best: PValues = PValues()  # method row only: against the best other row
    p_versus: dict[str, PValues] = field(default_factory=dict)  # row -> its tests
    best_row: str | None = None
    marks: set[str] = field(default_factory=set)  # metrics where the method row beats every other row significantly

    @property
    def seeds(self) -> list[int]:
        return [r.run.seed for r in self.results]

    def mean(self, metric: str) -> float | None:
        if not self.results:
            return None
        return float(np.mean([r.values[metric].mean() for r in self.results]))

    def sd(self, metric: str) -> float | None:
        """Standard deviation (ddof 1) of the per-seed means; None below two seeds."""
        if len(self.results) < 2:
            return None
        return float(np.std([r.values[metric].mean() for r in self.results], ddof=1))

    def early_stopped(self) -> list[bool]:
        """Per run: did early stopping end its (last) training phase? Runs without training count as False."""
        return [r.training.get("stopped_by") == "early stopping" for r in self.results]


def finished_folder(run: Run, runs_dir: Path | None = None) -> Path | None:
    """The run's folder (under ``runs_dir`` when given) if it holds a metrics.json; reads nothing else."""
    folder = run.folder_in(runs_dir)
    return folder if folder is not None and (folder / "metrics.json").is_file() else None


def load_run(run: Run, runs_dir: Path | None = None) -> RunResult | None:
    """The finished run's test values, or None when it has no metrics.json."""
    folder = finished_folder(run, runs_dir)
    if folder is None:
        return None
    payload = json.loads((folder / "metrics.json").read_text())
    rows = [r["ranker"] for r in payload["splits"]["test"]["rows"]]
    baseline = _baseline(payload, rows)
    models = [r for r in rows if r not in REFERENCE and r != baseline]
    if not models:
        return None
    values, users = _per_sample(folder / models[-1])
    base_values = _per_sample(folder / baseline)[0] if baseline else None
    return RunResult(run, models[-1], values, baseline or "", base_values, payload, _training(folder / models[-1]),
                     users)


def _training(folder: Path) -> dict:
    try:
        return json.loads((folder / "training.json").read_text())
    except (OSError, ValueError):
        return {}


def _baseline(payload: dict, rows: list[str]) -> str | None:
    tested = [k[len("p vs "):] for r in payload["splits"]["test"]["rows"] for k in r if k.startswith("p vs ")]
    if tested:
        return tested[0]
    return "Popularity" if "Popularity" in rows and len(rows) > 2 else None


def _per_sample(folder: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """(metric -> per-sample values, each sample's user or None)."""
    with np.load(folder / "test_per_sample.npz") as npz:
        values = {k: npz[k] for k in npz.files if k != USER_KEY}
        return values, (npz[USER_KEY] if USER_KEY in npz.files else None)


def collect(spec: TableSpec, runs: list[Run], runs_dir: Path | None = None,
            exclude: list[Run] = ()) -> dict[tuple, CellGroup]:
    """{(dataset, group, row): CellGroup} with significance filled in, for every planned cell; the ``exclude``d
    runs (e.g. results of another config) keep their cell but add nothing to it."""
    cells: dict[tuple, CellGroup] = {}
    left_out = {id(r) for r in exclude}
    for run in runs:
        key = (run.dataset, run.group, run.row)
        cell = cells.setdefault(key, CellGroup(*key))
        result = None if id(run) in left_out else load_run(run, runs_dir)
        if result is not None:
            cell.results.append(result)
    for dataset, group in {(d, g) for d, g, _ in cells}:
        _test(spec, {r.key: cells[(dataset, group, r.key)] for r in spec.rows if (dataset, group, r.key) in cells})
    return cells


def _test(spec: TableSpec, rows: dict[str, CellGroup]) -> None:
    metric = spec.key_metric
    base = rows.get(spec.base_row) if spec.base_row else None
    for key, cell in rows.items():
        if base is not None and cell is not base:
            cell.p_base = compare(cell, base, metric)
    for other_key in spec.versus:
        other = rows.get(other_key)
        for cell in rows.values():
            if other is not None and cell is not other:
                cell.p_versus[other_key] = compare(cell, other, metric)
    method = rows.get(spec.method_row) if spec.method_row else None
    if method is None or not method.results:
        return
    others = [c for k, c in rows.items() if c is not method and c.results]
    if not others:
        return
    best = max(others, key=lambda c: c.mean(metric))
    method.best_row = best.row
    method.p_best = compare(method, best, metric)
    for m in spec.metrics:  # the paper's "*": better than every baseline, significantly (p < 0.05)
        top = max(others, key=lambda c: c.mean(m))
        p = compare(method, top, m).samples
        if p is not None and p < 0.05 and method.mean(m) > top.mean(m):
            method.marks.add(m)


def compare(a: CellGroup, b: CellGroup, metric: str) -> PValues:
    """Paired t-tests of ``a`` against ``b`` on their common seeds: over samples, over seeds, over users."""
    common = sorted(set(a.seeds) & set(b.seeds))
    if not common:
        return PValues()
    ra = [r for r in a.results if r.run.seed in common]
    rb = [r for r in b.results if r.run.seed in common]
    va, vb = [r.values[metric] for r in ra], [r.values[metric] for r in rb]
    if any(x.shape != y.shape for x, y in zip(va, vb)):
        return PValues()  # different evaluation sets (e.g. another EVAL_TARGETS_PER_USER): not paired
    mean_a, mean_b = np.mean(va, axis=0), np.mean(vb, axis=0)
    p_seeds = paired_t_test(np.array([x.mean() for x in va]), np.array([y.mean() for y in vb])) if len(common) > 1 else None
    users = clustered_users(*(r.users for r in ra + rb))
    p_users = None if users is None else paired_t_test_over_users(mean_a, mean_b, users)
    return PValues(paired_t_test(mean_a, mean_b), p_seeds, p_users)

