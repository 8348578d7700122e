import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tiny_models import tiny_llama_dir
import ur4rec.generation.lean  # noqa: F401  (registers llms.Lean)
from ur4rec.generation.llms import LLMS, HFCausalLM, MetadataText
from ur4rec.generation.prompts import Prompt
from ur4rec.generation.runner import Job, read_texts, run_generation
from ur4rec.store.lmdb_store import TextStore, content_key

REPO = Path(__file__).resolve().parents[1]
WORDS = "the movie game book user history comedy drama action genre director".split()


def make_jobs(llm, n, max_new_tokens=8):
    prompts = [Prompt(" ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 9)) + f" {i}", f"meta {i}")
               for i in range(n)]  # unique prompts, varied lengths
    return [Job(content_key("t@v1", p.text, llm.model_id, llm.params(), max_new_tokens), p, max_new_tokens, f"item {i}")
            for i, p in enumerate(prompts)]


class Counting(MetadataText):
    """The metadata backend plus a tally of the prompts it was asked to generate."""

    def __init__(self, batch_size=4):
        self.batch_size, self.calls = batch_size, []

    def generate(self, prompts, max_new_tokens):
        self.calls.append(len(prompts))
        return super().generate(prompts, max_new_tokens)


def test_rerun_generates_nothing_already_stored(tmp_path):
    store = TextStore(tmp_path / "texts")
    llm = Counting(batch_size=4)
    jobs = make_jobs(llm, 10)
    first = run_generation(jobs, llm, store, progress=False)
    assert (first.generated, first.cached, first.batches) == (10, 0, 3) and llm.calls == [4, 4, 2]
    again = run_generation(jobs + make_jobs(llm, 13)[10:], llm, store, progress=False)
    assert (again.generated, again.cached) == (3, 10) and llm.calls[3:] == [3]
    records = read_texts(jobs, store)
    assert [r["text"] for r in records] == [f"meta {i}" for i in range(10)]
    assert records[0]["label"] == "item 0" and records[0]["model"] == "metadata"


def test_log_file_console_gets_one_line_per_batch(tmp_path):
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=200)  # not a terminal, like `ur4rec generate > log`
    llm = Counting(batch_size=4)
    run_generation(make_jobs(llm, 10), llm, TextStore(tmp_path / "t"), console=console, description="items")
    lines = [line for line in out.getvalue().splitlines() if "items: batch" in line]
    assert len(lines) == 3 and "batch 3/3, 10/10 texts" in lines[-1] and "ETA" in lines[0]


def test_batches_are_sorted_by_prompt_length(tmp_path):
    llm = Counting(batch_size=3)
    seen = []
    orig = llm.generate
    llm.generate = lambda prompts, n: (seen.append([len(p.text) for p in prompts]), orig(prompts, n))[1]
    run_generation(make_jobs(llm, 12), llm, TextStore(tmp_path / "t"), progress=False)
    flat = [x for b in seen for x in b]
    assert flat == sorted(flat, reverse=True)


def test_tiny_llama_end_to_end_through_store(tmp_path):
    llm = HFCausalLM(model=str(tiny_llama_dir(tmp_path / "m")), batch_size=4)
    store = TextStore(tmp_path / "t")
    stats = run_generation(make_jobs(llm, 6, 5), llm, store, progress=False)
    assert stats.generated == 6 and 0 < stats.tokens <= 30 and stats.tokens_per_s > 0
    assert all(r["n_tokens"] <= 5 for r in read_texts(make_jobs(llm, 6, 5), store))


CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = [{repo!r}, {tests!r}]
    from test_generation_runner import make_jobs
    import ur4rec.generation.lean
    from ur4rec.generation.llms import LLMS
    from ur4rec.generation.runner import run_generation
    from ur4rec.store.lmdb_store import TextStore
    llm = LLMS.get({engine!r})(model={model!r}, batch_size=4)
    run_generation(make_jobs(llm, {n}, 24), llm, TextStore({store!r}), progress=False)
    print("finished")
""")


@pytest.mark.parametrize("engine", ["HF", "Lean"])
def test_kill_9_loses_at_most_the_batch_in_flight(tmp_path, engine):
    n, batch = 240, 4
    model = tiny_llama_dir(tmp_path / "m")
    store_path = tmp_path / "texts"
    script = CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), model=str(model), n=n, store=str(store_path),
                          engine=engine)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (store_path / "data.mdb").is_file():
        time.sleep(0.05)
    store = TextStore(store_path)
    while time.time() < deadline and len(store) < 3 * batch:  # a few batches committed, many to go
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    before = len(store)
    assert 3 * batch <= before < n, "the child must be killed mid-run"
    assert before % batch == 0  # only whole batches were committed
    assert store.verify() == []  # nothing half-written
    llm = LLMS.get(engine)(model=str(model), batch_size=batch)
    jobs = make_jobs(llm, n, 24)
    kept = {k: r for k, r in zip([j.key for j in jobs], store.get([j.key for j in jobs])) if r is not None}
    stats = run_generation(jobs, llm, store, progress=False)
    assert stats.generated == n - before and stats.cached == before  # none lost, none generated twice
    assert len(store) == n
    after = dict(zip([j.key for j in jobs], read_texts(jobs, store)))
    assert all(after[k] == r for k, r in kept.items())  # entries from before the kill are untouched


def test_int8_dynamic_engine_through_the_runner(tmp_path):
    llm = HFCausalLM(model=str(tiny_llama_dir(tmp_path / "m")), batch_size=4, quantize="int8-dynamic")
    jobs = make_jobs(llm, 6)
    store = TextStore(tmp_path / "texts")
    stats = run_generation(jobs, llm, store, progress=False)
    records = read_texts(jobs, store)
    assert stats.generated == 6 and stats.batches == 2
    assert all(0 < r["n_tokens"] <= 8 for r in records)
    assert run_generation(jobs, llm, store, progress=False).generated == 0  # stored: nothing generated again
