"""The Table 2/5 baselines: KAR's adaptor, LRURec's two scan forms, Recformer's item texts; each trains."""
from functools import partial

import numpy as np
import pytest
import torch
from rich.console import Console

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from tiny_models import tiny_bert_dir
from ur4rec.augment.kar import KARAugmenter
from ur4rec.backbones.base import Batch, Sizes
from ur4rec.backbones.lrurec import LRU, LRURec, parallel_scan, recurrent_scan
from ur4rec.backbones.recformer import Recformer, item_attributes, item_text, tokenize_items
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.data.schema import Item
from ur4rec.encoding.encoders import HFEncoder
from ur4rec.knowledge import RandomKnowledge
from ur4rec.rankers.neural import Neural
from ur4rec.train.trainer import Supervised

QUIET = Console(quiet=True)


@pytest.fixture
def data(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=24, n_items=80, per_user=18)
    return prepare_data(MovieLens1M(str(folder)), ChronologicalProtocol(k_core=2, n_candidates=15))


def one_epoch(backbone, **kw) -> Neural:
    trainer = Supervised(epochs=1, batch_size=16, lr=1e-2, patience=1, samples_per_epoch=32)
    return Neural(backbone, trainer=trainer, history_len=6, **kw)


def batch_of(data, users=(0, 1, 2), history=6) -> Batch:
    from ur4rec.train.batches import BatchMaker

    samples = data.valid.subset(np.arange(len(users)))
    return BatchMaker(data, history)(samples.user, samples.pos, samples.candidates)


# ---- KAR -----------------------------------------------------------------------------------------
def test_kar_gates_sum_to_one_and_width_is_as_configured(data):
    kar = KARAugmenter(data, RandomKnowledge(dim=12), dim=5, hidden=7, n_shared=2, n_specific=3).eval()
    batch = batch_of(data)
    user_gates, item_gates = kar.gates(batch)
    assert user_gates.shape == (3, 5) and item_gates.shape == (3, data.n_candidates, 5)
    assert torch.allclose(user_gates.sum(-1), torch.ones(3))
    assert torch.allclose(item_gates.sum(-1), torch.ones(3, data.n_candidates))
    out = kar(batch)
    assert kar.dim == 10 and out.shape == (3, data.n_candidates, 10)
    # the shared experts are one set of weights, registered once, used by both inputs
    names = [n for n, _ in kar.named_parameters()]
    assert sum(n.startswith("shared.") for n in names) == 2 * 4
    assert not any(".shared." in n for n in names)
    assert kar.user_mix.shared[0] is kar.item_mix.shared[0]
    assert "user_vectors" not in kar.state_dict()


def test_kar_trains_with_a_backbone(data):
    ranker = one_epoch(partial(LRURec, dim=8, layers=1), augmenter=partial(KARAugmenter, source=RandomKnowledge(dim=12)),
                       name="LRURec+KAR")
    ranker.fit(data, None, seed=0, console=QUIET)
    assert ranker.model.augmenter.dim == 64  # official sizes: 2 x 32
    scores = ranker.score(data, data.valid.subset(np.arange(4)))
    assert scores.shape == (4, data.n_candidates) and np.isfinite(scores).all()


# ---- LRURec --------------------------------------------------------------------------------------
def test_lru_parallel_and_recurrent_scans_agree():
    torch.manual_seed(0)
    lam = torch.polar(torch.rand(16) * 0.2 + 0.79, torch.rand(16) * 6.28)
    u = torch.randn(4, 37, 16, dtype=torch.complex64)
    assert torch.allclose(parallel_scan(lam, u), recurrent_scan(lam, u), atol=1e-5)
    layer = LRU(16, 24)
    x = torch.randn(3, 150, 16)
    assert (layer(x, "parallel") - layer(x, "recurrent")).abs().max() < 1e-5


def test_lrurec_forms_agree_and_left_padding_changes_nothing(data):
    torch.manual_seed(0)
    model = LRURec(Sizes(data.n_users, data.n_items, len(data.attr_vocab)), dim=8, layers=2).eval()
    batch = batch_of(data, users=range(6), history=12)
    assert (model.encode(batch, "parallel") - model.encode(batch, "recurrent")).abs().max() < 1e-5
    pad = lambda t: torch.cat([torch.zeros_like(t[:, :8]), t], dim=1)  # noqa: E731  8 more padded steps in front
    longer = Batch(batch.user, pad(batch.hist), pad(batch.hist_attrs), batch.cand, batch.cand_attrs, batch.init_rank)
    assert torch.allclose(model(batch), model(longer), atol=1e-5)


def test_lrurec_trains_one_epoch_from_a_gin_binding(data):
    import gin

    from ur4rec.config import load

    load([], ["rankers.Neural.backbone = @backbones.LRURec", "backbones.LRURec.dim = 8",
              "backbones.LRURec.scan = 'parallel'"])
    ranker = one_epoch(gin.query_parameter("rankers.Neural.backbone").scoped_configurable_fn)
    ranker.fit(data, None, seed=0, console=QUIET)
    assert ranker.name == "LRURec" and isinstance(ranker.model.backbone, LRURec)
    assert ranker.model.backbone.items.dim == 8
    with pytest.raises(ValueError, match="scan"):
        LRURec(Sizes(3, 5, 2), scan="sideways")


# ---- Recformer -----------------------------------------------------------------------------------
def test_recformer_item_text_is_its_attributes():
    movie = Item("Toy Story", ["Animation", "Comedy"], "", "1995")
    assert item_attributes(movie, "movies") == [("title", "Toy Story"), ("genres", "Animation, Comedy"), ("year", "1995")]
    game = Item("Portal", ["Puzzle"], "Valve", "", {"price": "9.99"})
    assert item_text(game, "games") == "title Portal tags Puzzle developer Valve price 9.99"


def test_recformer_tokens_mark_keys_and_values(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir(tmp_path / "bert")))
    ids, types = tokenize_items([Item("the movie", ["drama"], "", "1995"), Item("")], "movies", tok, max_tokens=8)
    assert ids.shape == (2, 8) and (ids[1] == -1).all()  # no attributes: no tokens
    expected = tok("title", add_special_tokens=False)["input_ids"] + tok("the movie", add_special_tokens=False)["input_ids"]
    assert ids[0, :len(expected)].tolist() == expected
    assert types[0, 0] == 0 and types[0, 1] == 1  # key 'title', then its value


def test_recformer_trains_one_epoch_and_refreshes_its_item_matrix(data, tmp_path):
    encoder = HFEncoder(model=str(tiny_bert_dir(tmp_path / "bert")))
    backbone = partial(Recformer, encoder=encoder, data=data, layers=1, max_items=4, max_tokens=10)
    ranker = one_epoch(backbone, name="Recformer-MiniLM")
    ranker.fit(data, None, seed=0, console=QUIET)
    model = ranker.model.backbone
    assert model.net.get_input_embeddings().num_embeddings < model.net.config.vocab_size  # only rows item texts use
    assert "item_tokens" not in model.state_dict()
    table = model.item_table()
    assert table.shape == (data.n_items + 1, model.hidden) and torch.equal(table[0], torch.zeros(model.hidden))
    scores = ranker.score(data, data.valid.subset(np.arange(4)))
    assert scores.shape == (4, data.n_candidates) and np.isfinite(scores).all()
    with torch.no_grad():  # weights change -> the next evaluation re-encodes the items
        model.recency.weight.add_(0.5)
    model.eval()
    assert not torch.equal(model.item_table(), table)
    wrong = Sizes(data.n_users, data.n_items + 1, len(data.attr_vocab))
    with pytest.raises(Exception, match="items"):
        Recformer(wrong, encoder=encoder, data=data)
