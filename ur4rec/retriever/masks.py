"""The attention masks of paper Figure 3 as pure functions returning boolean [B, T, T] (True = may attend).

(a) and (b) are bidirectional: every position attends to every real position (the proxies alone,
eq. 6; the proxies with one item, eq. 8). (c) is the fast joint path of section 3.3: the input is
[P; h_1..h_N]; proxies attend to each other and to every real item, an item attends to the proxies
and to itself only, so one pass gives every candidate an output that no other candidate touched
except through the (shared) proxies.
"""
from __future__ import annotations

import torch


def bidirectional(valid: torch.Tensor) -> torch.Tensor:
    """Masks (a)/(b): valid [B, T] bool -> [B, T, T]; each row may attend to every real position."""
    b, t = valid.shape
    return valid.unsqueeze(1).expand(b, t, t)


def proxies_and_items(n_proxies: int, item_valid: torch.Tensor) -> torch.Tensor:
    """Mask (c): item_valid [B, N] bool -> [B, K+N, K+N] for the input [P; h_1..h_N]."""
    b, n = item_valid.shape
    k = n_proxies
    mask = torch.zeros(b, k + n, k + n, dtype=torch.bool, device=item_valid.device)
    mask[:, :, :k] = True  # everyone sees the proxies
    mask[:, :k, k:] = item_valid.unsqueeze(1)  # proxies see every real item
    eye = torch.eye(n, dtype=torch.bool, device=item_valid.device)
    mask[:, k:, k:] = eye  # an item sees itself only (padding rows too, so no row is empty)
    return mask
