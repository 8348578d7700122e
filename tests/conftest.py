"""Shared fixtures: a clean gin config and a private cache dir for every test; tiny data writers."""
from __future__ import annotations

import gzip
from pathlib import Path

import os

import gin
import numpy as np
import pytest

os.environ.setdefault("COLUMNS", "250")  # rich would wrap CLI output at 80 columns
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def clean_gin_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE", str(tmp_path / "cache"))
    gin.clear_config()
    yield
    gin.clear_config()


def write_ml1m(folder: Path, n_users: int = 30, n_items: int = 150, per_user: int = 20, seed: int = 0,
               gz: bool = False) -> Path:
    """A MovieLens-1M-format folder with random but valid ratings, movies and users."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False)
        for k, it in enumerate(items):
            lines.append(f"{u}::{it}::{rng.integers(1, 6)}::{978300000 + 1000 * k + u}")
    data = ("\n".join(lines) + "\n").encode("latin-1")
    if gz:
        (folder / "ratings.dat.gz").write_bytes(gzip.compress(data))
    else:
        (folder / "ratings.dat").write_bytes(data)
    genres = ["Action", "Comedy", "Drama", "Sci-Fi", "Romance"]
    movies = [f"{i}::Movie {i} ({1950 + i % 50})::{genres[i % 5]}|{genres[(i + 2) % 5]}" for i in range(1, n_items + 1)]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    users = [f"{u}::{'MF'[u % 2]}::25::{u % 21}::0{u:04d}" for u in range(1, n_users + 1)]
    (folder / "users.dat").write_bytes(("\n".join(users) + "\n").encode("latin-1"))
    return folder


@pytest.fixture
def tiny_ml1m(tmp_path) -> Path:
    return write_ml1m(tmp_path / "ml1m")
