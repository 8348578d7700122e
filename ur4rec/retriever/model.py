"""The retriever of paper section 3.2: p blocks of self-attention -> cross-attention to Z -> FFN (eq. 4).

    X_M^p   = LN(X^p   + MHAtt(X^p))             self-attention with one of the Figure 3 masks
    X_C^p   = LN(X_M^p + CrossAtt(X_M^p, Z))     Z = e_u^aggr of eq. 5, padding masked out
    X^{p+1} = LN(X_C^p + FFN(X_C^p))             (post-norm, the layout of the BERT layer it copies)

Inputs X^0 by use: the K proxies alone (eq. 6, mask (a)); one item alone without cross-attention
(eq. 7); [P; h_i] (eq. 8, mask (b)); [P; h_1..h_N] (section 3.3, mask (c)). X^0 passes an input
layer norm first (BERT's embedding norm), so learned proxies and projected item vectors enter the
copied layers at the scale those layers were trained on.

Self-attention and FFN (and the input norm) can be copied from the frozen text encoder's first p
layers (``init_from``: BERT or MPNet architectures, e.g. the default all-MiniLM-L6-v2);
cross-attention always starts random, as in the paper. Stock transformers ``BertLayer`` is not
used: with cross-attention it requires ``is_decoder=True``, which makes self-attention causal.
"""
from __future__ import annotations

import torch
from torch import nn

from ur4rec.modules.attention import FeedForward, MultiHeadAttention
from ur4rec.modules.dropout import Dropout
from ur4rec.registry import registry
from ur4rec.retriever import masks


class RetrieverBlock(nn.Module):
    """One block of eq. 4; ``z=None`` skips the cross-attention (eq. 7 uses only the first and third lines)."""

    def __init__(self, dim: int, heads: int, hidden: int, z_dim: int, dropout: float = 0.1, eps: float = 1e-12):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, heads)
        self.cross_attn = MultiHeadAttention(dim, heads, key_dim=z_dim)
        self.ffn = FeedForward(dim, hidden)
        self.norm_self, self.norm_cross, self.norm_ffn = (nn.LayerNorm(dim, eps=eps) for _ in range(3))
        self.drop = Dropout(dropout)

    def forward(self, x, mask, z=None, z_mask=None):
        # x [B, T, d], mask [B, T, T], z [B, S, d_z], z_mask [B, S] -> [B, T, d]
        x = self.norm_self(x + self.drop(self.self_attn(x, x, mask)))
        if z is not None:
            x = self.norm_cross(x + self.drop(self.cross_attn(x, z, z_mask.unsqueeze(1))))
        return self.norm_ffn(x + self.drop(self.ffn(x)))


class Retriever(nn.Module):
    """K learned proxies + p blocks; the methods are the paper's four uses of the same weights."""

    def __init__(self, z_dim: int, layers: int = 2, n_proxies: int = 8, dim: int = 384, heads: int = 12,
                 hidden: int | None = None, dropout: float = 0.1, init_from=None):
        super().__init__()
        source = None
        if init_from is not None:  # a frozen text encoder (encoders.HF); its shape wins over dim/heads/hidden
            source, cfg = _encoder_network(init_from)
            dim, heads, hidden = cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size
            if layers > cfg.num_hidden_layers:
                raise ValueError(f"retriever layers={layers} but the encoder has only {cfg.num_hidden_layers}")
        self.dim, self.n_proxies, self.n_layers = dim, n_proxies, layers
        self.input_norm = nn.LayerNorm(dim, eps=1e-12)
        self.z_norm = nn.LayerNorm(z_dim)
        self.proxies = nn.Parameter(torch.randn(n_proxies, dim) * 0.02)  # P = [p_1..p_K]
        self.blocks = nn.ModuleList(RetrieverBlock(dim, heads, hidden or 4 * dim, z_dim, dropout) for _ in range(layers))
        self.drop = Dropout(dropout)
        self.init_description = "random"
        if source is not None:
            copy_encoder_layers(self, source)
            self.init_description = f"self-attention/FFN from the first {layers} layers of {init_from.encoder_id}"

    def reset_proxies(self, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            self.proxies.copy_(torch.randn(self.proxies.shape, generator=generator) * 0.02)

    def run(self, x, mask, z=None, z_mask=None):
        x = self.drop(self.input_norm(x))
        z = None if z is None else self.z_norm(z)
        for block in self.blocks:
            x = block(x, mask, z, z_mask)
        return x

    def _proxies(self, batch: int) -> torch.Tensor:
        return self.proxies.unsqueeze(0).expand(batch, -1, -1)  # [B, K, d]

    def preference(self, z, z_mask):
        """Eq. 6: e^pref = Retriever(P, Z), mask (a). z [B, S, d_z] -> [B, K, d]."""
        b = z.shape[0]
        x = self._proxies(b)
        valid = torch.ones(b, self.n_proxies, dtype=torch.bool, device=z.device)
        return self.run(x, masks.bidirectional(valid), z, z_mask)

    def items(self, h):
        """Eq. 7: e^pos/neg = Retriever(h_i), each item alone, no cross-attention. h [B, M, d] -> [B, M, d]."""
        b, m, d = h.shape
        x = h.reshape(b * m, 1, d)
        mask = torch.ones(b * m, 1, 1, dtype=torch.bool, device=h.device)
        return self.run(x, mask).view(b, m, d)

    def match(self, h, z, z_mask):
        """Eq. 8 (path b): Retriever([P; h_i], Z) per item, mask (b). h [B, M, d] -> [B, M, K+1, d]."""
        b, m, d = h.shape
        k = self.n_proxies
        x = torch.cat([self._proxies(b * m), h.reshape(b * m, 1, d)], dim=1)  # [B*M, K+1, d]
        valid = torch.ones(b * m, k + 1, dtype=torch.bool, device=h.device)
        zz = z.repeat_interleave(m, dim=0)  # [B*M, S, d_z]
        zm = z_mask.repeat_interleave(m, dim=0)
        return self.run(x, masks.bidirectional(valid), zz, zm).view(b, m, k + 1, d)

    def joint(self, h, valid, z, z_mask):
        """Section 3.3 (path c): Retriever([P; h_1..h_N], Z), mask (c). -> (proxies [B, K, d], items [B, N, d])."""
        b = h.shape[0]
        x = torch.cat([self._proxies(b), h], dim=1)  # [B, K+N, d]
        out = self.run(x, masks.proxies_and_items(self.n_proxies, valid), z, z_mask)
        return out[:, :self.n_proxies], out[:, self.n_proxies:]


RETRIEVERS = registry("retrievers", Retriever)
RETRIEVERS.add(Retriever, "Transformer")


def _encoder_network(encoder):
    net, _ = encoder.load()
    return net, net.config


def _layer_tensors(net, i: int) -> dict[str, torch.Tensor]:
    """Layer i of a BERT- or MPNet-architecture encoder, under the retriever's parameter names."""
    layer = net.encoder.layer[i]
    if hasattr(layer.attention, "self"):  # BERT
        att, out_norm = layer.attention.self, layer.attention.output.LayerNorm
        q, k, v, o = att.query, att.key, att.value, layer.attention.output.dense
    elif hasattr(layer.attention, "attn"):  # MPNet
        att, out_norm = layer.attention.attn, layer.attention.LayerNorm
        q, k, v, o = att.q, att.k, att.v, att.o
    else:
        raise ValueError(f"cannot copy layers from {type(net).__name__}: only BERT and MPNet layouts are known")
    pairs = {"self_attn.q": q, "self_attn.k": k, "self_attn.v": v, "self_attn.out": o, "norm_self": out_norm,
             "ffn.0": layer.intermediate.dense, "ffn.3": layer.output.dense, "norm_ffn": layer.output.LayerNorm}
    return {f"{name}.{p}": t for name, mod in pairs.items() for p, t in mod.named_parameters(recurse=False)}


def copy_encoder_layers(retriever: Retriever, net) -> None:
    """Copy the encoder's first p layers (self-attention, FFN, their norms) and its embedding norm."""
    with torch.no_grad():
        for i, block in enumerate(retriever.blocks):
            own = dict(block.named_parameters())
            for name, tensor in _layer_tensors(net, i).items():
                own[name].copy_(tensor)
        emb_norm = net.embeddings.LayerNorm
        retriever.input_norm.weight.copy_(emb_norm.weight)
        retriever.input_norm.bias.copy_(emb_norm.bias)
