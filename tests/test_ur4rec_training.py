"""UR4Rec end to end: Base reuse, pre-training (resumable), joint training, ablation rows, fingerprints."""
import hashlib
import io
import json
import os
import threading
import time
from functools import partial

import gin
import numpy as np
import pytest
import torch
from rich.console import Console

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from test_locks import hold
from ur4rec.augment.ur4rec import UR4RecAugmenter
from ur4rec.backbones.base import BACKBONES
from ur4rec.config import load
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.knowledge import RandomKnowledge
from ur4rec.locks import LOCK_NAME
from ur4rec.losses.pretrain import PIM, InfoNCE
from ur4rec.paths import cache_dir
from ur4rec.rankers.neural import Neural
from ur4rec.retriever.model import Retriever
from ur4rec.train import pretrain as pretrain_mod
from ur4rec.train.pretrain import RetrieverPretraining
from ur4rec.train.batches import BatchMaker
from ur4rec.train.trainer import Supervised

QUIET = Console(quiet=True)
PRM = partial(BACKBONES.get("PRM"), dim=8, layers=1)


@pytest.fixture
def data(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=24, n_items=80, per_user=18)
    return prepare_data(MovieLens1M(str(folder)), ChronologicalProtocol(k_core=2, n_candidates=15))


def trainer(epochs=2):
    return Supervised(epochs=epochs, batch_size=16, lr=1e-2, patience=10, samples_per_epoch=32)


def ur4rec(knowledge_seed=0, reset=(), pretrain_epochs=2, contrastive=True, name="PRM+UR4Rec"):
    aug = partial(UR4RecAugmenter, source=RandomKnowledge(dim=12, seed=knowledge_seed), z_history=5,
                  retriever=partial(Retriever, layers=1, n_proxies=3, dim=16, heads=2))
    pre = RetrieverPretraining(InfoNCE() if contrastive else None, PIM(), epochs=pretrain_epochs, batch_size=16,
                               samples_per_epoch=32, n_negatives=4, reset=reset, patience=10)
    return Neural(PRM, aug, trainer=trainer(), history_len=5, name=name, start_from_base=True, pretrain=pre)


def pretrained(data, model=None, seed=0):
    """Build ``model`` (default ur4rec()), load the Base checkpoint and pre-train (or reuse) its retriever."""
    m = model or ur4rec()
    m.model, m.make_batch = m.build(data), BatchMaker(data, 5)
    key = m._start_from_base(data, None, seed, QUIET)
    m.pretrain.fit(m.model.augmenter, m.model.backbone, data, m.make_batch, seed, QUIET, key)
    return m


def test_ur4rec_reuses_the_base_checkpoint_and_trains(data, tmp_path):
    base = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    base.fit(data, tmp_path / "base", seed=0, console=QUIET)
    published = Neural.base_path(base.base_key(data, 0))
    assert published.is_file()
    model = ur4rec()
    model.fit(data, tmp_path / "ur", seed=0, console=QUIET)
    assert not (tmp_path / "ur" / "base").exists()  # reused, not retrained
    for name, tensor in torch.load(published, weights_only=True)["backbone"].items():
        assert tensor.shape == model.model.backbone.state_dict()[name].shape
    assert any(n.startswith("augmenter.retriever.") for n, _ in model.model.named_parameters())


def test_ur4rec_trains_its_base_when_none_is_published(data, tmp_path):
    model = ur4rec()
    model.fit(data, tmp_path / "ur", seed=3, console=QUIET)
    assert (tmp_path / "ur" / "base" / "best.pt").is_file()
    assert Neural.base_path(model.base_key(data, 3)).is_file()


def test_a_base_row_reuses_the_base_that_a_ur4rec_run_trained(data, tmp_path):
    ur4rec().fit(data, tmp_path / "ur", seed=3, console=QUIET)
    trained = json.loads((tmp_path / "ur" / "base" / "training.json").read_text())
    base = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    console = Console(file=io.StringIO(), width=300)
    base.fit(data, tmp_path / "row", seed=3, console=console)
    assert not (tmp_path / "row" / "last.pt").exists()  # nothing trained
    assert "reusing the published Base checkpoint" in console.file.getvalue()
    summary = json.loads((tmp_path / "row" / "training.json").read_text())
    assert (summary["best_epoch"], summary["history"]) == (trained["best_epoch"], trained["history"])
    assert summary["trained_in"] == str(tmp_path / "ur" / "base")
    published = torch.load(Neural.base_path(base.base_key(data, 3)), weights_only=True)["backbone"]
    for name, tensor in base.model.backbone.state_dict().items():
        assert torch.equal(tensor, published[name])


def test_a_base_row_trains_when_the_published_checkpoint_is_not_the_one_recorded(data, tmp_path):
    first = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    first.fit(data, tmp_path / "first", seed=0, console=QUIET)
    path = Neural.base_path(first.base_key(data, 0))
    state = torch.load(path, weights_only=True)
    torch.save({"backbone": {k: v + 1 for k, v in state["backbone"].items()}}, path)  # republished without a record
    again = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    again.fit(data, tmp_path / "again", seed=0, console=QUIET)
    assert (tmp_path / "again" / "last.pt").is_file()
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text("{not json")  # a damaged record: train, do not fail
    third = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    third.fit(data, tmp_path / "third", seed=0, console=QUIET)
    assert (tmp_path / "third" / "last.pt").is_file()


def release_when_waited_for(fd: int, console: Console, then=lambda: None) -> threading.Thread:
    """Another process's lock (see test_locks.hold) that ends once ``console`` says it waits for it (at most 60 s
    from now), with ``then`` done first."""
    def finish():
        deadline = time.monotonic() + 60
        while "waiting for" not in console.file.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        then()
        os.close(fd)

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


def test_a_run_waits_for_the_process_training_its_base_and_then_reuses_it(data, tmp_path):
    base = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    base.fit(data, tmp_path / "base", seed=0, console=QUIET)
    published = Neural.base_path(base.base_key(data, 0))
    aside = published.with_name("finished-elsewhere.pt")
    published.rename(aside)  # as if another process were still training it: no checkpoint, its lock held
    console = Console(file=io.StringIO(), width=300)
    thread = release_when_waited_for(hold(published.with_suffix(".lock")), console, then=lambda: aside.rename(published))
    ur4rec().fit(data, tmp_path / "ur", seed=0, console=console)
    thread.join()
    said = console.file.getvalue()
    assert "waiting for the Base checkpoint" in said and "pid 4242" in said
    assert "training the Base backbone first" not in said and not (tmp_path / "ur" / "base").exists()


def test_a_run_waits_for_the_process_pretraining_its_retriever_and_then_resumes_it(data, tmp_path):
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    first = pretrained(data)
    (folder,) = (p for p in cache_dir("retrievers").iterdir() if p.is_dir())
    console = Console(file=io.StringIO(), width=300)
    thread = release_when_waited_for(hold(folder / LOCK_NAME), console)
    again = ur4rec()
    again.model, again.make_batch = again.build(data), BatchMaker(data, 5)
    key = again._start_from_base(data, None, 0, QUIET)
    again.pretrain.fit(again.model.augmenter, again.model.backbone, data, again.make_batch, 0, console, key)
    thread.join()
    said = console.file.getvalue()
    assert "waiting for the pre-trained retriever" in said and "pretrain epoch" not in said  # finished: nothing retrained
    for (name, a), b in zip(first.model.augmenter.state_dict().items(), again.model.augmenter.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_republished_base_with_other_weights_gets_a_new_retriever(data, tmp_path):
    base = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    base.fit(data, tmp_path / "base", seed=0, console=QUIET)
    first = pretrained(data)
    key_before = first.pretrain.artifact_key(first.model.augmenter, data, first._start_from_base(data, None, 0, QUIET), 0)
    path = Neural.base_path(base.base_key(data, 0))
    state = torch.load(path, weights_only=True)
    state["backbone"] = {k: v + 0.01 for k, v in state["backbone"].items()}  # retrained elsewhere: same key, other weights
    torch.save(state, path)
    again = ur4rec()
    again.model = again.build(data)
    key_after = again.pretrain.artifact_key(again.model.augmenter, data, again._start_from_base(data, None, 0, QUIET), 0)
    assert key_after != key_before  # the retriever pre-trained on the old weights is not reused


def test_a_retriever_pretrained_again_with_other_weights_is_a_new_joint_input(data, tmp_path):
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    first = pretrained(data)
    base_key = first._start_from_base(data, None, 0, QUIET)
    fit = partial(first.pretrain.fit, first.model.augmenter, first.model.backbone, data, first.make_batch, 0, QUIET)
    key = fit(base_key)
    assert fit(base_key) == key  # reused as it is (the resume case): the same joint input
    folder = cache_dir("retrievers") / first.pretrain.artifact_key(first.model.augmenter, data, base_key, 0)
    best = torch.load(folder / "best.pt", weights_only=True)
    best["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in best["model"].items()}
    torch.save(best, folder / "best.pt")  # pre-trained again elsewhere: same artifact key, other weights
    moved = fit(base_key)
    assert moved != key and moved.split("-")[0] == key.split("-")[0]


def test_joint_training_starts_as_the_base_model(data, tmp_path):
    base = Neural(PRM, trainer=trainer(), history_len=5, name="PRM")
    base.fit(data, tmp_path / "base", seed=0, console=QUIET)
    model = ur4rec()
    model.model = model.build(data)
    model._start_from_base(data, None, 0, QUIET)
    s = data.samples("valid")
    batch = base.make_batch(s.user, s.pos, s.candidates)
    model.model.eval()
    with torch.no_grad():  # the concat projection starts as [I, 0]: e_aug enters with weight 0
        assert torch.allclose(model.model(batch), base.model(batch), atol=1e-5)


def test_pretraining_resumes_after_a_kill_with_the_same_weights(data, tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE", str(tmp_path / "straight"))
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    straight = pretrained(data, ur4rec(pretrain_epochs=3))

    monkeypatch.setenv("UR4REC_CACHE", str(tmp_path / "killed"))
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    real, calls = RetrieverPretraining._validate, {"n": 0}

    def dies_in_epoch_two(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(self, *a, **kw)

    monkeypatch.setattr(pretrain_mod.RetrieverPretraining, "_validate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        pretrained(data, ur4rec(pretrain_epochs=3))
    monkeypatch.setattr(pretrain_mod.RetrieverPretraining, "_validate", real)
    resumed = pretrained(data, ur4rec(pretrain_epochs=3))
    for (name, a), b in zip(straight.model.augmenter.state_dict().items(), resumed.model.augmenter.state_dict().values()):
        assert torch.equal(a, b), name


def test_proxy_random_starts_joint_training_with_other_proxies(data, tmp_path):
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    kept, fresh = pretrained(data, ur4rec()), pretrained(data, ur4rec(reset=["proxies"]))
    assert not torch.allclose(kept.model.augmenter.retriever.proxies, fresh.model.augmenter.retriever.proxies)
    others = [n for n in kept.model.augmenter.state_dict() if "proxies" not in n]
    for n in others:  # the same pre-training (one cached artifact), only the proxies differ
        assert torch.equal(kept.model.augmenter.state_dict()[n], fresh.model.augmenter.state_dict()[n]), n


def test_another_knowledge_source_never_resumes_this_runs_weights(data, tmp_path):
    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    run = tmp_path / "run"
    ur4rec(knowledge_seed=0).fit(data, run, seed=0, console=QUIET)
    first = (run / "training.json").read_text()
    log = Console(record=True, width=300)
    ur4rec(knowledge_seed=1).fit(data, run, seed=0, console=log)
    text = log.export_text()
    assert "belongs to another configuration" in text
    assert (run / "training.json").read_text() != first


# ---- every Table 3 row builds the intended model --------------------------------------------------------
@gin.configurable("grab_rankers", module="tests")
def grab(rankers=gin.REQUIRED):
    return rankers


TINY_BINDINGS = ["augmenters.UR4Rec.source = @knowledge.Random()", "knowledge.Random.dim = 12",
                 "retrievers.Transformer.init_from = None", "retrievers.Transformer.dim = 16",
                 "retrievers.Transformer.heads = 2", "backbones.PRM.dim = 8",
                 "tests.grab_rankers.rankers = [@rankers.Neural()]"]


def built(row: str, data):
    load([f"experiments/table3/ml-100k/prm/{row}.gin"], TINY_BINDINGS)
    ranker = grab()[0]
    return ranker, ranker.build(data)


@pytest.mark.parametrize("row", ["full", "wo-retr", "wo-proxy", "proxy-random", "wo-llm", "wo-pretrain", "wo-cl", "wo-pim"])
def test_each_table3_row_builds_its_variant(row, data):
    constructor = None
    ranker, model = built(row, data)
    names = [n for n, _ in model.named_parameters()]
    retr = model.augmenter.retriever
    pre = ranker.pretrain
    if row == "wo-retr":
        assert retr is None and not any("retriever" in n for n in names) and pre is None
        return
    assert retr is not None and any(n.startswith("augmenter.retriever.") for n in names)
    assert retr.n_proxies == (0 if row == "wo-proxy" else 8)
    if row in ("wo-pretrain",):
        assert pre is None
        return
    assert (pre.contrastive is None) == (row in ("wo-proxy", "wo-cl"))
    assert (pre.matching is None) == (row == "wo-pim")
    assert pre.reset == (("proxies",) if row == "proxy-random" else ())
    if row == "wo-llm":
        constructor = gin.query_parameter("knowledge/gin.singleton.constructor")
        assert constructor.selector == "knowledge.Metadata"
    assert ranker.name.startswith("PRM+UR4Rec")


# ---- the retriever's FAISS matching check ------------------------------------------------------------
def test_merged_rank_keeps_each_items_best_proxy_score():
    from ur4rec.index.inspect import _merged_rank

    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.7, 0.6]])  # 2 proxies x top 3
    found = np.array([[4, 2, 7], [2, 9, 4]])
    # merged by best score: 4 (0.9), 2 (0.8), 9 (0.7)
    assert [_merged_rank(scores, found, t, 3) for t in (4, 2, 9, 7)] == [1, 2, 3, 0]


def test_retriever_match_table_compares_pretrained_random_and_floor(data, tmp_path):
    from ur4rec.index.inspect import retriever_match_table

    Neural(PRM, trainer=trainer(), history_len=5, name="PRM").fit(data, None, seed=0, console=QUIET)
    table, rows = retriever_match_table(data, ur4rec(), 0, QUIET)
    assert set(rows) == {"pre-trained retriever", "randomly initialised retriever", "random floor"}
    for values in rows.values():
        assert 0.0 <= values["NDCG@10"] <= values["Recall@10"] <= values["Recall@50"] <= 1.0
    assert rows["pre-trained retriever"] != rows["randomly initialised retriever"]


def test_nearest_negatives_are_the_targets_neighbours_and_never_the_users_items(data):
    from ur4rec.train.batches import TrainingRows
    from ur4rec.train.pretrain import NearestNegatives

    vectors = RandomKnowledge(dim=12).vectors(data).item
    training = TrainingRows(data)
    rows = training.epoch(0, 0, 5, cap=40)
    hard = NearestNegatives(training, vectors).replace(rows, np.random.default_rng(0))
    targets = rows.candidates[np.arange(len(rows)), rows.label]
    assert (hard.candidates[:, 0] == targets).all() and (hard.label == 0).all()
    unit = vectors[1:] / np.linalg.norm(vectors[1:], axis=1, keepdims=True)
    for j in range(len(rows)):
        u = int(rows.users[j])
        own = set(data.seq_items[data.seq_offsets[u]:data.seq_offsets[u + 1]].tolist())
        negs = hard.candidates[j, 1:].tolist()
        assert len(set(negs)) == 4 and not own & set(negs)
        sims = unit @ unit[targets[j] - 1]
        allowed = [i + 1 for i in np.argsort(-sims) if i + 1 not in own]
        assert negs == allowed[:4]  # the nearest items the user never touched, nearest first


def test_lr_by_prefix_gives_the_new_parts_their_own_learning_rate(data, tmp_path):
    from ur4rec.train.trainer import Phase

    model = pretrained(data).model
    t = Supervised(lr=1e-4, lr_by_prefix={"augmenter.": 1e-2, "cand_in.": 1e-3})
    phase = Phase("train", model, list(model.parameters()), None, None, None, "NDCG@10", "")
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in t.param_groups(phase)}
    augmenter = {id(p) for p in model.augmenter.parameters()}
    cand_in = {id(p) for n, p in model.named_parameters() if ".cand_in." in n}
    assert cand_in and by_lr[1e-2] == augmenter and by_lr[1e-3] == cand_in
    assert by_lr[1e-4] == {id(p) for p in model.parameters()} - augmenter - cand_in
    assert "lr_by_prefix" not in Supervised(lr=1e-4).params()  # unset: fingerprints and Base keys unchanged
    with pytest.raises(ValueError, match="augmentr"):
        Supervised(lr_by_prefix={"augmentr.": 1e-2}).param_groups(phase)
