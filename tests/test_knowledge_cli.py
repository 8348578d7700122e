"""`ur4rec generate`, `encode` and `inspect match` end to end on a tiny MovieLens-1M copy (no real LLM)."""
import re

from typer.testing import CliRunner

from cli import app
from ur4rec.config import load

runner = CliRunner()


def args(tiny_ml1m, *extra):
    return ["gin/datasets/ml-1m.gin", "knowledge/llm.gin", "llms/metadata.gin", "-b", f"DATA_DIR='{tiny_ml1m}'",
            "-b", "K_CORE=2", *extra]


def test_generate_then_rerun_generates_nothing(tiny_ml1m):
    first = runner.invoke(app, ["generate", *args(tiny_ml1m)])
    assert first.exit_code == 0, first.output
    assert re.search(r"items: \d+ texts: 0 already stored, [1-9]\d* generated", first.output)
    again = runner.invoke(app, ["generate", *args(tiny_ml1m)])
    assert again.exit_code == 0 and "0 generated" in again.output and again.output.count("0 generated") == 2


def test_encode_and_inspect_match(tiny_ml1m):
    enc = runner.invoke(app, ["encode", *args(tiny_ml1m)])
    assert enc.exit_code == 0, enc.output
    assert "item vectors of width 384" in enc.output
    shown = runner.invoke(app, ["inspect", "match", *args(tiny_ml1m), "--user", "3", "--top", "2"])
    assert shown.exit_code == 0, shown.output
    assert "Recall@10" in shown.output and "random floor" in shown.output
    assert "user 3: preference text" in shown.output and "#2" in shown.output
    missing = runner.invoke(app, ["inspect", "match", *args(tiny_ml1m), "--user", "nobody"])
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output


def test_knowledge_gin_swaps_llm_and_encoder():
    from ur4rec.knowledge import knowledge_source

    load(["knowledge/llm.gin", "llms/metadata.gin"], ["ENCODER_MAX_LENGTH = 64", "LLM_USER_MAX_NEW_TOKENS = 32"])
    src = knowledge_source()
    assert type(src.llm).__name__ == "MetadataText" and src.encoder.max_length == 64
    assert src.user_max_new_tokens == 32 and knowledge_source() is src  # one shared instance


def test_inspect_match_runs_on_the_vector_sources_too(tiny_ml1m):
    for source in ("@knowledge.Random()", "@knowledge.Oracle()"):
        out = runner.invoke(app, ["inspect", "match", *args(tiny_ml1m), "-b", f"KNOWLEDGE={source}"])
        assert out.exit_code == 0, out.output
        assert "Recall@10" in out.output and "random floor" in out.output
