import numpy as np
import pytest

from conftest import write_ml1m
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol


@pytest.fixture
def prepared(tiny_ml1m):
    return prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))


def user_sets(data):
    return [set(data.user_items(u).tolist()) for u in range(data.n_users)]


def test_negatives_never_among_users_items(prepared):
    sets = user_sets(prepared)
    for split in ("valid", "test"):
        s = prepared.samples(split)
        for row, user, label in zip(s.candidates, s.user, s.label):
            negs = np.delete(row, label)
            assert not (set(negs.tolist()) & sets[user])
            assert len(set(row.tolist())) == len(row)  # distinct
            assert row[label] in sets[user]


def test_target_is_the_item_at_pos_and_histories_are_before_it(prepared):
    s = prepared.test
    hist = prepared.histories(s.user, s.pos, 5)
    for k in range(len(s)):
        seq = prepared.user_items(s.user[k])
        assert s.candidates[k, s.label[k]] == seq[s.pos[k]]
        real = hist[k][hist[k] > 0]
        expected = seq[max(0, s.pos[k] - 5):s.pos[k]]
        assert real.tolist() == expected.tolist()
        times = prepared.seq_times[prepared.seq_offsets[s.user[k]]:prepared.seq_offsets[s.user[k] + 1]]
        assert (np.diff(times) >= 0).all()


def test_split_is_chronological_8_1_1(prepared):
    lengths = prepared.seq_len()
    assert ((prepared.n_valid >= 1) & (lengths - prepared.n_train - prepared.n_valid >= 1)).all()
    assert prepared.n_train.sum() / lengths.sum() == pytest.approx(0.8, abs=0.05)
    valid_pos_ok = prepared.valid.pos >= prepared.n_train[prepared.valid.user]
    test_pos_ok = prepared.test.pos >= (prepared.n_train + prepared.n_valid)[prepared.test.user]
    assert valid_pos_ok.all() and test_pos_ok.all()


def test_same_seed_same_candidates_other_seed_differs(tiny_ml1m, tmp_path, monkeypatch):
    a = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20, seed=3))
    monkeypatch.setenv("UR4REC_CACHE", str(tmp_path / "other-cache"))  # force a fresh computation
    b = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20, seed=3))
    c = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20, seed=4))
    assert b.stats["cache"]["hit"] is False
    np.testing.assert_array_equal(a.test.candidates, b.test.candidates)
    assert not np.array_equal(a.test.candidates, c.test.candidates)


def test_k_core_is_iterative(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=12, n_items=18, per_user=8)
    data = prepare_data(MovieLens1M(folder), ChronologicalProtocol(k_core=4, n_candidates=5))
    _, items = np.unique(data.seq_items, return_counts=True)
    assert data.stats["dropped"]["interactions removed by iterative 4-core"] > 0
    assert (data.seq_len() >= 4).all() and (items >= 4).all()


def test_duplicates_keep_earliest_and_are_counted(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=6, n_items=40, per_user=10)
    lines = (folder / "ratings.dat").read_text().splitlines()
    u, i, r, t = lines[0].split("::")
    lines.append(f"{u}::{i}::{r}::{int(t) + 99999}")
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n")
    data = prepare_data(MovieLens1M(folder), ChronologicalProtocol(k_core=1, n_candidates=5))
    assert data.stats["dropped"]["duplicate (user, item) interactions (earliest kept)"] == 1


def test_short_users_are_dropped_and_reported(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=6, n_items=40, per_user=10)
    with open(folder / "ratings.dat", "a") as fh:
        fh.write("99::1::3::978300001\n99::2::3::978300002\n")
    data = prepare_data(MovieLens1M(folder), ChronologicalProtocol(k_core=1, n_candidates=5))
    assert data.stats["dropped"]["users too short for a train/valid/test target (dropped)"] == 1
    assert "99" not in set(data.user_tokens.tolist())


def test_cache_reused_and_invalidated_by_content(tiny_ml1m):
    first = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))
    again = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))
    assert first.stats["cache"]["hit"] is False and again.stats["cache"]["hit"] is True
    np.testing.assert_array_equal(first.valid.candidates, again.valid.candidates)
    with open(tiny_ml1m / "ratings.dat", "a") as fh:
        fh.write("1::149::4::999999999\n")
    changed = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))
    assert changed.stats["cache"]["hit"] is False and changed.key != first.key


def test_eval_cap_limits_targets_per_user(tiny_ml1m):
    data = prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20, eval_targets_per_user=1))
    assert np.bincount(data.test.user).max() == 1
    assert data.stats["eval_samples"]["targets_per_user_cap"] == 1


def test_training_negatives_redrawn_but_valid(prepared):
    from ur4rec.data.sampling import NegativeSampler

    users, items = np.repeat(np.arange(prepared.n_users), prepared.seq_len()), prepared.seq_items
    sampler = NegativeSampler(users, items, prepared.n_items)
    tu, _ = prepared.train_targets()
    a = sampler.negatives(np.random.default_rng(1), tu, 5)
    b = sampler.negatives(np.random.default_rng(2), tu, 5)
    assert not np.array_equal(a, b)
    sets = user_sets(prepared)
    assert all(not (set(row.tolist()) & sets[u]) for row, u in zip(a, tu))
