"""Where caches and run outputs live: ~/.cache/ur4rec unless UR4REC_CACHE or the CACHE_DIR macro says otherwise."""
from __future__ import annotations

import os
from pathlib import Path

import gin

from ur4rec.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
GIN_DIR = REPO_ROOT / "gin"


@gin.configurable
def cache_root(cache_dir: str | None = None) -> Path:
    """The cache root; ``cache_dir`` (gin macro CACHE_DIR) beats $UR4REC_CACHE beats ~/.cache/ur4rec."""
    chosen = cache_dir or os.environ.get("UR4REC_CACHE") or Path.home() / ".cache" / "ur4rec"
    if not isinstance(chosen, (str, Path)):
        raise ConfigError(f"CACHE_DIR must be a folder path or None, got {chosen!r}")
    return _make_dir(Path(chosen).expanduser())


def cache_dir(*parts: str) -> Path:
    return _make_dir(cache_root().joinpath(*parts))


def _make_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # e.g. CACHE_DIR names a file, or a folder without write permission
        raise ConfigError(f"cache folder {path} cannot be created ({err.strerror or err}); "
                          "set CACHE_DIR or $UR4REC_CACHE to a writable folder") from None
    return path
