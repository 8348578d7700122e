"""``ur4rec bench speed``: the timing benchmarks of ``benchmarks/`` from the CLI.

Each script prints its own side-by-side comparison (ours against the reference way, and the ratio)
and, with ``--out``, writes it as Markdown with machine, commit and command. The bench runs each
found script as a subprocess (``python benchmarks/<script> --out benchmarks/results/<name>.md``);
scripts not present in this checkout (e.g. bench_retriever.py before the retriever issue) are
listed as missing, not an error.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ur4rec.errors import ConfigError
from ur4rec.paths import REPO_ROOT


@dataclass(frozen=True)
class SpeedBench:
    name: str
    script: str
    compares: str

    @property
    def path(self) -> Path:
        return REPO_ROOT / "benchmarks" / self.script


SPEED = (
    SpeedBench("prepare", "bench_prepare.py", "data preparation: cold cache vs warm cache"),
    SpeedBench("generation", "bench_generation.py", "batched LLM runner vs one prompt at a time"),
    SpeedBench("generation_engines", "bench_generation_engines.py",
               "LLM engines on the same 64 prompts: HF fp32 (reference), HF bf16, HF int8, llms.Lean"),
    SpeedBench("encoder", "bench_encoder.py", "our frozen encoder vs sentence-transformers"),
    SpeedBench("store", "bench_store.py", "LMDB batched reads vs an in-memory numpy gather"),
    SpeedBench("backbones", "bench_backbones.py", "training and scoring samples/s of every backbone"),
    SpeedBench("retriever", "bench_retriever.py", "retriever path (c) vs (b), UR4Rec vs Base, bf16 vs fp32"),
    SpeedBench("jobs", "bench_jobs.py", "bench --jobs 2: two 1-thread runs side by side vs one after the other"),
)


def chosen(only: list[str] | None) -> list[SpeedBench]:
    if not only:
        return list(SPEED)
    names = {b.name: b for b in SPEED}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"no speed benchmark {', '.join(unknown)}; known: {', '.join(names)}")
    return [names[n] for n in only]


def command(bench: SpeedBench, out_dir: Path | None) -> list[str]:
    argv = [sys.executable, str(bench.path)]
    if out_dir is not None:
        argv += ["--out", str(Path(out_dir) / f"{bench.name}.md")]
    return argv


def run(bench: SpeedBench, out_dir: Path | None) -> int:
    """Run one script with its output on this terminal; its exit code."""
    return subprocess.call(command(bench, out_dir), cwd=REPO_ROOT)
