"""Fix every random source so a CPU run is repeatable."""
from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # torch is a dependency, but seeding must not be what fails
        return
    torch.manual_seed(seed)
