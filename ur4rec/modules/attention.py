"""Multi-head attention and the position-wise FFN (Vaswani et al., 2017), shared by backbones and retriever.

Masks are boolean with True = "may attend"; callers keep at least one key per query, so no row of
the softmax is empty and no NaN can appear. Parameter names (q, k, v, out; FFN 0 and 3) are the
ones the retriever copies BERT's query/key/value/output and intermediate/output tensors into.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_h)) V over ``heads`` heads; keys may have their own width (cross-attention)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, key_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        key_dim = key_dim or dim
        self.q, self.out = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.k, self.v = nn.Linear(key_dim, dim), nn.Linear(key_dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, d] -> [B, h, T, d/h]
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # query [B, Tq, d], keys [B, Tk, d_k], mask [B, Tq, Tk] or [B, 1, Tk] (True = attend) -> [B, Tq, d]
        query, keys = _autocast_once(query, keys)
        if keys.shape[1] == 1 and not (self.training and self.dropout):
            # one key: its softmax weight is 1 whatever the scores, so the output is W_o W_v k for every query
            # (bit-for-bit what the full form gives). The retriever's item pass (eq. 7) is this case for every item.
            return self.out(self.v(keys)).expand(-1, query.shape[1], -1)
        q, k, v = self._split(self.q(query)), self._split(self.k(keys)), self._split(self.v(keys))
        attn_mask = None if mask is None else mask.unsqueeze(1)  # broadcast over heads
        dropout = self.dropout if self.training else 0.0
        if q.dtype == torch.bfloat16 and q.device.type == "cpu" and torch.is_grad_enabled():
            out = _attention(q, k, v, attn_mask, dropout)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        b, h, t, dh = out.shape
        return self.out(out.transpose(1, 2).reshape(b, t, h * dh))


def _autocast_once(query: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Under autocast, cast the inputs to its dtype once here: autocast casts an fp32 input once per Linear
    (three times for q, k and v), and again in the backward."""
    device = query.device.type
    if not torch.is_autocast_enabled(device):
        return query, keys
    cast = query.to(torch.get_autocast_dtype(device))
    return cast, (cast if keys is query else keys.to(cast.dtype))


def _attention(q, k, v, attn_mask, dropout: float):
    """The same attention as three plain ops. Used for bf16 training on CPU, where the backward of torch's fused
    CPU attention kernel is about 4x slower in bf16 than in fp32 (benchmarks/results/retriever.md). The scale is
    applied to q (smaller than the scores) and the softmax takes the bf16 scores as they are (torch's CPU kernel
    accumulates in fp32 either way), which saves four passes over the [B, h, Tq, Tk] scores per step."""
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).to(v.dtype)
    if dropout:
        weights = F.dropout(weights, dropout)
    return torch.matmul(weights, v)


class FeedForward(nn.Sequential):
    """Position-wise FFN: W2 GELU(W1 x) (exact GELU, as BERT)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
