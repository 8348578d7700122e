"""KAR (Xi et al. 2023, "Towards open-world recommendation with knowledge augmentation from LLMs"):
the hybrid-expert adaptor, the "KAR" row of Tables 2 and 6.

KAR turns the encoded LLM texts into augment vectors with a mixture of small MLP experts. Each
input has its own softmax gate over the experts it may use: the experts *shared* by both inputs
plus the experts *specific* to it (user preference e_u, item knowledge e_i)::

    g_x      = softmax(W_x x)                                    one weight per usable expert
    adapt(x) = sum_k g_x[k] * Expert_k(x),  Expert_k = Linear -> ReLU -> Dropout -> Linear
    e_aug(u, i) = [adapt_user(e_u) ; adapt_item(e_i)]            concatenated to candidate i's embedding

Sizes follow KAR's official code: 2 shared experts, 5 specific experts per input, hidden width 128,
output width 32 (so e_aug has 64 dimensions). The knowledge vectors are the same frozen ones the
"+LLM" row (``augmenters.Text``) reads, and e_u is used the same way (for every sample), so the
comparison between the two rows isolates the adaptor.
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.augment.base import AUGMENTERS, Augmenter
from ur4rec.knowledge import KnowledgeSource


def expert(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    """One expert of the adaptor: a two-layer MLP."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class ExpertMix(nn.Module):
    """adapt(x) = sum_k softmax(W x)[k] * Expert_k(x) over the shared experts and this input's own."""

    def __init__(self, in_dim: int, shared: nn.ModuleList, n_specific: int, hidden: int, out_dim: int,
                 dropout: float):
        super().__init__()
        # the shared experts are owned by the KAR module; a plain list keeps them out of this
        # module's parameters so each shared expert is registered (and saved) once
        self.__dict__["shared"] = list(shared)
        self.specific = nn.ModuleList(expert(in_dim, hidden, out_dim, dropout) for _ in range(n_specific))
        self.gate = nn.Linear(in_dim, len(shared) + n_specific)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        # x [..., D] -> [..., n_shared + n_specific], each row sums to one
        return torch.softmax(self.gate(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([e(x) for e in self.shared + list(self.specific)], dim=-2)  # [..., E, out]
        return (self.gates(x).unsqueeze(-1) * outs).sum(-2)  # [..., out]


@AUGMENTERS.register("KAR")
class KARAugmenter(Augmenter):
    """KAR's hybrid-expert adaptor over frozen user-preference and item-knowledge vectors."""

    def __init__(self, data, source: KnowledgeSource, dim: int = 32, hidden: int = 128, n_shared: int = 2,
                 n_specific: int = 5, dropout: float = 0.1):
        super().__init__()
        if n_shared < 0 or n_specific < 0 or n_shared + n_specific == 0:
            raise ValueError(f"augmenters.KAR needs at least one expert per input (n_shared={n_shared}, "
                             f"n_specific={n_specific}); both must be >= 0")
        vectors = source.vectors(data)
        vectors.check(data.n_users, data.n_items)
        self.vectors_key = vectors.key
        self.register_buffer("user_vectors", torch.from_numpy(vectors.user).float(), persistent=False)  # [U, D]
        self.register_buffer("item_vectors", torch.from_numpy(vectors.item).float(), persistent=False)  # [I+1, D]
        self.shared = nn.ModuleList(expert(vectors.dim, hidden, dim, dropout) for _ in range(n_shared))
        self.user_mix = ExpertMix(vectors.dim, self.shared, n_specific, hidden, dim, dropout)
        self.item_mix = ExpertMix(vectors.dim, self.shared, n_specific, hidden, dim, dropout)
        self.dim = 2 * dim
        self.description = (f"KAR adaptor ({n_shared} shared + {n_specific} specific experts per input, "
                            f"{hidden} -> {dim}) over {vectors.description}")

    def cache_key(self) -> str:
        return self.vectors_key

    def gates(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(user gates [B, E], item gates [B, N, E]): the expert weights of each input (rows sum to one)."""
        return self.user_mix.gates(self.user_vectors[batch.user]), self.item_mix.gates(self.item_vectors[batch.cand])

    def forward(self, batch, items=None) -> torch.Tensor:
        e_i = self.item_mix(self.item_vectors[batch.cand])  # [B, N, d]
        e_u = self.user_mix(self.user_vectors[batch.user])  # [B, d]
        return torch.cat([e_u.unsqueeze(1).expand_as(e_i), e_i], dim=-1)  # [B, N, 2d]
