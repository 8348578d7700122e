"""ur4rec.modules.dropout: the retriever's cheaper dropout keeps nn.Dropout's contract."""
import pytest
import torch

from ur4rec.modules.dropout import WORD, Dropout, keep_mask


def test_keep_rate_and_expectation_match_the_requested_probability():
    torch.manual_seed(0)
    drop = Dropout(0.1).train()
    x = torch.ones(400, 1000)
    out = drop(x)
    kept = out != 0
    rate = kept.float().mean().item()
    assert abs(rate - 0.9) < 0.003  # 400k draws: standard error 0.0005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - round(0.1 * WORD) / WORD)))
    assert abs(out.mean().item() - 1.0) < 0.004


def test_every_word_of_a_draw_is_used_and_masks_are_not_periodic():
    torch.manual_seed(0)
    keep, _ = keep_mask((4, 100_000), 0.5)
    by_word = keep.view(-1, 4).float()  # the four 16-bit words of one 64-bit draw, side by side
    assert (by_word.mean(0) - 0.5).abs().max() < 0.01
    corr = torch.corrcoef(by_word.T)
    assert (corr - torch.eye(4)).abs().max() < 0.01


def test_seeded_masks_repeat_and_eval_is_the_identity():
    drop = Dropout(0.3).train()
    x = torch.randn(8, 50)
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    assert torch.equal(a, drop(x))
    assert not torch.equal(a, drop(x))  # the generator moved on
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_gradient_flows_only_through_kept_elements_and_dtype_is_kept():
    torch.manual_seed(0)
    x = torch.randn(16, 64, requires_grad=True)
    out = Dropout(0.5).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad != 0, out != 0)
    assert Dropout(0.1).train()(torch.randn(4, 4, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_impossible_probability_is_refused():
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
