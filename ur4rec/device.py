"""Where a ranker's model trains and scores: the CPU unless a binding or $UR4REC_DEVICE names a GPU; and whether
this CPU computes bf16 natively (the LLM's 'auto' dtype).

The device is an execution detail like the thread count: it is not part of any run fingerprint or cache
key (weights trained on a GPU differ in rounding, as they do with another thread count, and whatever is
keyed on weights is keyed on their bytes). Each run records the device it used in its ``metrics.json``.
"""
from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

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


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


CPUINFO = Path("/proc/cpuinfo")  # the kernel's CPU description (Linux)


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when the CPU has bf16 arithmetic in hardware (AVX-512 BF16 or AMX). Without it torch emulates bf16
    and decoding runs about 4x slower than fp32 (measured on an AVX2-only AMD EPYC: 24 vs 95 tok/s)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(callable(p) for p in probes):
        return any(p() for p in probes)
    return cpuinfo_bf16()  # older torch without the probes


def cpuinfo_bf16(path: Path = CPUINFO) -> bool:
    """The same question answered from the kernel's CPU flags (False where there is no such file)."""
    flags = path.read_text().split() if path.is_file() else []
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def cpu_model(path: Path = CPUINFO) -> str:
    """The CPU's model name ('AMD EPYC', 'Intel(R) Xeon(R) Processor'), else what ``platform`` knows."""
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_description() -> str:
    """For run records and results files: machines of one kind differ in CPU, and with it in speed and bf16."""
    bf16 = "yes" if native_bf16() else "no"
    return f"{platform.node()}, {os.cpu_count()} cores ({platform.machine()}, {cpu_model()}, bf16 in hardware: {bf16})"


def resolve_dtype(dtype: str) -> str:
    """'auto' -> 'bfloat16' where the CPU computes it natively, else 'float32'; any other name unchanged."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bf16() else "float32"
