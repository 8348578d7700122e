"""e_u^aggr of eq. 5: the user's preference vector followed by the knowledge vectors of the history items.

Z = [e_u; e_{i_1}; ...; e_{i_L}] is the key/value input of the retriever's cross-attention. Histories
come from ``PreparedDataset.histories`` (the L interactions before the target, most recent last,
left-padded with item 0), so Z never contains the target or anything after it.
"""
from __future__ import annotations

import numpy as np


def aggregate_preferences(data, kv, users: np.ndarray, pos: np.ndarray, length: int, as_torch: bool = True):
    """(Z [B, 1+L, D] float32, mask [B, 1+L] bool, True = real vector) for targets at ``pos`` of ``users``.

    Position 0 is the user vector (always real); positions 1..L the history items, padding where the
    user has fewer than L earlier interactions (their rows are zeros and masked out).
    """
    users = np.asarray(users, dtype=np.int64)
    hist = data.histories(users, np.asarray(pos, dtype=np.int64), length)  # [B, L], 0 = padding
    z = np.concatenate([kv.user[users][:, None, :], kv.item[hist]], axis=1)  # [B, 1+L, D]
    mask = np.concatenate([np.ones((len(users), 1), dtype=bool), hist > 0], axis=1)  # [B, 1+L]
    if not as_torch:
        return z.astype(np.float32, copy=False), mask
    import torch

    return torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)), torch.from_numpy(mask)
