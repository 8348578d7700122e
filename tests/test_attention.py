"""The bf16-on-CPU training path of MultiHeadAttention against torch's fused attention."""
import torch
import torch.nn.functional as F

from ur4rec.modules import attention
from ur4rec.modules.attention import MultiHeadAttention, _attention


def test_plain_attention_equals_the_fused_kernel_in_fp32():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    mask = torch.rand(2, 1, 5, 7) > 0.4
    mask[..., 0] = True  # every query keeps a key, as the callers guarantee
    assert torch.allclose(_attention(q, k, v, mask, 0.0), F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                          atol=1e-6)


def test_bf16_autocast_training_takes_the_plain_path_stays_close_to_fp32_and_has_gradients(monkeypatch):
    calls = []
    monkeypatch.setattr(attention, "_attention", lambda *a: calls.append(1) or _attention(*a))  # a spy, same result
    torch.manual_seed(0)
    att = MultiHeadAttention(16, 4, key_dim=12)
    x, z = torch.randn(3, 6, 16), torch.randn(3, 4, 12)
    mask = torch.ones(3, 6, 4, dtype=torch.bool)
    mask[0, :, 2:] = False
    reference = att(x, z, mask)
    assert not calls  # fp32: torch's fused kernel
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = att(x, z, mask)
    assert out.dtype == torch.bfloat16 and calls == [1]
    assert torch.allclose(out.float(), reference, atol=0.05)
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in att.parameters())
