"""LRURec (Yue et al., WSDM 2024, "Linear recurrent units for sequential recommendation"), a Table 5 baseline.

The history is read by linear recurrent units (LRU, Orvieto et al. 2023): a diagonal complex
recurrence with no non-linearity inside the time loop, so training can use a parallel scan::

    u_t = gamma * (B x_t)                                 B: d -> h complex (two real maps), gamma = sqrt(1 - |lambda|^2)
    s_t = lambda * s_{t-1} + u_t,  s_0 = 0                lambda = exp(-exp(nu) + i exp(theta)), |lambda| < 1
    y_t = C [Re s_t ; Im s_t]                             C: 2h -> d (real)
    block: X = LN(X + Drop(y)); X = LN(X + Drop(FFN(X)))
    r_i = y_last . c_i,  c_i = W [e(i); e_aug(i)]         score of candidate i (tied item embeddings)

``scan='parallel'`` (training default) computes all s_t in ceil(log2 L) steps
(s_t += lambda^(2^k) s_{t-2^k}, Hillis-Steele); ``scan='recurrent'`` runs the loop above step by
step (the reference the tests compare against). Left padding of the window is harmless: padded
steps get u_t = 0 (no bias in B, inputs masked), so the state stays 0 until the first real item.
lambda is initialised with |lambda| uniform in [r_min, r_max] and phase in [0, max_phase] as in the
LRU paper; the recurrence runs in float32 complex even under bf16 autocast.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ur4rec.backbones.base import BACKBONES, Backbone, Batch, CandidateInput, ItemEmbedding, Sizes
from ur4rec.modules.attention import FeedForward

SCANS = ("parallel", "recurrent")


def parallel_scan(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """s_t = sum_{k<=t} lam^(t-k) u_k for every t, in ceil(log2 L) vectorised steps.

    lam [h] complex, u [B, L, h] complex -> s [B, L, h]. After step j each s_t holds the sum over the
    last 2^j inputs; adding lam^(2^j) s_{t-2^j} doubles that window."""
    s, power, step, length = u, lam, 1, u.shape[1]
    while step < length:
        s = torch.cat([s[:, :step], s[:, step:] + power * s[:, :-step]], dim=1)  # out of place: autograd-safe
        power, step = power * power, 2 * step
    return s


def recurrent_scan(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The same states by the recurrence s_t = lam * s_{t-1} + u_t, one step at a time."""
    s, states = torch.zeros_like(u[:, 0]), []
    for t in range(u.shape[1]):
        s = lam * s + u[:, t]
        states.append(s)
    return torch.stack(states, dim=1)


class LRU(nn.Module):
    """One linear recurrent unit: x [B, L, d] -> y [B, L, d] (see the module docstring)."""

    def __init__(self, dim: int, state: int, r_min: float = 0.8, r_max: float = 0.99,
                 max_phase: float = 2 * math.pi):
        super().__init__()
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError(f"backbones.LRURec needs 0 <= r_min < r_max < 1 (|lambda| < 1 keeps the recurrence "
                             f"stable), got r_min={r_min}, r_max={r_max}")
        radius = torch.empty(state).uniform_(r_min ** 2, r_max ** 2).sqrt()  # uniform on the ring's area
        self.nu_log = nn.Parameter(torch.log(-torch.log(radius)))  # |lambda| = exp(-exp(nu_log))
        self.theta_log = nn.Parameter(torch.log(torch.empty(state).uniform_(1e-3, max_phase)))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - radius ** 2)))  # keeps |s_t| ~ |u_t| at init
        self.b_re, self.b_im = nn.Linear(dim, state, bias=False), nn.Linear(dim, state, bias=False)
        self.c = nn.Linear(2 * state, dim)

    def lam(self) -> torch.Tensor:
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))  # [h] complex

    def forward(self, x: torch.Tensor, scan: str = "parallel") -> torch.Tensor:
        gamma = torch.exp(self.gamma_log)
        u = torch.complex(self.b_re(x).float(), self.b_im(x).float()) * gamma  # [B, L, h]
        s = (parallel_scan if scan == "parallel" else recurrent_scan)(self.lam(), u)
        return self.c(torch.cat([s.real, s.imag], dim=-1).to(x.dtype))  # [B, L, d]


class LRUBlock(nn.Module):
    """X = LN(X + Drop(LRU(X))); X = LN(X + Drop(FFN(X))); padded steps are zeroed after each half."""

    def __init__(self, dim: int, dropout: float, **lru_args):
        super().__init__()
        self.lru = LRU(dim, dim, **lru_args)
        self.ffn = FeedForward(dim, 4 * dim, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, scan: str) -> torch.Tensor:
        # x [B, L, d], mask [B, L, 1] float (1 = real step)
        x = self.norm1(x + self.drop(self.lru(x, scan))) * mask
        return self.norm2(x + self.drop(self.ffn(x))) * mask


@BACKBONES.register("LRURec")
class LRURec(Backbone):
    """Linear recurrent units over the history window; score = dot(last output, candidate embedding)."""

    def __init__(self, sizes: Sizes, aug_dim: int = 0, dim: int = 64, layers: int = 2, dropout: float = 0.1,
                 r_min: float = 0.8, r_max: float = 0.99, scan: str = "parallel"):
        super().__init__(sizes, aug_dim)
        if scan not in SCANS:
            raise ValueError(f"backbones.LRURec.scan must be one of {SCANS}, not {scan!r}")
        self.scan = scan
        self.items = ItemEmbedding(sizes, dim)
        self.cand_in = CandidateInput(dim, aug_dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(LRUBlock(dim, dropout, r_min=r_min, r_max=r_max) for _ in range(layers))

    def encode(self, batch: Batch, scan: str | None = None) -> torch.Tensor:
        """[B, L, d]: output at every history step (step t depends on steps <= t only)."""
        mask = batch.hist_mask.unsqueeze(-1).float()  # [B, L, 1]
        x = self.drop(self.norm(self.items(batch.hist, batch.hist_attrs))) * mask
        for block in self.blocks:
            x = block(x, mask, scan or self.scan)
        return x

    def item_embedding(self):
        return self.items

    def forward(self, batch: Batch) -> torch.Tensor:
        f = self.encode(batch)[:, -1]  # [B, d]: the most recent step (windows are left-padded)
        c = self.cand_in(self.items(batch.cand, batch.cand_attrs), batch.augment)  # [B, N, d]
        return torch.einsum("bd,bnd->bn", f, c)  # [B, N]
