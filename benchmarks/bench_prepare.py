"""Time `data prepare` cold (empty cache) and warm (cache hit) on one dataset config.

Targets (issue 2, ML-1M users 1-2999 on a 2-core machine): cold < 60 s, warm < 3 s. Each timing is
a fresh subprocess running the real CLI, so import time is included, as a user would feel it.
Usage: python benchmarks/bench_prepare.py [GIN_FILE] [--out benchmarks/results/prepare.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gin_file", nargs="?", default="gin/datasets/ml-1m.gin")
    parser.add_argument("--warm-repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cmd = [sys.executable, "cli.py", "data", "prepare", args.gin_file]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "UR4REC_CACHE": cache}
        cold = timed(cmd, env)
        warm = [timed(cmd, env) for _ in range(args.warm_repeats)]
        bare = timed([sys.executable, "-c", "import cli, ur4rec.components"], env)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        f"# data prepare timing: {args.gin_file}",
        "",
        f"- command: `python benchmarks/bench_prepare.py {args.gin_file}` (each timing runs `{' '.join(cmd[1:])}` in a fresh process)",
        f"- machine: {platform.node()}, {os.cpu_count()} cores, {platform.machine()}; commit {commit}",
        "",
        "| run | seconds | target |",
        "|---|---|---|",
        f"| cold (empty cache) | {cold:.2f} | < 60 |",
        f"| warm (cache hit), best of {len(warm)} | {min(warm):.2f} | < 3 |",
        f"| of which: python start + imports only | {bare:.2f} | |",
        "",
        f"cold / warm = {cold / min(warm):.1f}x",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
