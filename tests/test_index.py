import numpy as np
import pytest

from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.encoding.aggregate import aggregate_preferences
from ur4rec.index.faiss_index import ItemIndex, matching_check, random_floor, target_ranks
from ur4rec.knowledge import RandomKnowledge


@pytest.fixture
def data(tiny_ml1m):
    return prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))


def test_faiss_search_matches_bruteforce_numpy():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((201, 16)).astype(np.float32)
    items[0] = 0
    queries = rng.standard_normal((30, 16)).astype(np.float32)
    index = ItemIndex(items)
    assert not index.on_gpu  # no GPU here; the same code takes the GPU path when FAISS sees one
    scores, ids = index.search(queries, 10)
    unit = items[1:] / np.linalg.norm(items[1:], axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ unit.T
    expected = np.argsort(-sims, axis=1)[:, :10] + 1
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(sims, expected - 1, 1), rtol=1e-5, atol=1e-5)
    assert (ids > 0).all()  # the padding row is never returned


def test_matching_check_perfect_and_random(data):
    rng = np.random.default_rng(0)
    item = rng.standard_normal((data.n_items + 1, 8)).astype(np.float32)
    item[0] = 0
    samples = data.samples("valid")
    targets = data.seq_items[data.seq_offsets[samples.user] + samples.pos]
    first = {}
    for u, t in zip(samples.user, targets):
        first.setdefault(int(u), int(t))
    user = rng.standard_normal((data.n_users, 8)).astype(np.float32)
    for u, t in first.items():
        user[u] = item[t]  # e_u equals the first validation target's vector
    res = matching_check(data, user, item, cutoffs=(10,))
    hits = np.array([first[int(u)] == int(t) for u, t in zip(samples.user, targets)])
    assert res.metrics["Recall@10"] >= hits.mean() - 1e-9 and res.metrics["NDCG@10"] >= hits.mean() - 1e-9
    floor = random_floor(data.n_items, (10,))
    assert floor["Recall@10"] == pytest.approx(10 / data.n_items)
    ranks = target_ranks(ItemIndex(item), user[samples.user], targets, data.n_items)
    assert ((ranks >= 1) & (ranks <= data.n_items)).all()  # every target is somewhere in a full ranking


def test_aggregate_is_user_then_history_with_mask(data):
    kv = RandomKnowledge(dim=6).vectors(data)
    users, pos = np.array([0, 1, 2]), np.array([1, 3, int(data.n_train[2])])
    z, mask = aggregate_preferences(data, kv, users, pos, length=4)
    assert tuple(z.shape) == (3, 5, 6) and tuple(mask.shape) == (3, 5)
    np.testing.assert_allclose(z[:, 0].numpy(), kv.user[users])
    hist = data.histories(users, pos, 4)
    np.testing.assert_array_equal(mask[:, 1:].numpy(), hist > 0)
    assert mask[:, 0].all() and mask[0].sum() == 2  # user + one earlier item
    np.testing.assert_allclose(z[:, 1:].numpy(), kv.item[hist])
    assert not z[0, 1:4].any()  # padding rows are zeros
