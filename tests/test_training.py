"""Training loop: loss goes down, resume after a kill ends with the same weights, augmenters plug in."""
import os
import shutil
from functools import partial

import numpy as np
import pytest
import torch
from rich.console import Console

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from ur4rec.augment.text import TextAugmenter
from ur4rec.backbones.base import BACKBONES
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.evaluation import harness
from ur4rec.knowledge import RandomKnowledge
from ur4rec.losses.rec import Listwise, Pointwise
from ur4rec.paths import cache_dir
from ur4rec.rankers.neural import Neural
from ur4rec.train.batches import BatchMaker, TrainingRows, popularity_rank
from ur4rec.train.trainer import Supervised

QUIET = Console(quiet=True)
TINY = {"DLCM": dict(dim=8, hidden=8), "PRM": dict(dim=8, layers=1), "SetRank": dict(dim=8, layers=1, inducing=4),
        "GRU4Rec": dict(dim=8), "SASRec": dict(dim=8, layers=1)}


@pytest.fixture
def data(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=24, n_items=80, per_user=18)
    return prepare_data(MovieLens1M(str(folder)), ChronologicalProtocol(k_core=2, n_candidates=15))


def neural(name="PRM", epochs=3, lr=1e-2, **kw):
    trainer = Supervised(epochs=epochs, batch_size=16, lr=lr, patience=10, samples_per_epoch=48)
    return Neural(partial(BACKBONES.get(name), **TINY[name]), trainer=trainer, history_len=5, name=name, **kw)


def test_popularity_rank_puts_padding_last():
    pop = np.array([0, 5, 9, 1, 9])
    rank = popularity_rank(pop, np.array([[3, 0, 2, 4, 1]]))
    assert rank.tolist() == [[3, 4, 0, 1, 2]]  # ties (items 2 and 4) by column


def test_training_rows_redraw_negatives_per_epoch(data):
    rows = TrainingRows(data)
    a, b = rows.epoch(0, 0, 15, cap=30), rows.epoch(0, 1, 15, cap=30)
    assert len(a) == 30 and not np.array_equal(a.candidates, b.candidates)
    again = rows.epoch(0, 0, 15, cap=30)
    assert np.array_equal(a.candidates, again.candidates)  # seeded by (seed, epoch)
    targets = data.seq_items[data.seq_offsets[a.users] + a.pos]
    assert (a.candidates[np.arange(30), a.label] == targets).all()


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("loss", [Listwise(), Pointwise()], ids=["listwise", "pointwise"])
def test_loss_decreases(data, name, loss):
    torch.manual_seed(0)
    ranker = neural(name)
    model = ranker.build(data)
    make = BatchMaker(data, history_len=5)
    rows = TrainingRows(data).epoch(0, 0, 15, cap=32)
    batch = make(rows.users, rows.pos, rows.candidates, rows.label)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        value = loss(model(batch), batch.label, batch.cand_mask)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(float(value.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_resume_after_kill_gives_the_same_weights(data, tmp_path, monkeypatch):
    straight = neural(epochs=3)
    straight.fit(data, tmp_path / "straight", seed=1, console=QUIET)
    shutil.rmtree(cache_dir("checkpoints"))  # else the second Base row would reuse the first one's weights

    real_evaluate, calls = harness.evaluate, {"n": 0}

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after epoch 2's updates, before its checkpoint
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(harness, "evaluate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        neural(epochs=3).fit(data, tmp_path / "resumed", seed=1, console=QUIET)
    monkeypatch.setattr(harness, "evaluate", real_evaluate)
    saved = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert saved["state"]["epoch"] == 1

    resumed = neural(epochs=3)
    resumed.fit(data, tmp_path / "resumed", seed=1, console=QUIET)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    last = [torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("straight", "resumed")]
    assert last[0]["state"]["history"][-1]["loss"] == last[1]["state"]["history"][-1]["loss"]
    for key, value in last[0]["model"].items():
        assert torch.equal(value, last[1]["model"][key]), key


def test_finished_run_is_not_retrained_and_other_config_is(data, tmp_path):
    first = neural(epochs=2)
    first.fit(data, tmp_path / "run", seed=0, console=QUIET)
    stamp = (tmp_path / "run" / "last.pt").stat().st_mtime_ns
    again = neural(epochs=2)
    again.fit(data, tmp_path / "run", seed=0, console=QUIET)
    assert (tmp_path / "run" / "last.pt").stat().st_mtime_ns == stamp
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key])
    neural(epochs=2, lr=5e-3).fit(data, tmp_path / "run", seed=0, console=QUIET)  # another config: retrains
    assert (tmp_path / "run" / "last.pt").stat().st_mtime_ns != stamp


def test_best_validation_checkpoint_is_what_scores(data, tmp_path):
    ranker = neural(epochs=3, lr=5e-2)
    ranker.fit(data, tmp_path / "run", seed=0, console=QUIET)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["model"]
    for key, value in ranker.model.state_dict().items():
        assert torch.equal(value, best[key])
    history = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state"]
    chosen = max(history["history"], key=lambda h: h["valid NDCG@10"])
    assert chosen["epoch"] == history["best_epoch"]
    assert harness.evaluate(ranker, data, "valid").means()["NDCG@10"] == pytest.approx(chosen["valid NDCG@10"])


@pytest.mark.parametrize("name", ["PRM", "SASRec"])
def test_text_augmenter_trains_with_frozen_vectors(data, tmp_path, name):
    augmenter = partial(TextAugmenter, source=RandomKnowledge(dim=12), dim=4)
    ranker = neural(name, epochs=1, augmenter=augmenter)
    ranker.fit(data, None, seed=0, console=QUIET)
    aug = ranker.model.augmenter
    assert aug.dim == 8 and "random" in aug.description
    assert "user_vectors" not in ranker.model.state_dict()  # frozen vectors stay out of checkpoints
    assert not any(p is aug.user_vectors for p in ranker.model.parameters())
    scores = ranker.score(data, data.valid.subset(np.arange(4)))
    assert scores.shape == (4, data.n_candidates) and np.isfinite(scores).all()


def test_text_augmenter_without_user_vector_depends_on_the_item_only(data):
    from ur4rec.backbones.base import Batch

    aug = TextAugmenter(data, RandomKnowledge(dim=12), dim=4, user=False).eval()
    assert aug.dim == 4 and aug.user_proj is None
    cand = torch.tensor([[1, 2, 3], [1, 2, 3]])
    zeros = torch.zeros(2, 3, 1, dtype=torch.long)
    batch = Batch(user=torch.tensor([0, 5]), hist=torch.zeros(2, 2, dtype=torch.long),
                  hist_attrs=torch.zeros(2, 2, 1, dtype=torch.long), cand=cand, cand_attrs=zeros,
                  init_rank=torch.zeros(2, 3, dtype=torch.long))
    out = aug(batch)
    assert out.shape == (2, 3, 4) and torch.equal(out[0], out[1])  # two users, same candidates: same vectors
    with_user = TextAugmenter(data, RandomKnowledge(dim=12), dim=4).eval()(batch)
    assert with_user.shape == (2, 3, 8) and not torch.equal(with_user[0], with_user[1])


@pytest.mark.parametrize("cuda_present", [False, True])
def test_bf16_autocast_follows_the_weights_device(monkeypatch, cuda_present):
    # A GPU in the machine must not turn the CPU model's bf16 autocast into a silent fp32 run.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_present)
    layer = torch.nn.Linear(4, 4)
    with Supervised(precision="bfloat16").autocast(layer):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    with Supervised(precision="float32").autocast(layer):
        assert layer(torch.randn(2, 4)).dtype == torch.float32


# ---- the stopping rule is not part of the resume key: a longer patience or cap continues a finished run ----------
class ScriptedValidation:
    """Validation NDCG@10 taken from a list, one value per epoch: early stopping on a known curve."""

    def __init__(self, monkeypatch, scores):
        self.scores, self.calls = list(scores), 0
        monkeypatch.setattr(harness, "evaluate", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        value = self.scores.pop(0)
        return type("Means", (), {"means": lambda _: {"NDCG@10": value, "MAP@10": value}})()


def stopping(epochs, patience):
    trainer = Supervised(epochs=epochs, batch_size=16, lr=1e-2, patience=patience, samples_per_epoch=48)
    return Neural(partial(BACKBONES.get("PRM"), **TINY["PRM"]), trainer=trainer, history_len=5, name="PRM")


def summary(folder):
    import json

    return json.loads((folder / "training.json").read_text())


def test_a_longer_patience_continues_an_early_stopped_run_to_the_weights_of_a_straight_run(data, tmp_path, monkeypatch):
    curve = [0.5, 0.4, 0.6, 0.3, 0.2]  # patience 1 stops after epoch 2; patience 2 after epoch 5, best epoch 3
    ScriptedValidation(monkeypatch, curve)
    straight = stopping(epochs=10, patience=2)
    straight.fit(data, tmp_path / "straight", seed=0, console=QUIET)
    assert summary(tmp_path / "straight")["epoch"] == 5
    shutil.rmtree(cache_dir("checkpoints"))  # else `extended` would reuse the published weights of `straight`

    ScriptedValidation(monkeypatch, curve[:2])
    stopping(epochs=10, patience=1).fit(data, tmp_path / "run", seed=0, console=QUIET)
    assert summary(tmp_path / "run")["epoch"] == 2 and summary(tmp_path / "run")["stopped_by"] == "early stopping"
    rest = ScriptedValidation(monkeypatch, curve[2:])
    extended = stopping(epochs=10, patience=2)
    extended.fit(data, tmp_path / "run", seed=0, console=QUIET)
    assert rest.calls == 3  # epochs 3-5 only: the first two were reused
    done = summary(tmp_path / "run")
    assert (done["epoch"], done["best_epoch"], done["stopped_by"]) == (5, 2, "early stopping")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, extended.model.state_dict()[key]), key


def test_a_rule_that_would_have_stopped_sooner_retrains(data, tmp_path, monkeypatch):
    ScriptedValidation(monkeypatch, [0.1, 0.2, 0.3])
    stopping(epochs=3, patience=5).fit(data, tmp_path / "run", seed=0, console=QUIET)
    again = ScriptedValidation(monkeypatch, [0.1, 0.2])
    shorter = stopping(epochs=2, patience=5)
    shorter.fit(data, tmp_path / "run", seed=0, console=QUIET)  # a cap of 2 cannot reuse 3 epochs
    assert again.calls == 2 and summary(tmp_path / "run")["epoch"] == 2
    ScriptedValidation(monkeypatch, [0.1, 0.2])
    straight = stopping(epochs=2, patience=5)
    straight.fit(data, tmp_path / "straight", seed=0, console=QUIET)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, shorter.model.state_dict()[key]), key


def test_checkpoints_keyed_with_the_stopping_rule_still_resume(data, tmp_path, monkeypatch):
    import gin

    ScriptedValidation(monkeypatch, [0.1, 0.2])
    first = stopping(epochs=2, patience=5)
    first.fit(data, tmp_path / "run", seed=0, console=QUIET)
    legacy = first.trainer.model_fingerprint(first.model, first.loss, data, 0, {"config": gin.config_str(), "vectors": ""})
    for name in ("last.pt", "best.pt"):  # as a run written before the rule left the resume key
        saved = torch.load(tmp_path / "run" / name, weights_only=True)
        assert saved["fingerprint"] != legacy
        torch.save({**saved, "fingerprint": legacy}, tmp_path / "run" / name)
    again = ScriptedValidation(monkeypatch, [])
    stopping(epochs=2, patience=5).fit(data, tmp_path / "run", seed=0, console=QUIET)
    assert again.calls == 0  # finished: nothing retrained


def scripted_phase(scores):
    """A one-weight phase whose validation score at epoch e is scores[e]."""
    torch.manual_seed(0)
    module = torch.nn.Linear(2, 1)
    at = {}

    def rows(epoch):
        at["epoch"] = epoch
        return list(range(4))

    def loss(rows, sl):
        return (module(torch.ones(len(rows[sl]), 2)) - 3).pow(2).mean()

    from ur4rec.train.trainer import Phase
    return Phase("train", module, list(module.parameters()), rows, loss,
                 lambda: {"NDCG@10": scores[at["epoch"]]}, "NDCG@10", "fp", replay=True)


PLATEAUS = [0.1, 0.2, 0.2, 0.15, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]


def test_plateau_decay_lowers_the_lr_after_each_stall():
    t = Supervised(epochs=50, batch_size=2, lr=1e-2, patience=5, lr_decay=0.5, lr_decay_patience=2)
    summary = t.run(scripted_phase(PLATEAUS), None, 0, Console(quiet=True))
    # stalls of 2 and 4 epochs after epoch 4's best halve the lr; the 5th stalled epoch stops the run
    assert [h["lr"] for h in summary["history"]] == [1e-2] * 4 + [5e-3] * 3 + [2.5e-3] * 2 + [1.25e-3]
    assert summary["stopped_by"] == "early stopping" and summary["best_epoch"] == 4
    assert "lr_decay" not in Supervised().params()  # unset: fingerprints and Base keys as before the option
    with pytest.raises(ValueError, match="lr_decay"):
        Supervised(lr_decay=1.5)


def test_a_longer_patience_continues_a_decayed_run_like_a_straight_one(tmp_path):
    def run(folder, patience):
        t = Supervised(epochs=50, batch_size=2, lr=1e-2, patience=patience, lr_decay=0.5, lr_decay_patience=2)
        return t.run(scripted_phase(PLATEAUS), folder, 0, Console(quiet=True))

    run(tmp_path / "a", 4)  # stops on its 4th stalled epoch, where the lr also halves
    continued, straight = run(tmp_path / "a", 6), run(tmp_path / "b", 6)
    assert len(continued["history"]) == len(straight["history"]) == 11
    assert [h["lr"] for h in continued["history"]] == [h["lr"] for h in straight["history"]]
    last = [torch.load(tmp_path / f / "last.pt", weights_only=True) for f in ("a", "b")]
    assert all(torch.equal(last[0]["model"][k], last[1]["model"][k]) for k in last[1]["model"])
    assert last[0]["optimizer"]["param_groups"][0]["lr"] == last[1]["optimizer"]["param_groups"][0]["lr"]


@pytest.mark.parametrize("precision", ["bfloat16", "float32"])
def test_bf16_on_a_cpu_without_bf16_hardware_is_flagged_in_the_log(precision):
    from ur4rec.device import native_bf16

    console = Console(record=True, width=200, file=open(os.devnull, "w"))
    Supervised(epochs=1, batch_size=2, lr=1e-2, precision=precision).run(scripted_phase([0.1]), None, 0, console)
    flagged = "without bf16 hardware" in console.export_text()
    assert flagged == (precision == "bfloat16" and not native_bf16())
