"""Where caches and run outputs live: ~/.cache/ur4rec unless UR4REC_CACHE or the CACHE_DIR macro says otherwise."""
from __future__ import annotations

import os
from pathlib import Path

import gin

REPO_ROOT = Path(__file__).resolve().parent.parent
GIN_DIR = REPO_ROOT / "gin"


@gin.configurable
def cache_root(cache_dir: str | None = None) -> Path:
    """The cache root; ``cache_dir`` (gin macro CACHE_DIR) beats $UR4REC_CACHE beats ~/.cache/ur4rec."""
    chosen = cache_dir or os.environ.get("UR4REC_CACHE") or Path.home() / ".cache" / "ur4rec"
    root = Path(chosen).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
