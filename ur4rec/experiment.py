"""The single gin entry point: prepare data, fit each ranker, evaluate on validation and test, report.

Run directories are ``<runs_dir>/<experiment>/<dataset>/seed<k>/`` where ``<experiment>`` is the gin
file's path under ``gin/experiments`` (so two files never share a folder); each holds the operative
config, ``metrics.json``, per-sample values (for paired t-tests later) and ``results.md``.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Sequence

import gin
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ur4rec.config import config_fingerprint, save_operative
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.prepared import PreparedDataset
from ur4rec.device import device_name, machine_description
from ur4rec.evaluation import report
from ur4rec.evaluation.harness import EvalResult, evaluate
from ur4rec.locks import run_folder_lock
from ur4rec.paths import GIN_DIR, REPO_ROOT
from ur4rec.progress import LogLines, file_log, use_console
from ur4rec.seeding import seed_everything


def experiment_name(files: Sequence[Path], bindings: Sequence[str] = ()) -> str:
    """``table2/ml-1m/prm/base`` for gin/experiments/table2/ml-1m/prm/base.gin; the stem otherwise.

    Extra gin files or bindings (other than SEED, which names the seed folder) make another
    configuration, so they add ``+<hash>`` of themselves: two configurations never share a folder.
    """
    first = Path(files[0]).resolve()
    root = (GIN_DIR / "experiments").resolve()
    try:
        name = str(first.relative_to(root).with_suffix(""))
    except ValueError:
        name = first.stem
    extra = [_relative(Path(f)) for f in files[1:]] + [b for b in bindings if not _is_seed(b)]
    if extra:
        name += "+" + hashlib.sha256(json.dumps(extra).encode()).hexdigest()[:8]
    return name


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(GIN_DIR.resolve()))
    except ValueError:
        return str(path.resolve())


def _is_seed(binding: str) -> bool:
    return binding.replace(" ", "").split("=", 1)[0] == "SEED"


def describe_data(data: PreparedDataset, split: str) -> str:
    f = data.stats["filtered"]
    cap = data.stats["eval_samples"]["targets_per_user_cap"]
    return (f"{data.name} {split} split: {len(data.samples(split)):,} samples from {f['users']:,} users, "
            f"{f['items']:,} items, {f['interactions']:,} interactions after {data.params['k_core']}-core; "
            f"{data.n_candidates} candidates each (target + {data.n_candidates - 1} unseen negatives); "
            f"targets per user: {'all' if cap is None else f'first {cap}'}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (out.stdout.strip() or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@gin.configurable
def experiment(name: str, rankers: Sequence = gin.REQUIRED, seed: int = 0, runs_dir: str = "runs",
               baseline: str = "Popularity", console: Console | None = None, command: str = "") -> dict:
    """Fit and evaluate ``rankers`` on ``prepare_data()``; returns the metrics written to metrics.json."""
    console = console or Console()
    commit = git_commit()  # at the start: the code that trains is the code reported, even if the tree changes later
    config = config_fingerprint()  # before anything runs: the parsed config, as `ur4rec bench` computes it
    device_name()  # an unusable compute device fails here, before the run folder is touched
    data = prepare_data(log=console.log)
    run_dir = Path(runs_dir) / name / data.name / f"seed{seed}"
    with run_folder_lock(run_dir):  # a second process in this folder would overwrite its checkpoints
        save_operative(run_dir)
        (run_dir / "command.txt").write_text(command + "\n")  # which files and bindings this folder's name stands for
        results: dict[str, list[EvalResult]] = {"valid": [], "test": []}
        for ranker in rankers:
            seed_everything(seed)
            start = time.perf_counter()
            with use_console(console):  # knowledge generated/encoded inside a component reports here too
                ranker.fit(data, run_dir / ranker.name, seed=seed, console=console)
            fit_s = time.perf_counter() - start
            for split in ("valid", "test"):
                res = _evaluate_with_progress(ranker, data, split, console)
                res.save(run_dir / ranker.name / f"{split}_per_sample.npz")
                results[split].append(res)
            console.log(f"{ranker.name}: fitted in {fit_s:.1f}s, test NDCG@10 = {results['test'][-1].means()['NDCG@10']:.4f}")
        save_operative(run_dir)  # again: now it lists every configurable actually called
        return _write_report(run_dir, data, results, baseline, console, command, commit, config)


def _evaluate_with_progress(ranker, data: PreparedDataset, split: str, console: Console) -> EvalResult:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # a transient bar on a non-terminal (log file, CI) only leaves blank lines behind
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        total = len(data.samples(split))
        task = progress.add_task(f"{ranker.name}: scoring {split}", total=total)
        lines = LogLines(file_log(console), f"{ranker.name}: scoring {split}", total, "samples")

        def advance(n: int) -> None:
            progress.advance(task, n)
            lines.update(n)

        return evaluate(ranker, data, split, progress=advance)


def _write_report(run_dir: Path, data: PreparedDataset, results, baseline: str, console: Console, command: str,
                  commit: str, config: str) -> dict:
    payload = {"dataset": data.name, "dataset_stats": data.stats["filtered"], "protocol": data.params,
               "machine": machine_description(),
               "device": device_name(), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "commit": commit, "command": command, "config": config, "splits": {}}
    md = [f"# {run_dir}\n", f"command: `{command}`  \ncommit: {payload['commit']}  \nmachine: {payload['machine']}, "
          f"{payload['device']}, torch {payload['torch']}, {payload['threads']} threads\n"]
    for split in ("valid", "test"):
        table_rows = report.rows(results[split], data.n_candidates, baseline)
        caption = describe_data(data, split)
        payload["splits"][split] = {"caption": caption, "rows": table_rows}
        md.append(f"## {split}\n\n" + report.markdown(table_rows, caption))
        if split == "test":
            console.print(report.rich_table(table_rows, f"{run_dir} — {split}", caption))
    (run_dir / "metrics.json").write_text(json.dumps(payload, indent=2))
    (run_dir / "results.md").write_text("\n".join(md))
    console.log(f"wrote {run_dir / 'metrics.json'} and results.md")
    return payload
