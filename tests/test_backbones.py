"""Backbone contract: output shape, padding never changes real scores, SetRank equivariance, SASRec causality."""
import pytest
import torch

import ur4rec.components  # noqa: F401  registers every backbone
from ur4rec.backbones.base import BACKBONES, Batch, Sizes
from ur4rec.backbones.sasrec import SASRec
from ur4rec.losses.rec import Listwise, Pointwise

SIZES = Sizes(n_users=7, n_items=40, n_attrs=6)
FIVE = ["DLCM", "PRM", "SetRank", "GRU4Rec", "SASRec"]
TINY = {"DLCM": dict(dim=8, hidden=8), "PRM": dict(dim=8, layers=1, heads=2), "SetRank": dict(dim=8, layers=2, heads=2, inducing=3),
        "GRU4Rec": dict(dim=8), "SASRec": dict(dim=8, layers=2, heads=2)}


def build(name, aug_dim=0, seed=0):
    torch.manual_seed(seed)
    return BACKBONES.get(name)(SIZES, aug_dim, **TINY[name]).eval()


def random_batch(b=3, length=6, n=9, a=2, aug_dim=0, seed=1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(1, SIZES.n_items + 1, (b, length), generator=g)
    hist[0, :3] = 0  # a short history: left padding inside the window
    cand = torch.stack([torch.randperm(SIZES.n_items, generator=g)[:n] + 1 for _ in range(b)])
    rank = torch.stack([torch.randperm(n, generator=g) for _ in range(b)])
    attrs = lambda shape: torch.randint(0, SIZES.n_attrs, (*shape, a), generator=g)  # noqa: E731
    return Batch(user=torch.randint(0, SIZES.n_users, (b,), generator=g), hist=hist, hist_attrs=attrs(hist.shape) * (hist > 0).unsqueeze(-1),
                 cand=cand, cand_attrs=attrs(cand.shape), init_rank=rank,
                 augment=torch.randn(b, n, aug_dim, generator=g) if aug_dim else None)


def pad(batch: Batch, extra_hist: int, pad_cols: list[int]) -> tuple[Batch, torch.Tensor]:
    """More left padding in the history, padding candidates inserted at ``pad_cols``; returns (batch, real columns)."""
    b, n = batch.cand.shape
    total = n + len(pad_cols)
    real = torch.tensor([c for c in range(total) if c not in pad_cols])
    def spread(x, fill):  # noqa: E306
        out = torch.full((b, total, *x.shape[2:]), fill, dtype=x.dtype)
        out[:, real] = x
        return out
    zeros = lambda x: torch.cat([torch.zeros(b, extra_hist, *x.shape[2:], dtype=x.dtype), x], 1)  # noqa: E731
    rank = spread(batch.init_rank, 0)
    rank[:, pad_cols] = n + torch.arange(len(pad_cols))  # padding ranks after every real candidate
    aug = None if batch.augment is None else spread(batch.augment, 0.0)
    if aug is not None:
        aug[:, pad_cols] = torch.randn(b, len(pad_cols), aug.shape[-1])  # whatever sits in padding must not matter
    return Batch(batch.user, zeros(batch.hist), zeros(batch.hist_attrs), spread(batch.cand, 0), spread(batch.cand_attrs, 0),
                 rank, aug), real


@pytest.mark.parametrize("aug_dim", [0, 5])
@pytest.mark.parametrize("name", FIVE)
def test_shape_and_padding(name, aug_dim):
    model = build(name, aug_dim)
    batch = random_batch(aug_dim=aug_dim)
    with torch.no_grad():
        scores = model(batch)
        padded, real = pad(batch, extra_hist=4, pad_cols=[0, 5, 11])
        again = model(padded)
    assert scores.shape == batch.cand.shape and torch.isfinite(scores).all()
    assert again.shape == padded.cand.shape
    torch.testing.assert_close(again[:, real], scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FIVE)
def test_scores_depend_on_the_history(name):
    """The padding test would pass for a model that ignores the history; this one would not."""
    model = build(name)
    batch = random_batch()
    other = Batch(**{**batch.__dict__, "hist": batch.hist.flip(0), "hist_attrs": batch.hist_attrs.flip(0)})
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(other), atol=1e-6)


def test_setrank_is_permutation_equivariant():
    model = build("SetRank", aug_dim=4)
    batch = random_batch(aug_dim=4, n=12)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    shuffled = Batch(batch.user, batch.hist, batch.hist_attrs, batch.cand[:, perm], batch.cand_attrs[:, perm],
                     torch.randint(0, 12, (3, 12)), batch.augment[:, perm])  # init_rank is ignored: no positions
    with torch.no_grad():
        torch.testing.assert_close(model(shuffled), model(batch)[:, perm], rtol=1e-5, atol=1e-5)


def test_prm_uses_initial_order():
    """PRM's positions come from the initial list, so re-ranking it changes the scores (unlike SetRank)."""
    model = build("PRM")
    batch = random_batch()
    other = Batch(**{**batch.__dict__, "init_rank": batch.init_rank.flip(1)})
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(other), atol=1e-6)


def test_sasrec_is_causal():
    torch.manual_seed(0)
    model = SASRec(SIZES, dim=8, layers=2, heads=2).eval()
    batch = random_batch(length=8)
    changed = batch.hist.clone()
    changed[:, 5:] = torch.randint(1, SIZES.n_items + 1, (3, 3))
    other = Batch(**{**batch.__dict__, "hist": changed})
    with torch.no_grad():
        before, after = model.encode(batch), model.encode(other)
    torch.testing.assert_close(after[:, :5], before[:, :5])  # a future item never reaches an earlier step
    assert not torch.allclose(after[:, 5:], before[:, 5:])


@pytest.mark.parametrize("loss", [Listwise(), Pointwise(pos_weight=3.0)])
def test_losses_ignore_padding(loss):
    scores = torch.randn(4, 6)
    label = torch.tensor([0, 2, 1, 3])
    mask = torch.ones(4, 6, dtype=torch.bool)
    padded_scores = torch.cat([scores, torch.randn(4, 2) * 100], 1)
    padded_mask = torch.cat([mask, torch.zeros(4, 2, dtype=torch.bool)], 1)
    torch.testing.assert_close(loss(padded_scores, label, padded_mask), loss(scores, label, mask))
    better = scores.clone()
    better[torch.arange(4), label] += 5.0
    assert loss(better, label, mask) < loss(scores, label, mask)


def test_augmented_candidate_input_starts_as_the_base_embedding_then_learns_the_augment():
    from ur4rec.backbones.base import CandidateInput

    layer = CandidateInput(dim=8, aug_dim=5)
    emb, aug = torch.randn(2, 3, 8), torch.randn(2, 3, 5)
    assert torch.allclose(layer(emb, aug), emb)  # at init the augmented model is the Base model
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(emb, aug).pow(2).sum().backward()  # any loss that depends on the output
    opt.step()
    assert not torch.allclose(layer(emb, aug), layer(emb, torch.zeros_like(aug)))  # e_aug now matters
    assert CandidateInput(dim=8, aug_dim=0)(emb, None) is emb
