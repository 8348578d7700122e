import math

import numpy as np
import pytest

from ur4rec.evaluation.metrics import per_sample, pessimistic_rank, random_floor
from ur4rec.evaluation.significance import paired_t_test, paired_t_test_over_users


def test_rank_and_metrics_hand_computed():
    scores = np.array([[0.9, 0.5, 0.1, 0.7],   # positive col 1: two above it -> rank 3
                       [0.2, 0.8, 0.3, 0.1]])  # positive col 1: best -> rank 1
    rank = pessimistic_rank(scores, np.array([1, 1]))
    assert rank.tolist() == [3, 1]
    m = per_sample(rank)
    assert m["MAP@1"].tolist() == [0.0, 1.0]
    assert m["MAP@5"][0] == pytest.approx(1 / 3)
    assert m["NDCG@5"][0] == pytest.approx(1 / math.log2(4))
    assert m["NDCG@1"].tolist() == [0.0, 1.0]
    assert m["HR@1"].tolist() == [0.0, 1.0] and m["HR@5"].tolist() == [1.0, 1.0]
    assert m["MRR"][0] == pytest.approx(1 / 3)


def test_ties_rank_the_positive_last():
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    assert pessimistic_rank(scores, np.array([0])).tolist() == [3]


def test_constant_scorer_gets_the_worst_rank():
    scores = np.zeros((5, 100))
    rank = pessimistic_rank(scores, np.arange(5))
    assert (rank == 100).all()
    assert per_sample(rank)["NDCG@20"].sum() == 0.0


def test_rank_beyond_cutoff_scores_zero():
    m = per_sample(np.array([21]))
    assert all(m[f"{name}@20"][0] == 0 for name in ("MAP", "NDCG", "HR"))
    assert m["MRR"][0] == pytest.approx(1 / 21)


def test_random_floor_matches_uniform_rank():
    floor = random_floor(100)
    assert floor["HR@10"] == pytest.approx(0.10)
    assert floor["MAP@1"] == pytest.approx(0.01)
    assert floor["MRR"] == pytest.approx(sum(1 / r for r in range(1, 101)) / 100)


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        pessimistic_rank(np.array([[np.nan, 1.0]]), np.array([0]))


def test_paired_t_test():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    assert paired_t_test(a, a) == 1.0
    assert paired_t_test(a + 0.2 + 0.01 * rng.random(200), a) < 1e-6


def test_the_test_over_users_averages_each_users_samples_first():
    from scipy import stats

    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(30), 10)  # ten targets per user, as in the all-targets protocol
    a = rng.random(300) + np.repeat(rng.normal(0, 0.3, 30), 10)  # a user effect shared by their samples
    b = a - 0.03 + rng.normal(0, 0.05, 300)
    per_user = lambda v: np.array([v[users == u].mean() for u in range(30)])  # noqa: E731
    expected = stats.ttest_rel(per_user(a), per_user(b)).pvalue
    shuffled = rng.permutation(300)  # the order of samples does not matter, only who they belong to
    assert paired_t_test_over_users(a[shuffled], b[shuffled], users[shuffled]) == pytest.approx(expected)
    assert paired_t_test_over_users(a, b, users) > paired_t_test(a, b)  # 30 users are fewer than 300 samples
    one_each = np.arange(300)
    assert paired_t_test_over_users(a, b, one_each) == pytest.approx(paired_t_test(a, b))
    with pytest.raises(ValueError, match="one user per sample"):
        paired_t_test_over_users(a, b, users[:10])


def test_a_runs_table_gives_the_test_over_users_beside_the_one_over_samples():
    from ur4rec.evaluation import report
    from ur4rec.evaluation.harness import EvalResult

    rng = np.random.default_rng(2)
    users = np.repeat(np.arange(40), 5)
    base = EvalResult("Popularity", "test", {m: rng.random(200) for m in report.SHOWN}, 200, users)
    model = EvalResult("PRM", "test", {m: v + 0.05 for m, v in base.values.items()}, 200, users)
    model.values["NDCG@10"] = base.values["NDCG@10"] + rng.normal(0.02, 0.1, 200)
    rows = report.rows([base, model], 100, "Popularity")
    a, b = model.values["NDCG@10"], base.values["NDCG@10"]
    assert rows[1]["p vs Popularity"] == pytest.approx(paired_t_test(a, b))
    assert rows[1]["p/users vs Popularity"] == pytest.approx(paired_t_test_over_users(a, b, users))
    md = report.markdown(rows, "caption")
    header = md.splitlines()[0]
    assert header.endswith("| p vs Popularity | p/users vs Popularity |")
    unknown = EvalResult("PRM", "test", model.values, 200)  # results without users: no test over users
    assert "p/users vs Popularity" not in report.rows([base, unknown], 100, "Popularity")[1]
    one_each = [EvalResult(r.ranker, "test", r.values, 200, np.arange(200)) for r in (base, model)]
    assert "p/users vs Popularity" not in report.rows(one_each, 100, "Popularity")[1]  # the same test twice


def test_clustered_users_needs_the_same_users_everywhere_and_a_user_with_several_samples():
    from ur4rec.evaluation.significance import clustered_users

    users = np.repeat(np.arange(4), 3)
    assert np.array_equal(clustered_users(users, users.copy()), users)
    assert clustered_users(users, None) is None and clustered_users() is None
    assert clustered_users(users, users[::-1]) is None  # another evaluation set (or order): not paired by user
    assert clustered_users(np.arange(12), np.arange(12)) is None  # one sample each: the test over samples again
