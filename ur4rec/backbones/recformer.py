"""Recformer (Li et al., KDD 2023, "Text is all you need"), a Table 5 baseline, started from MiniLM.

An item is its attributes as key-value text ("title Toy Story genres Animation, Comedy year 1995");
a user is the sequence of their items' texts, flattened into one token sequence. One bidirectional
transformer encodes both::

    E(token) = word + position-in-item + type (key / value) + item-position (recency; 0 = [CLS])
    q_u  = pool(Encoder([CLS]; text(h_1); ...; text(h_L)))          the sequence representation
    v_i  = pool(Encoder([CLS]; text(i)))                            an item representation
    r_i  = cos(q_u, c_i) / tau,  c_i = W [v_i; e_aug(i)]            (W starts as [I, 0], see CandidateInput)

**Not the original model.** Recformer starts from Longformer-base (long sequences, 50 items); that
checkpoint is not available offline here, so this one starts from the frozen text encoder's weights
(``encoders.HF``, default all-MiniLM-L6-v2: its first ``layers`` BERT layers, fine-tuned), reads
the last ``max_items`` items of ``max_tokens`` tokens each, and is shown as "Recformer-MiniLM" in
result tables. It keeps Recformer's fine-tuning scheme: candidate representations come from an item
matrix I = [v_1 .. v_n] computed without gradient and refreshed once per epoch (after the weights
change, at the next validation or epoch start), so a step encodes only the B histories.

Item token ids are built once per backbone from the prepared dataset (truncated per item), and the
word embedding keeps only the rows of tokens that occur in item texts (a few thousand of MiniLM's
30,522), which keeps checkpoints small. The backbone contract gives a backbone only the vocabulary
sizes, so the item texts come from ``data`` when given (tests, scripts) and otherwise from the
gin-configured ``prepare_data()`` of the running experiment (a cached load).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, CandidateInput, Sizes
from ur4rec.errors import ConfigError

# what an Item's generic fields are called in each domain's key-value text
FIELD_KEYS = {"movies": ("genres", "director"), "games": ("tags", "developer"), "books": ("categories", "author")}
POOLINGS = ("mean", "cls")


def item_attributes(item, domain: str) -> list[tuple[str, str]]:
    """(key, value) pairs of one item, title first; empty fields are left out."""
    cat_key, brand_key = FIELD_KEYS.get(domain, ("categories", "brand"))
    pairs = [("title", item.title), (cat_key, ", ".join(item.categories)), ("year", item.year),
             (brand_key, item.brand)] + sorted(item.extra.items())
    return [(k, str(v).strip()) for k, v in pairs if str(v).strip()]


def item_text(item, domain: str) -> str:
    """The flattened key-value text of one item (what the token ids spell)."""
    return " ".join(f"{k} {v}" for k, v in item_attributes(item, domain))


def tokenize_items(items, domain: str, tokenizer, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """([n, max_tokens] token ids, -1 = padding; [n, max_tokens] types, 0 = key, 1 = value) per item.

    Keys and values are tokenised separately (one batched call) so every token knows which it is;
    tokens past ``max_tokens`` are cut, so later attributes go first."""
    pairs = [item_attributes(it, domain) for it in items]
    flat = [s for p in pairs for kv in p for s in kv]
    encoded = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    ids = np.full((len(items), max_tokens), -1, dtype=np.int64)
    types = np.zeros((len(items), max_tokens), dtype=np.int64)
    k = 0
    for row, p in enumerate(pairs):
        toks, kinds = [], []
        for _ in p:
            for kind in (0, 1):
                toks += encoded[k]
                kinds += [kind] * len(encoded[k])
                k += 1
        n = min(len(toks), max_tokens)
        ids[row, :n], types[row, :n] = toks[:n], kinds[:n]
    return ids, types


class _TableLookup:
    """What ``item_embedding()`` gives augmenters: the item matrix I as a lookup (ids, attrs) -> [..., H]."""

    def __init__(self, owner: "Recformer"):
        self.owner = owner

    @property
    def dim(self) -> int:
        return self.owner.hidden

    def __call__(self, ids: torch.Tensor, attrs: torch.Tensor | None = None) -> torch.Tensor:
        return self.owner.item_table()[ids]


@BACKBONES.register("Recformer")
class Recformer(Backbone):
    """Bidirectional transformer over the history's key-value item texts (MiniLM init, not Longformer)."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, encoder=None, data=None, layers: int = 2,
                 max_items: int = 10, max_tokens: int = 24, pooling: str = "mean", temperature: float = 0.05,
                 dropout: float = 0.1, item_batch_size: int = 256):
        super().__init__(sizes, aug_dim)
        if pooling not in POOLINGS:
            raise ValueError(f"backbones.Recformer.pooling must be one of {POOLINGS}, not {pooling!r}")
        if max_items < 1 or max_tokens < 1 or layers < 1:
            raise ValueError(f"backbones.Recformer needs layers, max_items and max_tokens >= 1 "
                             f"(got {layers}, {max_items}, {max_tokens})")
        data = _dataset(data, sizes)
        net, tokenizer, source = _load_encoder(encoder, layers, dropout)
        self.hidden = int(net.config.hidden_size)
        self.max_items, self.pooling, self.temperature = max_items, pooling, temperature
        self.item_batch_size = item_batch_size
        self.description = f"first {layers} layers of {source} (Recformer starts from Longformer; not available offline)"
        ids, types = tokenize_items(data.items[1:], data.domain, tokenizer, max_tokens)
        self._build_vocabulary(net, tokenizer, ids, types)
        self.net = net
        # item-position (recency) embedding, zero at start so the encoder first sees plain BERT input
        self.recency = nn.Embedding(max_items + 1, self.hidden)
        nn.init.zeros_(self.recency.weight)
        self.cand_in = CandidateInput(self.hidden, aug_dim)
        self._table: torch.Tensor | None = None
        self._table_version = -1
        self._lookup = _TableLookup(self)

    # ---- item text -> compact token ids --------------------------------------------------------
    def _build_vocabulary(self, net, tokenizer, ids: np.ndarray, types: np.ndarray) -> None:
        """Keep only the word-embedding rows item texts use: compact id 0 = padding, 1 = [CLS]."""
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        if cls_id is None:
            raise ConfigError("backbones.Recformer: the encoder's tokenizer has neither a [CLS] nor a BOS token")
        used = np.unique(ids[ids >= 0])
        vocab = np.concatenate([[cls_id], used[used != cls_id]])
        compact = np.zeros(int(max(vocab.max(), ids.max(initial=0))) + 1, dtype=np.int64)
        compact[vocab] = np.arange(1, len(vocab) + 1)
        table = np.where(ids >= 0, compact[np.maximum(ids, 0)], 0)
        full = net.get_input_embeddings().weight.detach()
        words = nn.Embedding(len(vocab) + 1, self.hidden, padding_idx=0)
        with torch.no_grad():
            words.weight.zero_()
            words.weight[1:] = full[torch.from_numpy(vocab)]
        net.set_input_embeddings(words)  # the full table is dropped: only these rows are trained and saved
        pad = np.zeros((1, ids.shape[1]), dtype=np.int64)  # item 0 = padding: no tokens
        self.register_buffer("item_tokens", torch.from_numpy(np.concatenate([pad, table])), persistent=False)
        self.register_buffer("item_types", torch.from_numpy(np.concatenate([pad, types])), persistent=False)

    # ---- the encoder ---------------------------------------------------------------------------
    def _encode(self, tokens: torch.Tensor, types: torch.Tensor, recency: torch.Tensor) -> torch.Tensor:
        """tokens/types/recency [B, S, T] (S items of T tokens) -> pooled [B, H]; a [CLS] token is prepended."""
        b, s, t = tokens.shape
        positions = torch.arange(1, t + 1, device=tokens.device).expand(b, s, t)
        first = torch.ones(b, 1, dtype=torch.long, device=tokens.device)  # compact id 1 = [CLS]
        zero = torch.zeros_like(first)
        ids, types, recency, positions = _packed(
            torch.cat([first, tokens.reshape(b, s * t)], 1), torch.cat([zero, types.reshape(b, s * t)], 1),
            torch.cat([zero, recency.reshape(b, s * t)], 1), torch.cat([zero, positions.reshape(b, s * t)], 1))
        mask = ids > 0
        embeds = self.net.get_input_embeddings()(ids) + self.recency(recency)
        kinds = types if self.net.config.type_vocab_size > 1 else None
        out = self.net(inputs_embeds=embeds, attention_mask=mask.long(), token_type_ids=kinds,
                       position_ids=positions).last_hidden_state
        if self.pooling == "cls":
            return out[:, 0]
        m = mask.unsqueeze(-1).to(out.dtype)
        return (out * m).sum(1) / m.sum(1)  # the [CLS] token keeps every row non-empty

    def sequence(self, batch: Batch) -> torch.Tensor:
        """q_u [B, H]: the encoder over the last ``max_items`` history items' texts."""
        hist = batch.hist[:, -self.max_items:]  # [B, L], most recent last, 0 = padding
        length = hist.shape[1]
        recency = torch.arange(length, 0, -1, device=hist.device).expand_as(hist) * (hist > 0)  # L..1, 0 for pads
        tokens = self.item_tokens[hist]  # [B, L, T]
        return self._encode(tokens, self.item_types[hist], recency.unsqueeze(-1).expand_as(tokens))

    @torch.no_grad()
    def _encode_all_items(self) -> torch.Tensor:
        """I [n_items + 1, H]: every item's text alone, in eval mode (row 0, padding, is zeros)."""
        was_training = self.net.training
        self.net.eval()
        n = self.item_tokens.shape[0]
        table = torch.zeros(n, self.hidden, device=self.item_tokens.device)
        for start in range(1, n, self.item_batch_size):
            idx = torch.arange(start, min(start + self.item_batch_size, n), device=self.item_tokens.device)
            tokens = self.item_tokens[idx].unsqueeze(1)  # [b, 1, T]
            table[idx] = self._encode(tokens, self.item_types[idx].unsqueeze(1), torch.zeros_like(tokens)).float()
        self.net.train(was_training)
        return table

    def _weights_version(self) -> int:
        # optimiser steps and load_state_dict change parameters in place, which bumps their version
        return sum(p._version for p in self.net.parameters()) + self.recency.weight._version

    def item_table(self) -> torch.Tensor:
        """The item matrix I, recomputed when missing, or in eval mode when the weights changed since."""
        stale = self._table_version != self._weights_version()
        if self._table is None or (stale and not self.training):
            self._table = self._encode_all_items()
            self._table_version = self._weights_version()
        return self._table

    def train(self, mode: bool = True):
        # a training epoch starts: refresh I if the weights moved since it was computed (Recformer's
        # per-epoch item matrix); evaluation batches toggling the mode leave an up-to-date I alone
        if mode and self._table is not None and self._table_version != self._weights_version():
            self._table = None
        return super().train(mode)

    def item_embedding(self):
        return self._lookup

    def forward(self, batch: Batch) -> torch.Tensor:
        q = F.normalize(self.sequence(batch), dim=-1)  # [B, H]
        c = self.cand_in(self.item_table()[batch.cand], batch.augment)  # [B, N, H]
        return torch.einsum("bh,bnh->bn", q, F.normalize(c, dim=-1)) / self.temperature  # [B, N]


def _packed(ids: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Move each row's real tokens (id > 0) to the front, in order, and cut the all-padding tail.

    Exact for a bidirectional encoder: every token carries its own position, type and item-position
    ids, and padding is masked anyway; it only stops short titles and short histories from costing
    the compute of full-length ones."""
    real = ids > 0
    order = torch.sort((~real).to(torch.int8), dim=1, stable=True).indices  # real tokens first, order kept
    width = max(int(real.sum(1).max()), 1)
    keep = order[:, :width]
    return tuple(t.gather(1, keep) for t in (ids, *rest))


def _dataset(data, sizes: Sizes):
    """The prepared dataset whose item texts the backbone reads; checked against the ranker's sizes."""
    if data is None:
        from ur4rec.data.pipeline import prepare_data

        data = prepare_data()
    if data.n_items != sizes.n_items:
        raise ConfigError(f"backbones.Recformer: its dataset has {data.n_items} items but the ranker's has "
                          f"{sizes.n_items}; pass the same prepared dataset (backbones.Recformer.data)")
    return data


def _load_encoder(encoder, layers: int, dropout: float):
    """(a trainable copy of the encoder's network cut to ``layers`` layers, its tokenizer, its name)."""
    from transformers import AutoModel, AutoTokenizer

    from ur4rec.encoding.encoders import HFEncoder

    encoder = encoder if encoder is not None else HFEncoder()
    path = encoder.path()
    net = AutoModel.from_pretrained(str(path), hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    blocks = getattr(getattr(net, "encoder", None), "layer", None)
    if blocks is None or not hasattr(net.config, "type_vocab_size") or net.config.model_type != "bert":
        raise ConfigError(f"backbones.Recformer.encoder: {encoder.encoder_id} is a {net.config.model_type!r} model; "
                          "Recformer here needs a BERT-architecture encoder (e.g. all-MiniLM-L6-v2)")
    if layers > len(blocks):
        raise ConfigError(f"backbones.Recformer.layers = {layers}, but {encoder.encoder_id} has {len(blocks)} layers")
    net.encoder.layer = blocks[:layers]
    net.config.num_hidden_layers = layers
    net.pooler = None  # the sequence is pooled here (mean or [CLS]); BERT's pooler is not used
    return net, AutoTokenizer.from_pretrained(str(path)), encoder.encoder_id
