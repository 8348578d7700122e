"""Log-file progress: what a non-terminal run prints instead of a bar (issue 10, item 3)."""
import io
import re
from functools import partial

from rich.console import Console

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from tiny_models import tiny_bert_dir, tiny_llama_dir
from ur4rec.augment.text import TextAugmenter
from ur4rec.backbones.base import BACKBONES
from ur4rec.config import load
from ur4rec.encoding.encoders import HFEncoder
from ur4rec.encoding.runner import encode_texts
from ur4rec.experiment import experiment
from ur4rec.generation.llms import HFCausalLM
from ur4rec.knowledge import LLMKnowledge
from ur4rec.progress import LogLines, file_log
from ur4rec.rankers.neural import Neural
from ur4rec.train.trainer import Supervised


def test_log_lines_are_throttled_and_the_last_one_always_comes():
    got = []
    lines = LogLines(got.append, "scoring valid", total=10, unit="samples", every=3600)
    for _ in range(10):
        lines.update(1)
    assert len(got) == 1 and got[0].startswith("scoring valid: 10/10 samples") and "ETA 0s" in got[0]
    every = []
    lines = LogLines(every.append, "x", total=3, unit="texts", every=0)
    for _ in range(3):
        lines.update(1)
    assert [g.split(",")[0] for g in every] == ["x: 1/3 texts", "x: 2/3 texts", "x: 3/3 texts"]
    assert "ETA" in every[0]


def test_file_log_only_when_not_a_terminal():
    assert file_log(Console(file=io.StringIO())) is not None
    assert file_log(Console(force_terminal=True)) is None
    assert file_log(None) is None


def test_encoding_into_a_log_file_prints_a_line_with_eta(tmp_path):
    out = io.StringIO()
    enc = HFEncoder(model=str(tiny_bert_dir(tmp_path / "bert")), batch_size=2)
    encode_texts([f"text number {i}" for i in range(5)], enc, console=Console(file=out, width=200))
    lines = [line for line in out.getvalue().splitlines() if "encoding: " in line]
    assert lines and "5/5 texts" in lines[-1] and "ETA" in lines[-1]


def test_a_run_logs_knowledge_generated_inside_an_augmenter(tmp_path):
    """+LLM builds its knowledge inside the augmenter's constructor; in a log file that stage must still
    print per-batch generation lines and encoding lines with ETA, and per-epoch training lines."""
    folder = write_ml1m(tmp_path / "ml", n_users=12, n_items=40, per_user=10)
    load(["datasets/ml-1m.gin"], [f"DATA_DIR='{folder}'", "K_CORE=2", "N_CANDIDATES=10"])
    source = LLMKnowledge(llm=HFCausalLM(model=str(tiny_llama_dir(tmp_path / "llm")), batch_size=8),
                          encoder=HFEncoder(model=str(tiny_bert_dir(tmp_path / "bert")), batch_size=16),
                          n_history=3, user_max_new_tokens=3, item_max_new_tokens=3)
    trainer = Supervised(epochs=1, batch_size=8, samples_per_epoch=16)
    ranker = Neural(partial(BACKBONES.get("DLCM"), dim=8, hidden=8), trainer=trainer, history_len=3, name="DLCM",
                    augmenter=partial(TextAugmenter, source=source, dim=4))
    out = io.StringIO()
    experiment("logtest", rankers=[ranker], runs_dir=str(tmp_path / "runs"), console=Console(file=out, width=250))
    log = out.getvalue()
    generation = [line for line in log.splitlines() if "item knowledge: batch" in line]
    assert len(generation) > 1 and "ETA" in generation[-1]
    done, total = re.search(r"batch (\d+)/(\d+)", generation[-1]).groups()
    assert done == total
    assert any("user preferences: batch" in line for line in log.splitlines())
    assert any("encoding: " in line and "ETA" in line for line in log.splitlines())
    assert "train epoch 1/1" in log
