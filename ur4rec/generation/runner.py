"""The batched, resumable generation runner behind ``ur4rec generate`` (eq. 2 and 3 at scale).

Each text's key is a content hash of (template id+version, rendered prompt, model id, generation
parameters), so a rerun skips every stored text and a changed prompt or model never reuses a stale
one. Missing prompts are sorted by length (similar lengths waste less padding) and batched; each
finished batch is committed in one LMDB transaction, so ``kill -9`` loses at most the batch in flight.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from ur4rec.generation.llms import LLMBackend
from ur4rec.generation.prompts import Prompt, PromptTemplate
from ur4rec.store.lmdb_store import TextStore, content_key


@dataclass(frozen=True)
class Job:
    key: bytes
    prompt: Prompt
    max_new_tokens: int
    label: str  # "user 12" / "item 40": shown in errors and stored as provenance


def job_key(template: PromptTemplate, prompt: Prompt, llm: LLMBackend, max_new_tokens: int) -> bytes:
    return content_key("gen", template.cache_id, prompt.text, llm.model_id, llm.params(), max_new_tokens)


def make_jobs(template: PromptTemplate, data, indices: Sequence[int], llm: LLMBackend, max_new_tokens: int,
              kind: str) -> list[Job]:
    jobs = []
    for i in indices:
        prompt = template.render(data, int(i))
        jobs.append(Job(job_key(template, prompt, llm, max_new_tokens), prompt, max_new_tokens, f"{kind} {int(i)}"))
    return jobs


@dataclass
class RunStats:
    total: int = 0
    cached: int = 0
    generated: int = 0
    tokens: int = 0
    seconds: float = 0.0
    batches: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def texts_per_s(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        shared = self.total - self.cached - self.generated  # identical prompts share one stored text
        return (f"{self.total} texts: {self.cached} already stored, {self.generated} generated"
                f"{f' ({shared} duplicates of those)' if shared else ''} in "
                f"{self.seconds:.1f}s ({self.texts_per_s:.2f} texts/s, {self.tokens} tokens, "
                f"{self.tokens_per_s:.1f} tokens/s, {self.batches} batches)")


def _progress(console):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[texts_s]:.2f} texts/s  {task.fields[tokens_s]:.1f} tok/s"),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    transient=False, refresh_per_second=2)


def run_generation(jobs: Sequence[Job], llm: LLMBackend, store: TextStore, console=None, progress: bool = True,
                   description: str = "generating", batch_size: int | None = None, log=None) -> RunStats:
    """Generate every job whose key is not in ``store``; commit batch by batch; return counts and speed."""
    stats = RunStats(total=len(jobs))
    unique: dict[bytes, Job] = {}
    for job in jobs:  # two users with identical histories share one text
        unique.setdefault(job.key, job)
    keys = list(unique)
    present = store.contains(keys)
    todo = [unique[k] for k, have in zip(keys, present) if not have]
    todo_keys = {j.key for j in todo}
    stats.cached = sum(1 for j in jobs if j.key not in todo_keys)
    if not todo:
        return stats
    # Longest first: the slowest batch shows up early, and similar lengths share a batch (less padding).
    todo.sort(key=lambda j: (j.max_new_tokens, llm.count_tokens(j.prompt.text)), reverse=True)
    size = max(1, batch_size or llm.batch_size)
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    if log is None and progress and console is not None and not console.is_terminal:
        log = console.log  # a bar is invisible in a log file: one line per batch instead
    start = time.perf_counter()
    bar = _progress(console) if progress else None
    task = bar.add_task(description, total=len(todo), texts_s=0.0, tokens_s=0.0) if bar else None
    try:
        if bar:
            bar.start()
        for batch in batches:
            # Group by max_new_tokens is implied by the sort; a batch never mixes two limits except at a boundary.
            limit = max(j.max_new_tokens for j in batch)
            outs = llm.generate([j.prompt for j in batch], limit)
            if len(outs) != len(batch):
                raise RuntimeError(f"{type(llm).__name__} returned {len(outs)} texts for {len(batch)} prompts")
            store.put({j.key: {"text": o.text, "n_tokens": o.n_tokens, "label": j.label, "prompt": j.prompt.text,
                               "metadata": j.prompt.metadata, "model": llm.model_id, "max_new_tokens": j.max_new_tokens}
                       for j, o in zip(batch, outs)})
            stats.generated += len(batch)
            stats.tokens += sum(o.n_tokens for o in outs)
            stats.batches += 1
            elapsed = time.perf_counter() - start
            if bar:
                bar.update(task, advance=len(batch), texts_s=stats.generated / elapsed, tokens_s=stats.tokens / elapsed)
            if log:
                eta = elapsed / stats.generated * (len(todo) - stats.generated)
                log(f"{description}: batch {stats.batches}/{len(batches)}, {stats.generated}/{len(todo)} texts, "
                    f"{stats.tokens / elapsed:.1f} tok/s, ETA {eta / 60:.0f} min")
    finally:
        if bar:
            bar.stop()
        stats.seconds = time.perf_counter() - start
    return stats


def read_texts(jobs: Sequence[Job], store: TextStore) -> list[dict]:
    """The stored records for ``jobs`` in order; raises if any is missing (generate first)."""
    records = store.get([j.key for j in jobs])
    missing = [j.label for j, r in zip(jobs, records) if r is None]
    if missing:
        raise KeyError(f"{len(missing)} texts are not generated yet (first: {missing[0]}); run `ur4rec generate`")
    return records
