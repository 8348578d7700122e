"""Run the missing runs of a plan: one ``cli.py run`` subprocess each, ``--jobs`` at a time, with progress.

One subprocess per run keeps gin's global config and every model out of the bench process (DESIGN
section 4, rule 4). A run's output goes to ``<run folder>/bench.log``. Before a run starts its old
``bench.json`` is removed; after it ends with exit code 0 and a ``metrics.json`` a new one records
the config fingerprint, so a killed run (or a killed bench) is never taken for a finished one and
the next bench simply runs it again, resuming from its last checkpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ur4rec.bench.plan import RECORD, Run
from ur4rec.bench.tables import get_table
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


def prepare_command(run: Run) -> list[str]:
    """``ur4rec encode`` of the run's config: generates and encodes its knowledge, trains nothing."""
    return [sys.executable, str(REPO_ROOT / "cli.py"), *run.command("encode")]


@dataclass(eq=False)
class Task:
    """One subprocess of the bench: a run, or the knowledge preparation some runs wait for."""
    name: str
    argv: list[str]
    log: Path
    run: Run | None = None  # None: a knowledge preparation
    after: list["Task"] = field(default_factory=list)  # starts once these have ended (finished or failed)
    state: str = "waiting"  # waiting -> running -> finished | failed
    start: float = 0.0
    proc: subprocess.Popen | None = None

    @property
    def ended(self) -> bool:
        return self.state in ("finished", "failed")


def plan_tasks(todo: list[Run], jobs: int, command=run_command, prepare=prepare_command) -> list[Task]:
    """Tasks in plan order. With one job they are the runs as listed. With more: a run that starts from the Base
    checkpoint waits for its Base row (else both would train that Base); runs that need LLM knowledge wait for
    one ``ur4rec encode`` per distinct knowledge setting, and those preparations run one at a time (see
    ``execute``), so no two processes generate the same texts."""
    tasks = {id(run): Task(describe(run), command(run), run.run_dir / "bench.log", run) for run in todo}
    if jobs <= 1:
        return list(tasks.values())
    base_rows = {_key(run): tasks[id(run)] for run in todo if run.row == _base_row(run)}
    preparations: dict[str, Task] = {}
    for run in todo:
        task = tasks[id(run)]
        base = base_rows.get(_key(run))
        if run.from_base and base is not None and base is not task:
            task.after.append(base)
        if run.knowledge:
            if run.knowledge not in preparations:
                preparations[run.knowledge] = Task(f"knowledge for {describe(run)}", prepare(run),
                                                   run.run_dir / "prepare.log")
            task.after.append(preparations[run.knowledge])
    return [*preparations.values(), *tasks.values()]


def _key(run: Run) -> tuple:
    return run.table, run.dataset, run.group, run.seed, run.bindings


def _base_row(run: Run) -> str | None:
    return get_table(run.table).base_row


def execute(runs: list[Run], console: Console, command=run_command, jobs: int = 1,
            prepare=prepare_command) -> Outcome:
    """Run every run whose status is todo/changed/recheck, up to ``jobs`` processes at a time (each given
    cores // jobs threads); ``command(run)`` gives the argv (the real CLI by default)."""
    outcome = Outcome()
    runs = unique(runs)
    statuses = {id(run): run.status() for run in runs}  # each reads the run folder once
    outcome.skipped = [r for r in runs if statuses[id(r)] == "done"]
    outcome.unrunnable = [r for r in runs if statuses[id(r)] not in (*TODO, "done")]
    todo = [r for r in runs if statuses[id(r)] in TODO]
    tasks = plan_tasks(todo, jobs, command, prepare)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"))
    durations: list[float] = []
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress, _term_as_interrupt():
        bar = progress.add_task("bench", total=len(todo), info="")
        try:
            while not all(t.ended for t in tasks):
                for task in _ready(tasks, jobs):
                    _start(task, jobs)
                    info = _info([t for t in tasks if t.state == "running"], len(outcome.skipped),
                                 len(outcome.ran), _left(tasks), durations, jobs)
                    progress.update(bar, info=info)
                    if not console.is_terminal:
                        console.log(f"start {task.name}: {info}")
                ended = [t for t in tasks if t.state == "running" and t.proc.poll() is not None]
                if not ended:
                    time.sleep(0.2)
                for task in ended:
                    _settle(task, outcome, durations, console)
                    if task.run is not None:
                        progress.advance(bar)
        except BaseException:  # Ctrl-C or kill of the bench: stop the children too, leave their folders to resume
            _stop([t for t in tasks if t.state == "running"])
            raise
    return outcome


@contextlib.contextmanager
def _term_as_interrupt():
    """``kill <bench>`` (SIGTERM) stops the bench like Ctrl-C, so its runs are stopped too instead of left orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _ready(tasks: list[Task], jobs: int) -> list[Task]:
    """Waiting tasks whose predecessors have ended, in plan order, while slots are free; one preparation at a time."""
    running = [t for t in tasks if t.state == "running"]
    preparing = any(t.run is None for t in running)
    chosen = []
    for task in tasks:
        if len(running) + len(chosen) >= jobs:
            break
        if task.state != "waiting" or not all(t.ended for t in task.after):
            continue
        if task.run is None:
            if preparing:
                continue
            preparing = True
        chosen.append(task)
    return chosen


def _left(tasks: list[Task]) -> int:
    return sum(1 for t in tasks if t.run is not None and t.state == "waiting")


def _start(task: Task, jobs: int) -> None:
    task.log.parent.mkdir(parents=True, exist_ok=True)
    if task.run is not None:
        (task.run.run_dir / RECORD).unlink(missing_ok=True)  # not finished until this run says so
    with open(task.log, "ab") as log:
        log.write(f"\n$ {' '.join(task.argv)}\n".encode())
        log.flush()
        task.proc = subprocess.Popen(task.argv, stdout=log, stderr=subprocess.STDOUT, env=_child_env(jobs))
    task.state, task.start = "running", time.perf_counter()


def _settle(task: Task, outcome: Outcome, durations: list[float], console: Console) -> None:
    seconds, code = time.perf_counter() - task.start, task.proc.returncode
    run = task.run
    if run is None:
        task.state = "finished" if code == 0 else "failed"
        if code != 0:  # its runs still start: each generates what it lacks itself
            console.log(f"[yellow]{task.name} failed ({code}); log {task.log}[/yellow]\n{_tail(task.log)}",
                        markup=True, highlight=False)
        return
    if code == 0 and (run.run_dir / "metrics.json").is_file():
        task.state = "finished"
        _write_record(run, seconds, task.argv)
        outcome.ran.append(run)
        durations.append(seconds)
        console.log(f"finished {task.name} in {seconds:.0f}s")
    else:
        task.state = "failed"
        tail = _tail(task.log)
        outcome.failed.append((run, tail))
        console.log(f"[red]failed ({code}): {task.name}[/red] — log {task.log}\n{tail}", markup=True, highlight=False)


def _stop(running: list[Task]) -> None:
    for task in running:
        task.proc.terminate()
    for task in running:
        try:
            task.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            task.proc.kill()


def describe(run: Run) -> str:
    """The gin file as the user would type it (relative to the repository when inside it) and the seed."""
    path = run.gin_file.relative_to(REPO_ROOT) if run.gin_file.is_relative_to(REPO_ROOT) else run.gin_file
    return f"{path} seed {run.seed}" + (" (limited users)" if run.bindings else "")


def _info(running: list[Task], skipped: int, done: int, left: int, durations: list[float], jobs: int) -> str:
    eta = (f"ETA {_clock(sum(durations) / len(durations) * (left + len(running)) / jobs)}" if durations
           else "ETA after the first run")
    names = "; ".join(t.name for t in running) or "nothing"
    return f"running {names} · done {done} (+{skipped} finished before) · left {left} · {eta}"


def _clock(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def _child_env(jobs: int = 1) -> dict:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # the log shows progress as it happens
    if jobs > 1:  # share the cores (two 1-thread runs beat one 2-thread run after another: results/jobs.md)
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env.setdefault("OMP_NUM_THREADS", threads)
        env.setdefault("MKL_NUM_THREADS", env["OMP_NUM_THREADS"])
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
