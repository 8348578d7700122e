"""Building blocks shared by the backbones: masked pooling, attention blocks, a padding-aware GRU.

The attention primitives themselves live in ``ur4rec.modules.attention`` (the retriever uses them too).

Masks are boolean with True = "may take part"; attention never sees a row with every key masked
(callers keep at least one key per query), so no NaN can appear.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ur4rec.backbones.base import Batch, CandidateInput, ItemEmbedding, Sizes
from ur4rec.modules.attention import FeedForward, MultiHeadAttention


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # x [B, L, d], mask [B, L] -> [B, d]; an all-padding row gives zeros
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


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
