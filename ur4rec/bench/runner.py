"""Run the missing runs of a plan: one ``cli.py run`` subprocess each, one at a time, with progress.

One subprocess per run keeps gin's global config and every model out of the bench process (DESIGN
section 4, rule 4). A run's output goes to ``<run folder>/bench.log``. Before a run starts its old
``bench.json`` is removed; after it ends with exit code 0 and a ``metrics.json`` a new one records
the config fingerprint, so a killed run (or a killed bench) is never taken for a finished one and
the next bench simply runs it again, resuming from its last checkpoint.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ur4rec.bench.plan import RECORD, Run
from ur4rec.paths import REPO_ROOT

TODO = ("todo", "changed", "recheck")


@dataclass
class Outcome:
    ran: list[Run] = field(default_factory=list)
    skipped: list[Run] = field(default_factory=list)  # already done
    failed: list[tuple[Run, str]] = field(default_factory=list)  # (run, last lines of its log)
    unrunnable: list[Run] = field(default_factory=list)  # no gin file / config error


def unique(runs: list[Run]) -> list[Run]:
    """One entry per run folder (Tables 2 and 5 share runs)."""
    seen, out = set(), []
    for run in runs:
        key = run.run_dir if run.run_dir is not None else run.gin_file
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out


def run_command(run: Run) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "cli.py"), *run.command()]


def execute(runs: list[Run], console: Console, command=run_command) -> Outcome:
    """Run every run whose status is todo/changed/recheck; ``command(run)`` gives the argv (the real CLI by default)."""
    outcome = Outcome()
    runs = unique(runs)
    for run in runs:
        status = run.status()
        if status == "done":
            outcome.skipped.append(run)
        elif status not in TODO:
            outcome.unrunnable.append(run)
    todo = [r for r in runs if r.status() in TODO]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"))
    durations: list[float] = []
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("bench", total=len(todo), info="")
        for i, run in enumerate(todo):
            info = _info(run, len(outcome.skipped), len(outcome.ran), len(todo) - i - 1, durations)
            progress.update(task, info=info)
            if not console.is_terminal:
                console.log(f"run {i + 1}/{len(todo)}: {info}")
            start = time.perf_counter()
            code = _run_one(run, command)
            seconds = time.perf_counter() - start
            if code == 0 and (run.run_dir / "metrics.json").is_file():
                _write_record(run, seconds, command(run))
                outcome.ran.append(run)
                durations.append(seconds)
                console.log(f"finished {describe(run)} in {seconds:.0f}s")
            else:
                tail = _tail(run.run_dir / "bench.log")
                outcome.failed.append((run, tail))
                console.log(f"[red]failed ({code}): {describe(run)}[/red] — log {run.run_dir / 'bench.log'}\n{tail}",
                            markup=True, highlight=False)
            progress.advance(task)
    return outcome


def describe(run: Run) -> str:
    """The gin file as the user would type it (relative to the repository when inside it) and the seed."""
    path = run.gin_file.relative_to(REPO_ROOT) if run.gin_file.is_relative_to(REPO_ROOT) else run.gin_file
    return f"{path} seed {run.seed}" + (" (limited users)" if run.bindings else "")


def _info(run: Run, skipped: int, done: int, left: int, durations: list[float]) -> str:
    eta = (f"ETA {_clock(sum(durations) / len(durations) * (left + 1))}" if durations
           else "ETA after the first run")
    return f"running {describe(run)} · done {done} (+{skipped} finished before) · left {left} · {eta}"


def _clock(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def _run_one(run: Run, command) -> int:
    folder = run.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).unlink(missing_ok=True)  # not finished until this run says so
    with open(folder / "bench.log", "ab") as log:
        log.write(f"\n$ {' '.join(command(run))}\n".encode())
        log.flush()
        proc = subprocess.Popen(command(run), stdout=log, stderr=subprocess.STDOUT, env=_child_env())
        try:
            return proc.wait()
        except BaseException:  # Ctrl-C or kill of the bench: stop the child too, leave its folder to resume
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # the log shows progress as it happens
    return env


def _write_record(run: Run, seconds: float, argv: list[str]) -> None:
    record = {"config": run.config, "table": run.table, "dataset": run.dataset, "group": run.group, "row": run.row,
              "seed": run.seed, "gin_file": str(run.gin_file), "bindings": run.all_bindings,
              "command": " ".join(argv), "seconds": round(seconds, 1),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = run.run_dir / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, run.run_dir / RECORD)
    run.record = record


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
