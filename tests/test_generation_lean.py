"""llms.Lean against llms.HF on tiny random Llama models: same tokens in fp32, batch-independent rows."""
import pytest

from tiny_models import tiny_llama_dir
from ur4rec.device import resolve_dtype
from ur4rec.errors import UserError
from ur4rec.generation.lean import LeanLlama, shared_prefix
from ur4rec.generation.llms import LLMS, HFCausalLM
from ur4rec.generation.prompts import Prompt
from ur4rec.generation.runner import read_texts, run_generation
from ur4rec.store.lmdb_store import TextStore
from test_generation_runner import make_jobs

PROMPTS = [Prompt("please summarize the user history of comedy and drama movie", "m1"),
           Prompt("please summarize the game", "m2"),
           Prompt("please", "m3"),
           Prompt("the movie of the year", "m4")]


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory):
    # 4 query heads over 2 key/value heads: the grouped-query path SmolLM2 takes (9 over 3)
    return tiny_llama_dir(tmp_path_factory.mktemp("gqa") / "tiny-gqa", num_attention_heads=4, num_key_value_heads=2)


def texts(out):
    return [(g.text, g.n_tokens) for g in out]


def test_registered():
    assert LLMS.get("Lean") is LeanLlama


def test_one_prompt_gives_the_hf_models_tokens_in_fp32(gqa_dir):
    hf = HFCausalLM(model=str(gqa_dir), repetition_penalty=1.15)
    lean = LeanLlama(model=str(gqa_dir), repetition_penalty=1.15)
    for p in PROMPTS:
        assert texts(lean.generate([p], 24)) == texts(hf.generate([p], 24)), p.text


def test_a_batch_with_a_shared_prefix_gives_each_row_its_own_text(gqa_dir):
    lean = LeanLlama(model=str(gqa_dir), repetition_penalty=1.15)
    _, tok = lean.load()
    rows = [tok(lean.chat(p.text), add_special_tokens=False)["input_ids"] for p in PROMPTS]
    assert shared_prefix(rows) > 0  # the chat template's opening is shared, so the prefix path runs
    single = [lean.generate([p], 24)[0] for p in PROMPTS]
    assert texts(lean.generate(PROMPTS, 24)) == texts(single)
    no_sharing = LeanLlama(model=str(gqa_dir), repetition_penalty=1.15, share_prefix=False)
    assert texts(no_sharing.generate(PROMPTS, 24)) == texts(single)


def test_rows_that_end_leave_the_batch_and_the_rest_carry_on(gqa_dir):
    hf = HFCausalLM(model=str(gqa_dir), repetition_penalty=1.15)
    lean = LeanLlama(model=str(gqa_dir), repetition_penalty=1.15)
    _, tok = hf.load()
    first = tok(hf.generate(PROMPTS[:1], 24)[0].text, add_special_tokens=False)["input_ids"]
    for token in first[1:]:  # a token the first row writes becomes end-of-sequence; one no other row writes early
        for engine in (hf, lean):
            engine.load()[1].eos_token = tok.convert_ids_to_tokens(token)
        single = [hf.generate([p], 24)[0] for p in PROMPTS]
        if max(g.n_tokens for g in single) == 24:
            break
    batched = lean.generate(PROMPTS, 24)
    assert texts(batched) == texts(single)
    lengths = [g.n_tokens for g in batched]
    assert lengths[0] == first.index(token) < 24 and max(lengths) == 24  # one row ended early, another ran on


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix([[7], [7, 8]]) == 0


def test_cache_key_names_the_engine_not_the_prefix_switch(gqa_dir):
    lean = LeanLlama(model=str(gqa_dir))
    assert lean.params()["engine"] == "lean"
    assert lean.params() != HFCausalLM(model=str(gqa_dir)).params()
    assert lean.params() == LeanLlama(model=str(gqa_dir), share_prefix=False, batch_size=3).params()


def test_settings_it_cannot_honour_are_refused(gqa_dir, tmp_path):
    with pytest.raises(UserError, match="greedily"):
        LeanLlama(model=str(gqa_dir), do_sample=True)
    with pytest.raises(UserError, match="quantize"):
        LeanLlama(model=str(gqa_dir), quantize="int8-dynamic")
    biased = tiny_llama_dir(tmp_path / "biased", attention_bias=True)
    with pytest.raises(UserError, match="attention_bias.*llms.HF"):
        LeanLlama(model=str(biased)).generate(PROMPTS[:1], 4)


def test_through_the_runner_into_the_store(gqa_dir, tmp_path):
    llm = LeanLlama(model=str(gqa_dir), batch_size=4, repetition_penalty=1.15)
    jobs = make_jobs(llm, 6)
    store = TextStore(tmp_path / "texts")
    stats = run_generation(jobs, llm, store, progress=False)
    assert stats.generated == 6 and stats.batches == 2
    assert all(0 < r["n_tokens"] <= 8 for r in read_texts(jobs, store))
    assert run_generation(jobs, llm, store, progress=False).generated == 0


@pytest.mark.parametrize("files, engine", [
    (["knowledge/llm.gin"], LeanLlama),  # the default
    (["knowledge/llm.gin", "llms/smollm2-hf.gin"], HFCausalLM),
])
def test_the_gin_files_pick_the_engine_and_keep_the_settings(files, engine):
    import gin

    from ur4rec.config import load

    load(files)
    try:
        llm = gin.query_parameter("%LLM").scoped_configurable_fn()
        assert type(llm) is engine
        assert (llm.model, llm.batch_size, llm.dtype, llm.repetition_penalty) == (
            "smollm2-135m-instruct", 64, resolve_dtype("auto"), 1.15)
    finally:
        gin.clear_config()
