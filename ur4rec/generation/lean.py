"""``llms.Lean``: a lean greedy decoder for Llama-architecture causal LMs on CPU (issue 10), the same
eq. 2 / eq. 3 (s = LLM(p)) as ``llms.HF`` with less work per text.

Same weights, tokenizer, chat template and rule (greedy, repetition penalty over the prompt and the text so
far) as ``llms.HF``. What it does differently:

* the tokens every prompt of a batch starts with (the chat template's system turn, the task sentence) run
  once, and their keys/values are shared by every row (item prompts: 36 of ~85 tokens with SmolLM2);
* keys/values go into one cache per layer allocated up front (no concatenation per step); q/k/v and
  gate/up are one matmul each; each decoding step's grouped-query attention reads the shared key/value heads
  without copies (prompt blocks use torch's fused attention kernel instead);
* rows that reached EOS leave the batch;
* the repetition penalty covers the row's own tokens only (``llms.HF`` also penalises the pad token in
  rows that were padded), so a row's text does not depend on the batch it was generated in.

In fp32 a single prompt gives ``llms.HF``'s tokens (tests/test_generation_lean.py); in bf16 texts can differ
where the summation order tips a token, so ``params()`` names the engine and its texts are cached apart.
Supported: ``model_type`` llama (SmolLM2, TinyLlama, Llama-2/3) without attention or MLP biases, SiLU, and a
RoPE whose frequencies do not change with length (default, linear, llama3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ur4rec.errors import UserError
from ur4rec.generation.llms import LLMS, Generation, HFCausalLM
from ur4rec.generation.prompts import Prompt

STATIC_ROPE = ("default", "linear", "llama3")


@dataclass
class _Layer:
    ln1: object  # the model's own RMSNorm modules
    qkv: object  # [q; k; v] weights stacked: one matmul
    o: object
    ln2: object
    gate_up: object  # [gate; up] stacked
    down: object


class _Llama:
    """The model's weights rearranged for the decoder, and one forward over a block of tokens."""

    def __init__(self, lm):
        import torch

        cfg = lm.config
        self.check(cfg, lm)
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.dtype = lm.dtype
        body = lm.model
        self.embed = body.embed_tokens.weight
        self.norm, self.rotary = body.norm, body.rotary_emb  # the model's own final norm and RoPE tables
        self.lm_head = lm.lm_head.weight
        self.layers = []
        for layer in body.layers:
            a, m = layer.self_attn, layer.mlp
            self.layers.append(_Layer(
                layer.input_layernorm,
                torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).contiguous(), a.o_proj.weight,
                layer.post_attention_layernorm,
                torch.cat([m.gate_proj.weight, m.up_proj.weight]).contiguous(), m.down_proj.weight))

    @staticmethod
    def check(cfg, lm) -> None:
        where = f"{getattr(cfg, '_name_or_path', '') or 'the model'}'s config.json"
        problems = []
        if cfg.model_type != "llama":
            problems.append(f"model_type is {cfg.model_type!r} (needs 'llama')")
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            problems.append("attention_bias/mlp_bias is true (needs false)")
        if getattr(cfg, "hidden_act", "silu") != "silu":
            problems.append(f"hidden_act is {cfg.hidden_act!r} (needs 'silu')")
        rope = getattr(lm.model.rotary_emb, "rope_type", "default")
        if rope not in STATIC_ROPE:
            problems.append(f"rope type is {rope!r} (needs one of {STATIC_ROPE})")
        if problems:
            raise UserError(f"llms.Lean cannot run {where}: " + "; ".join(problems) + ". Use llms.HF for it.")

    def new_cache(self, rows: int, length: int) -> list:
        import torch

        # Keys are kept transposed ([.., head_dim, slot]) and attention always reads the whole cache, masked:
        # a slice of it is not one strided batch, and the batched matmul would copy it at every step (measured
        # slower than scoring the empty slots). Zeros, not empty: a masked slot must not hold a NaN.
        keys = (rows, self.kv_heads, self.head_dim, length)
        values = (rows, self.kv_heads, length, self.head_dim)
        return [(torch.zeros(keys, dtype=self.dtype), torch.zeros(values, dtype=self.dtype)) for _ in self.layers]

    def forward(self, ids, positions, cache, start: int, mask):
        """Run tokens ``ids`` [B, T] at ``positions`` [B, T] into cache slots start..start+T-1, attending to the
        cache slots ``mask`` allows (bool [B, T, cache width]); returns the last position's logits."""
        import torch
        import torch.nn.functional as F
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        rows, steps = ids.shape
        h, kv, d = self.heads, self.kv_heads, self.head_dim
        end = start + steps
        x = self.embed[ids]
        cos, sin = self.rotary(x, positions)
        additive = torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))[:, None] if steps == 1 else None
        for layer, (keys, values) in zip(self.layers, cache):
            q, k, v = F.linear(layer.ln1(x), layer.qkv).split([h * d, kv * d, kv * d], dim=-1)
            q, k = apply_rotary_pos_emb(q.view(rows, steps, h, d).transpose(1, 2),
                                        k.view(rows, steps, kv, d).transpose(1, 2), cos, sin)
            keys[..., start:end] = k.transpose(-1, -2)
            values[:, :, start:end] = v.view(rows, steps, kv, d).transpose(1, 2)
            if steps == 1:
                out = self.attend(q, keys, values, additive)
            else:  # a prompt block: torch's fused CPU kernel over the slots filled so far; it needs every query
                # head's keys/values laid out in full (with enable_gqa or strided keys it falls back to a slow path)
                groups = h // kv
                out = F.scaled_dot_product_attention(
                    q, keys[..., :end].transpose(-1, -2).repeat_interleave(groups, dim=1),
                    values[:, :, :end].repeat_interleave(groups, dim=1), attn_mask=mask[:, None, :, :end])
            x = x + F.linear(out.transpose(1, 2).reshape(rows, steps, h * d), layer.o)
            gate, up = F.linear(layer.ln2(x), layer.gate_up).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, layer.down)
        return F.linear(self.norm(x[:, -1]), self.lm_head).float()

    def attend(self, q, keys_t, values, additive):
        """Grouped-query attention: the query heads sharing a key/value head are stacked as extra query rows of
        that head, so no key/value head is repeated in memory. ``keys_t``: [B, kv, d, S] (transposed),
        ``additive``: [B, 1, T, S], 0 or -inf."""
        import torch

        rows, _, steps, d = q.shape
        groups = self.heads // self.kv_heads
        qg = q.reshape(rows, self.kv_heads, groups * steps, d)
        scores = torch.matmul(qg, keys_t).float() * d ** -0.5
        scores = scores.view(rows, self.kv_heads, groups, steps, -1) + additive[:, :, None]
        probs = torch.softmax(scores, dim=-1).to(q.dtype).view(rows, self.kv_heads, groups * steps, -1)
        return torch.matmul(probs, values).view(rows, self.heads, steps, d)


@LLMS.register("Lean")
class LeanLlama(HFCausalLM):
    """Greedy decoding of a Llama-architecture model with a shared prompt prefix, a preallocated cache and
    finished rows dropped (see the module docstring). Takes ``llms.HF``'s settings except sampling and
    quantisation; ``share_prefix`` cannot change a text, so it stays out of the cache key."""

    def __init__(self, *args, share_prefix: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if self.do_sample:
            raise UserError("llms.Lean decodes greedily only (do_sample=False); use llms.HF to sample")
        if self.quantize:
            raise UserError("llms.Lean runs the model's own weights; quantize is an llms.HF setting")
        self.share_prefix = share_prefix
        self._net = None

    def params(self) -> dict:
        return {**super().params(), "engine": "lean"}

    def net(self) -> _Llama:
        if self._net is None:
            lm, _ = self.load()
            self._net = _Llama(lm)
        return self._net

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[Generation]:
        import torch

        _, tok = self.load()
        net = self.net()
        rows = tok([self.chat(p.text) for p in prompts], add_special_tokens=not self.use_chat_template)["input_ids"]
        if any(not r for r in rows):
            raise UserError("llms.Lean got a prompt that tokenises to nothing")
        with torch.inference_mode():
            tokens = _Decode(net, rows, self.repetition_penalty, tok.eos_token_id,
                             self.share_prefix).run(max_new_tokens)
        return [Generation(tok.decode(t, skip_special_tokens=True).strip(), len(t)) for t in tokens]


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all rows start with, leaving every row at least one token of its own
    (the last prompt token's logits start the text)."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class _Decode:
    """One batch: prefix once, then each row's own prompt tokens (left-padded), then one token per step."""

    def __init__(self, net: _Llama, rows, penalty: float, eos: int | None, share: bool):
        self.net, self.penalty, self.eos = net, penalty, eos
        self.prefix = shared_prefix(rows) if share and len(rows) > 1 else 0
        self.rows = rows

    def run(self, max_new_tokens: int) -> list[list[int]]:
        import torch

        net, rows, p = self.net, self.rows, self.prefix
        n = len(rows)
        own = max(len(r) - p for r in rows)
        width = p + own + max_new_tokens
        cache = net.new_cache(n, width)
        valid = torch.zeros(n, width, dtype=torch.bool)
        if p:
            self.run_prefix(cache, rows[0][:p])
            valid[:, :p] = True
        ids = torch.full((n, own), rows[0][-1], dtype=torch.long)
        positions = torch.zeros(n, own, dtype=torch.long)
        lengths = torch.tensor([len(r) for r in rows])
        seen = torch.empty(n, p + own + max_new_tokens, dtype=torch.long)
        for i, r in enumerate(rows):
            mine = r[p:]
            ids[i, own - len(mine):] = torch.tensor(mine)
            positions[i, own - len(mine):] = torch.arange(p, len(r))
            valid[i, p + own - len(mine):p + own] = True
            seen[i, :p + own] = torch.tensor(r + [r[-1]] * (p + own - len(r)))  # pads repeat a real token
        causal = torch.arange(p, p + own)[:, None] >= torch.arange(width)[None, :]
        mask = valid[:, None] & causal[None]
        mask |= (torch.arange(p, p + own)[:, None] == torch.arange(width)[None, :])[None]  # no empty softmax
        logits = net.forward(ids, positions, cache, p, mask)
        return self.decode(logits, cache, valid, seen, lengths, p + own, max_new_tokens)

    def run_prefix(self, cache, prefix: list[int]) -> None:
        import torch

        net, p = self.net, len(prefix)
        one = net.new_cache(1, p)
        ids = torch.tensor([prefix])
        positions = torch.arange(p)[None]
        mask = (torch.arange(p)[:, None] >= torch.arange(p)[None, :])[None]
        net.forward(ids, positions, one, 0, mask)
        for (keys, values), (k1, v1) in zip(cache, one):
            keys[..., :p] = k1
            values[:, :, :p] = v1

    def decode(self, logits, cache, valid, seen, lengths, slot: int, max_new_tokens: int) -> list[list[int]]:
        import torch

        out: list[list[int]] = [[] for _ in range(len(lengths))]
        alive = torch.arange(len(lengths))  # original row of each batch row
        done = torch.zeros(len(lengths), dtype=torch.bool)
        for step in range(max_new_tokens):
            if self.penalty != 1.0:
                logits = self.penalise(logits, seen[:, :slot + step])
            nxt = logits.argmax(dim=-1)
            for row, token, finished in zip(alive.tolist(), nxt.tolist(), done.tolist()):
                if not finished:
                    out[row].append(token)
            if self.eos is not None:
                done |= nxt == self.eos
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            seen[:, slot + step] = nxt
            if 4 * int(done.sum()) >= len(done):  # drop finished rows once a quarter is finished
                keep = (~done).nonzero().squeeze(1)
                alive, nxt, valid, seen, lengths, done = (t[keep] for t in (alive, nxt, valid, seen, lengths, done))
                cache = [(k[keep], v[keep]) for k, v in cache]
            valid[:, slot + step] = True
            logits = self.net.forward(nxt[:, None], (lengths + step)[:, None], cache, slot + step, valid[:, None])
        return [t[:t.index(self.eos)] if self.eos in t else t for t in out]

    def penalise(self, logits, seen):
        """The repetition penalty: a token already in the row divides a positive logit by it, multiplies a
        negative one (as transformers' RepetitionPenaltyLogitsProcessor)."""
        import torch

        scores = logits.gather(1, seen)
        scores = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
        return logits.scatter(1, seen, scores)
