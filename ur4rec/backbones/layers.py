"""Building blocks shared by the backbones: masked pooling, attention blocks, a padding-aware GRU.

Masks are boolean with True = "may take part"; attention never sees a row with every key masked
(callers keep at least one key per query), so no NaN can appear.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ur4rec.backbones.base import Batch, CandidateInput, ItemEmbedding, Sizes


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # x [B, L, d], mask [B, L] -> [B, d]; an all-padding row gives zeros
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_h)) V over ``heads`` heads (Vaswani et al., 2017)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, d] -> [B, h, T, d/h]
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # query [B, Tq, d], keys [B, Tk, d], mask [B, Tq, Tk] or [B, 1, Tk] (True = attend) -> [B, Tq, d]
        q, k, v = self._split(self.q(query)), self._split(self.k(keys)), self._split(self.v(keys))
        attn_mask = None if mask is None else mask.unsqueeze(1)  # broadcast over heads
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        b, h, t, dh = out.shape
        return self.out(out.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Sequential):
    """Position-wise FFN: W2 act(W1 x)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class PostNormBlock(nn.Module):
    """H = LN(X + MHA(X, Y)); out = LN(H + FFN(H)) — the Transformer block of PRM and SetRank's MAB."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads, dropout)
        self.ffn = FeedForward(dim, 4 * dim, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = x if y is None else y
        h = self.norm1(x + self.drop(self.attn(x, y, mask)))
        return self.norm2(h + self.drop(self.ffn(h)))


class UserContext(nn.Module):
    """u = W [E_user[u]; mean(history embeddings)]: the user side of a (user, item) feature vector."""

    def __init__(self, sizes: Sizes, dim: int):
        super().__init__()
        self.users = nn.Embedding(sizes.n_users, dim)
        nn.init.normal_(self.users.weight, std=0.02)
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, user: torch.Tensor, hist_emb: torch.Tensor, hist_mask: torch.Tensor) -> torch.Tensor:
        # user [B], hist_emb [B, L, d], hist_mask [B, L] -> [B, d]
        return self.proj(torch.cat([self.users(user), masked_mean(hist_emb, hist_mask)], dim=-1))


class PairFeatures(nn.Module):
    """x_ui = [c_i; u; c_i * u] with c_i, u layer-normalised: the listwise rerankers' (user, item) features.

    DLCM, PRM and SetRank were designed for learning to rank, where each list entry is a
    query-document feature vector; in recommendation the query is the user, so an entry is the
    candidate's (augmented) embedding beside the user context and their element-wise product.
    Both sides are normalised first: with small initial embeddings the product term (the match)
    would otherwise start orders of magnitude below the others and learn far more slowly.
    """

    def __init__(self, sizes: Sizes, dim: int, aug_dim: int):
        super().__init__()
        self.items = ItemEmbedding(sizes, dim)
        self.cand_in = CandidateInput(dim, aug_dim)
        self.user_ctx = UserContext(sizes, dim)
        self.norm_c, self.norm_u = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.out_dim = 3 * dim

    def forward(self, batch: Batch) -> torch.Tensor:
        hist = self.items(batch.hist, batch.hist_attrs)  # [B, L, d]
        u = self.norm_u(self.user_ctx(batch.user, hist, batch.hist_mask))  # [B, d]
        c = self.norm_c(self.cand_in(self.items(batch.cand, batch.cand_attrs), batch.augment))  # [B, N, d]
        u = u.unsqueeze(1).expand_as(c)  # [B, N, d]
        return torch.cat([c, u, c * u], dim=-1)  # [B, N, 3d]


def gru_final_states(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``gru`` over right-padded ``x`` [B, T, d] with real lengths [B]; padding never enters the state.

    Returns (outputs [B, T, h] with zeros at padding, final state [B, h] after each row's last real step).
    """
    lengths = lengths.clamp(min=1)  # an empty row runs one step over a zero (padding) embedding
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, h_n = gru(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, h_n[-1]


def left_to_right_padded(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's real steps of a left-padded [B, L, d] to the front; returns (x, lengths [B])."""
    lengths = mask.sum(1)  # [B]
    length = x.shape[1]
    shift = (torch.arange(length, device=x.device).unsqueeze(0) + (length - lengths).unsqueeze(1)) % length  # [B, L]
    return torch.gather(x, 1, shift.unsqueeze(-1).expand_as(x)), lengths
