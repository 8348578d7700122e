"""Log-file progress: what a non-terminal run prints instead of a bar (issue 10, item 3)."""
import io

from rich.console import Console

from tiny_models import tiny_bert_dir
from ur4rec.encoding.encoders import HFEncoder
from ur4rec.encoding.runner import encode_texts
from ur4rec.progress import LogLines, file_log


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
