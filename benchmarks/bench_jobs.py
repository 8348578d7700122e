"""Two runs side by side with one thread each (``ur4rec bench --jobs 2``) against the same two runs one after
the other with every core (``--jobs 1``), on a real dataset and backbone.

Each run is a real ``cli.py run`` of a Table 2 Base file with a short budget (one epoch of ``--samples``
training targets, one validation/test target per user) and its own seed, written under a temporary
RUNS_DIR. Reports the wall time of both schedules and their ratio.

Usage: python benchmarks/bench_jobs.py [--gin gin/experiments/table2/ml-100k/prm/base.gin] [--samples 4000]
       [--out benchmarks/results/jobs.md]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, header, write


def command(gin_file: str, seed: int, runs_dir: str, samples: int) -> list[str]:
    bindings = [f"SEED={seed}", f"RUNS_DIR='{runs_dir}'", "EPOCHS=1", f"TRAIN_SAMPLES_PER_EPOCH={samples}",
                "EVAL_TARGETS_PER_USER=1"]
    return [sys.executable, str(ROOT / "cli.py"), "run", gin_file, *[x for b in bindings for x in ("-b", b)]]


def timed(commands: list[list[str]], threads: int, together: bool, logs: Path) -> float:
    """Wall time of the commands, all started at once or each after the previous one ended. Output goes to files:
    a pipe nobody reads while a run goes on can fill and stall it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    logs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    procs = []
    for i, c in enumerate(commands):
        with open(logs / f"{i}.log", "wb") as log:
            procs.append(subprocess.Popen(c, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        if not together:
            procs[-1].wait()
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - start
    for i, code in enumerate(codes):
        if code != 0:
            raise SystemExit(f"a run failed ({code}):\n{(logs / f'{i}.log').read_text(errors='replace')[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gin", default="gin/experiments/table2/ml-100k/prm/base.gin")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--out")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm = [command(args.gin, 9, f"{tmp}/warm", 500)]
        timed(warm, cores, False, tmp / "logs-warm")  # data preparation and imports cached before either schedule
        one = timed([command(args.gin, s, f"{tmp}/one", args.samples) for s in (0, 1)], cores, False, tmp / "logs-one")
        two = timed([command(args.gin, s, f"{tmp}/two", args.samples) for s in (0, 1)], max(1, cores // 2), True,
                    tmp / "logs-two")
    lines = header("ur4rec bench --jobs: two runs side by side vs one after the other")
    lines += [f"Two `cli.py run {args.gin}` runs (seeds 0 and 1), one epoch of {args.samples} training targets, one "
              f"validation/test target per user, each from start to metrics.json.", "",
              "| schedule | threads per run | wall time |", "|---|---|---|",
              f"| one after the other (`--jobs 1`) | {cores} | {one:.1f} s |",
              f"| side by side (`--jobs 2`) | {max(1, cores // 2)} | {two:.1f} s |", "",
              f"**side by side / one after the other: {one / two:.2f}x faster**"]
    write(lines, args.out)


if __name__ == "__main__":
    main()
