"""Paired t-test over per-sample metric values (the paper's significance test, p < 0.05)."""
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
