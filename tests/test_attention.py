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


def test_a_single_key_skips_the_scores_and_gives_what_the_full_form_gives():
    torch.manual_seed(0)
    att = MultiHeadAttention(16, 4, key_dim=12).eval()
    x, z = torch.randn(5, 3, 16), torch.randn(5, 1, 12)
    mask = torch.ones(5, 3, 1, dtype=torch.bool)

    def full(query, keys):  # the general path, written out
        q, k, v = att._split(att.q(query)), att._split(att.k(keys)), att._split(att.v(keys))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.unsqueeze(1))
        return att.out(out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1))

    queried = []
    att.q.register_forward_hook(lambda *args: queried.append(1))
    assert torch.equal(att(x, z, mask), full(x, z))
    assert len(queried) == 1  # only full() projected queries: the module skipped the scores
    self_att = MultiHeadAttention(16, 4).eval()
    single = x[:, :1]
    q, k, v = (self_att._split(lin(single)) for lin in (self_att.q, self_att.k, self_att.v))
    expected = self_att.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(5, 1, 16))
    assert torch.equal(self_att(single, single), expected)  # self-attention over one token (the item pass)
    noisy = MultiHeadAttention(16, 4, dropout=0.5, key_dim=12).train()
    noisy.load_state_dict(att.state_dict())
    # attention dropout makes the single weight 0 or 2, never 1: in training the full form must still run
    assert not torch.allclose(noisy(x, z, mask), att(x, z, mask))
