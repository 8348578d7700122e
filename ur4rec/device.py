"""Where a ranker's model trains and scores: the CPU unless a binding or $UR4REC_DEVICE names a GPU.

The device is an execution detail like the thread count: it is not part of any run fingerprint or cache
key (weights trained on a GPU differ in rounding, as they do with another thread count, and whatever is
keyed on weights is keyed on their bytes). Each run records the device it used in its ``metrics.json``.
"""
from __future__ import annotations

import os

import gin
import torch

from ur4rec.errors import ConfigError


@gin.configurable
def compute_device(device: str | None = None) -> torch.device:
    """``device`` (gin) beats $UR4REC_DEVICE beats 'cpu'; 'auto' takes the first GPU when there is one."""
    name = device or os.environ.get("UR4REC_DEVICE") or "cpu"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        chosen = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"compute_device.device / $UR4REC_DEVICE: {name!r} is not a torch device ({err})") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"compute_device.device / $UR4REC_DEVICE asks for {name!r}, but this torch "
                          f"({torch.__version__}) sees no CUDA GPU; use 'cpu' or 'auto'")
    return chosen


def device_name() -> str:
    """The compute device in words, for run records: 'cpu' or e.g. 'cuda:0 (NVIDIA H200)'."""
    device = compute_device()
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
