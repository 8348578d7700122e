import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tiny_models import tiny_llama_dir
from ur4rec.device import resolve_dtype
from ur4rec.errors import UserError
from ur4rec.generation.llms import LLMS, HFCausalLM, LLMServerError, MetadataText, OpenAICompatible
from ur4rec.generation.prompts import Prompt

PROMPTS = [Prompt("please summarize the user history of comedy and drama movie", "m1"),
           Prompt("craft a detailed overview of the game", "m2"),
           Prompt("the movie", "m3")]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_llama_dir(tmp_path_factory.mktemp("llama") / "tiny-llama")


def test_registered():
    assert {"HF", "OpenAI", "Metadata"} <= set(LLMS.names())


def test_hf_batched_left_padded_greedy_matches_one_at_a_time(tiny_dir):
    llm = HFCausalLM(model=str(tiny_dir), batch_size=8)
    batched = llm.generate(PROMPTS, max_new_tokens=12)
    single = [llm.generate([p], max_new_tokens=12)[0] for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]  # padding never leaks into a row
    assert all(0 < g.n_tokens <= 12 for g in batched)
    assert llm.generate(PROMPTS, max_new_tokens=12) == batched  # greedy is deterministic
    _, tok = llm.load()
    assert tok.padding_side == "left" and "<|assistant|>" in llm.chat("x")


def test_hf_model_id_and_params_key_the_output(tiny_dir, tmp_path):
    a = HFCausalLM(model=str(tiny_dir))
    assert a.model_id == HFCausalLM(model=str(tiny_dir)).model_id
    assert a.params() != HFCausalLM(model=str(tiny_dir), repetition_penalty=1.2).params()
    assert a.params() == HFCausalLM(model=str(tiny_dir), batch_size=3).params()  # batch size cannot change text
    other = tiny_llama_dir(tmp_path / "tiny-llama", seed=1)
    (other / "config.json").write_text((other / "config.json").read_text().replace('"hidden_act"', '"hidden_act"  '))
    assert HFCausalLM(model=str(other)).model_id != a.model_id


def test_int8_dynamic_quantises_every_linear_and_keys_its_texts_apart(tiny_dir):
    import torch

    q8 = HFCausalLM(model=str(tiny_dir), quantize="int8-dynamic")
    lm, _ = q8.load()
    linear = [m for m in lm.modules() if isinstance(m, (torch.nn.Linear, torch.ao.nn.quantized.dynamic.Linear))]
    assert linear and all(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in linear)
    plain = HFCausalLM(model=str(tiny_dir))
    assert q8.params() != plain.params() and "quantize" not in plain.params()  # unquantised keys unchanged
    with pytest.raises(UserError, match="float32"):
        HFCausalLM(model=str(tiny_dir), dtype="bfloat16", quantize="int8-dynamic")
    with pytest.raises(UserError, match="quantize"):
        HFCausalLM(model=str(tiny_dir), quantize="int4")


def test_auto_dtype_keys_texts_as_the_dtype_it_resolves_to(tiny_dir):
    auto = HFCausalLM(model=str(tiny_dir), dtype="auto")
    chosen = resolve_dtype("auto")
    assert auto.dtype == chosen and auto.params() == HFCausalLM(model=str(tiny_dir), dtype=chosen).params()
    other = "float32" if chosen == "bfloat16" else "bfloat16"
    assert auto.params() != HFCausalLM(model=str(tiny_dir), dtype=other).params()
    with pytest.raises(UserError, match="dtype"):
        HFCausalLM(model=str(tiny_dir), dtype="bf16")


def test_metadata_backend_returns_metadata():
    out = MetadataText().generate(PROMPTS, max_new_tokens=5)
    assert [g.text for g in out] == ["m1", "m2", "m3"]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["Lean", "HF"])
def test_smollm2_smoke(engine):
    """The real default LLM through both engines: GGUF -> safetensors conversion in the test cache, then two
    short answers."""
    llm = LLMS.get(engine)(batch_size=2)
    out = llm.generate([Prompt("Name one famous movie director.", ""), Prompt("What genre is Toy Story?", "")],
                       max_new_tokens=6)
    assert len(out) == 2 and all(g.text and 0 < g.n_tokens <= 6 for g in out)
    assert (llm.model_dir() / "model.safetensors").is_file()  # speed is benchmarks/' business, not a test's


# ---- OpenAI-compatible server ---------------------------------------------------------------------
class Server:
    """A real HTTP server on 127.0.0.1 whose behaviour the test sets: ok, 500s, slow, malformed JSON."""

    def __init__(self):
        self.mode, self.fail_first, self.delay = "ok", 0, 0.0
        self.requests, self.inflight, self.max_inflight, self.auth = 0, 0, 0, []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    n = outer.requests
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                    outer.auth.append(self.headers.get("Authorization"))
                try:
                    time.sleep(outer.delay)
                    if outer.mode == "500" or n <= outer.fail_first:
                        return self._send(500, b'{"error": "boom"}')
                    if outer.mode == "malformed":
                        return self._send(200, b"{not json")
                    text = "echo: " + body["messages"][-1]["content"]
                    payload = {"choices": [{"message": {"role": "assistant", "content": text}}],
                               "usage": {"completion_tokens": body["max_tokens"]}}
                    self._send(200, json.dumps(payload).encode())
                finally:
                    with outer.lock:
                        outer.inflight -= 1

            def _send(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def client(server, **kw):
    kw = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0, "max_retries": 2, **kw}
    return OpenAICompatible(base_url=server.url, model="tiny", **kw)


def test_openai_normal_with_bounded_concurrency_and_secret_key(server, monkeypatch):
    monkeypatch.setenv("UR4REC_TEST_KEY", "s3cret")
    server.delay = 0.05
    llm = client(server, max_concurrency=2, api_key_env="UR4REC_TEST_KEY")
    prompts = [Prompt(f"p{i}", "") for i in range(8)]
    out = llm.generate(prompts, max_new_tokens=7)
    assert [g.text for g in out] == [f"echo: p{i}" for i in range(8)]  # order kept
    assert all(g.n_tokens == 7 for g in out)
    assert server.max_inflight == 2
    assert set(server.auth) == {"Bearer s3cret"}
    assert "s3cret" not in repr(llm) and "s3cret" not in json.dumps(llm.params())


def test_openai_retries_500s_then_succeeds(server):
    server.fail_first = 2
    out = client(server, max_retries=3, max_concurrency=1).generate([Prompt("hi", "")], 4)
    assert out[0].text == "echo: hi" and server.requests == 3


def test_openai_gives_a_clear_error_after_the_last_retry(server):
    server.mode = "500"
    with pytest.raises(LLMServerError, match=r"failed 3 times; last error: HTTP 500"):
        client(server).generate([Prompt("hi", "")], 4)
    assert server.requests == 3


def test_openai_timeouts_are_retried_then_reported(server):
    server.delay = 0.5
    start = time.perf_counter()
    with pytest.raises(LLMServerError, match="timeout"):
        client(server, timeout_s=0.1, max_retries=1).generate([Prompt("hi", "")], 4)
    assert server.requests == 2 and time.perf_counter() - start < 5


def test_openai_malformed_json_is_reported(server):
    server.mode = "malformed"
    with pytest.raises(LLMServerError, match="malformed response"):
        client(server, max_retries=1).generate([Prompt("hi", "")], 4)


def test_gguf_conversion_bar_stays_out_of_a_log_file(capsys):
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from ur4rec.generation.llms import _quiet_gguf_bar

    original = gguf_utils.tqdm
    with _quiet_gguf_bar():  # pytest captures stderr: not a terminal, like a run logging to a file
        list(gguf_utils.tqdm(range(5), desc="Converting and de-quantizing GGUF tensors..."))
    assert "Converting" not in capsys.readouterr().err
    assert gguf_utils.tqdm is original
    list(gguf_utils.tqdm(range(5), desc="Converting and de-quantizing GGUF tensors..."))
    assert "Converting" in capsys.readouterr().err  # the check above could fail: outside, the bar writes
