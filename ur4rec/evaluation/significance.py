"""Paired t-tests: over per-sample metric values (the paper's significance test, p < 0.05), and over users.

A user has about ten test targets in the all-targets protocol, and their values move together, so the
per-sample test counts correlated samples as independent and its p-values can be off (too small when a
user's differences move together). The test over users averages each user's paired differences first: one
value per user, independent across users."""
from __future__ import annotations

import numpy as np


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value that mean(a - b) = 0; 1.0 when the samples are identical."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs equal sample counts, got {a.shape} and {b.shape}")
    diff = a - b
    if np.allclose(diff, diff[0] if len(diff) else 0.0):
        return 1.0 if (len(diff) == 0 or diff[0] == 0) else 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def clustered_users(*users: np.ndarray | None) -> np.ndarray | None:
    """The samples' users when every result recorded the same ones (one evaluation set) and some user has several
    samples, else None: with one sample each, the test over users is the test over samples."""
    if not users or any(u is None for u in users) or any(not np.array_equal(u, users[0]) for u in users[1:]):
        return None
    return users[0] if len(np.unique(users[0])) < len(users[0]) else None


def paired_t_test_over_users(a: np.ndarray, b: np.ndarray, users: np.ndarray) -> float:
    """The paired t-test on per-user means of ``a - b`` (``users[i]`` is sample i's user)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    users = np.asarray(users)
    if not (a.shape == b.shape == users.shape):
        raise ValueError(f"test over users needs one user per sample, got {a.shape}, {b.shape} and {users.shape}")
    ids, inverse = np.unique(users, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(ids))
    mean_a = np.bincount(inverse, weights=a, minlength=len(ids)) / counts
    mean_b = np.bincount(inverse, weights=b, minlength=len(ids)) / counts
    return paired_t_test(mean_a, mean_b)
