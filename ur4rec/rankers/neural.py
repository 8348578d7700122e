"""``rankers.Neural``: a trained reranker = backbone (+ augmenter) + loss + trainer, driven by experiment().

gin wiring (classes without parentheses are built by ``fit`` once the dataset's sizes are known)::

    rankers.Neural.backbone = @backbones.PRM
    rankers.Neural.augmenter = @augmenters.Text     # None: the Base row
    rankers.Neural.loss = @losses.Listwise()
    rankers.Neural.trainer = @trainers.Supervised()
    rankers.Neural.history_len = %HISTORY_LEN
    rankers.Neural.tag = 'BERT'                     # names the ranker PRM+BERT in result tables

UR4Rec (Algorithm 1) adds two stages before the joint training of eq. 9::

    rankers.Neural.start_from_base = True           # backbone starts from the trained Base checkpoint
    rankers.Neural.base_trainer = @trainers.Supervised()  # how that Base is trained (default: ``trainer``)
    rankers.Neural.pretrain = @pretrainers.Retriever()   # None: the "w/o pretrain" row

The Base checkpoint is a cached artifact (``<cache>/checkpoints/base-<key>.pt``) keyed by the
backbone, its gin parameters, history window, loss, trainer settings, data and seed: a Base row run
publishes it, a UR4Rec run with the same key reuses it and otherwise trains it (resumably, in
``<run>/<ranker>/base``). Beside it, ``base-<key>.json`` holds that training's summary and the
checkpoint's sha256: a Base row that finds both loads the weights instead of training them again (the
same key is the same Base configuration), so a Base row after a UR4Rec or control run of its seed costs only
its scoring. The joint phase's resume fingerprint covers the whole gin config, the
knowledge vectors' key, the Base key and the pre-trained retriever's key.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import gin
import numpy as np
import torch
from rich.console import Console
from torch import nn

from ur4rec.backbones.base import Backbone, Batch
from ur4rec.data.prepared import PreparedDataset, Samples
from ur4rec.device import compute_device
from ur4rec.errors import ConfigError
from ur4rec.locks import exclusive
from ur4rec.losses.base import Loss
from ur4rec.losses.rec import Listwise
from ur4rec.rankers.base import RANKERS, Ranker
from ur4rec.train.batches import BatchMaker, sizes_of
from ur4rec.train.trainer import Supervised, Trainer, fingerprint, gin_bindings


class Reranker(nn.Module):
    """r = backbone(batch with e_aug = augmenter(batch)) (+ the augmenter's score bias, if it has one) — eq. 9."""

    def __init__(self, backbone: Backbone, augmenter: nn.Module | None):
        super().__init__()
        self.backbone, self.augmenter = backbone, augmenter

    def forward(self, batch: Batch) -> torch.Tensor:
        if self.augmenter is None:
            return self.backbone(batch)  # [B, N]
        h = self.backbone.embed_items(batch.cand, batch.cand_attrs)  # [B, N, item_dim]
        e_aug, bias = self.augmenter.augment(batch, h)  # [B, N, D_aug], [B, N] or None
        scores = self.backbone(batch.with_augment(e_aug))
        return scores if bias is None else scores + bias.to(scores.dtype)


def _check_factory(value, slot: str):
    if isinstance(value, nn.Module):
        raise ConfigError(f"rankers.Neural.{slot} got a built module; pass the class without parentheses, "
                          f"e.g. rankers.Neural.{slot} = @{slot}s.{type(value).__name__} (fit() builds it for the dataset)")
    return value


@RANKERS.register("Neural")
class Neural(Ranker):
    """A backbone (+ augmenter) trained with ``loss`` by ``trainer``; scores with the best validation checkpoint.

    ``eval_batch_size``: lists per forward pass when scoring. 32 scored fastest on 2 CPU cores for PRM Base and
    UR4Rec in fp32 and bf16 (256 was 1.3-1.6x slower: its activations outgrow the caches;
    ``benchmarks/results/retriever.md``); a GPU wants more."""

    def __init__(self, backbone: Callable[..., Backbone], augmenter: Callable[..., nn.Module] | None = None,
                 loss: Loss | None = None, trainer: Trainer | None = None, history_len: int = 10,
                 eval_batch_size: int = 32, name: str | None = None, tag: str | None = None,
                 start_from_base: bool = False, pretrain=None, base_trainer: Trainer | None = None):
        self.backbone_cls = _check_factory(backbone, "backbone")
        self.augmenter_cls = _check_factory(augmenter, "augmenter")
        base = getattr(backbone, "registry_name", getattr(backbone, "__name__", "Neural"))
        if augmenter is not None:  # e.g. PRM+BERT with tag='BERT', else PRM+Text
            base += "+" + (tag or getattr(augmenter, "registry_name", getattr(augmenter, "__name__", "aug")))
        super().__init__(name or base)
        self.loss = loss or Listwise()
        self.trainer = trainer or Supervised()
        self.history_len, self.eval_batch_size = history_len, eval_batch_size
        self.start_from_base, self.pretrain = start_from_base, pretrain
        self.base_trainer = base_trainer or self.trainer  # trains (and names) the Base checkpoint
        if pretrain is not None and not start_from_base:
            raise ConfigError("rankers.Neural.pretrain needs rankers.Neural.start_from_base = True: the retriever is "
                              "pre-trained on the trained Base backbone's item representations h_i (paper eq. 7-8)")
        self.model: Reranker | None = None
        self.make_batch: BatchMaker | None = None

    def build(self, data: PreparedDataset) -> Reranker:
        augmenter = self.augmenter_cls(data) if self.augmenter_cls is not None else None
        aug_dim = augmenter.dim if augmenter is not None else 0
        backbone = self.backbone_cls(sizes_of(data), aug_dim)
        if augmenter is not None:
            augmenter.attach(backbone)
        return Reranker(backbone, augmenter)

    def fit(self, data: PreparedDataset, run_dir: Path | None = None, seed: int = 0, console=None) -> None:
        console = console or Console(stderr=True)
        torch.manual_seed(seed)  # the same initial weights on every (re)start
        device = compute_device()
        self.model = self.build(data).to(device)  # built on the CPU: the same initial weights on every device
        self.make_batch = BatchMaker(data, self.history_len, device)
        n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        aug = self.model.augmenter
        console.log(f"{self.name}: {n_params:,} trainable parameters, history window {self.history_len}"
                    + ("" if device.type == "cpu" else f", on {device}")
                    + (f", augment: {aug.description}" if aug is not None and getattr(aug, "description", "") else ""))
        inputs = {"config": gin.config_str(), "vectors": aug.cache_key() if aug is not None else ""}
        if self.start_from_base:
            inputs["base"] = self._start_from_base(data, run_dir, seed, console)
        if self.pretrain is not None:
            inputs["pretrained"] = self.pretrain.fit(aug, self.model.backbone, data, self.make_batch, seed, console,
                                                     inputs["base"])
        base_key = self.base_key(data, seed) if aug is None and not self.start_from_base else None
        # a Base row holds its checkpoint's lock while it trains, so a UR4Rec run of the same key waits for it
        with self._base_lock(base_key, console) if base_key else contextlib.nullcontext():
            if base_key and self._reuse_base(base_key, run_dir, console):
                return
            summary = self.trainer.fit(self.model, self.loss, data, self.make_batch, self._validator(data), run_dir,
                                       seed, console, inputs=inputs)
            self.model.eval()
            if base_key:
                self._publish_base(base_key, summary, run_dir, console)

    def _validator(self, data):
        from ur4rec.evaluation import harness  # looked up at call time so tests can interrupt it

        return lambda: harness.evaluate(self, data, "valid", batch_size=self.eval_batch_size).means()

    # ---- the Base checkpoint as a shared artifact ------------------------------------------
    def base_key(self, data: PreparedDataset, seed: int) -> str:
        """Names the trained Base backbone: same key = same weights (see the module docstring)."""
        backbone = self.backbone_cls(sizes_of(data), 0)
        trainer = self.base_trainer
        train_id = trainer.model_fingerprint(Reranker(backbone, None), self.loss, data, seed) \
            if isinstance(trainer, Supervised) else repr(vars(trainer))
        return fingerprint({"train": train_id, "history_len": self.history_len,
                            "backbone": [getattr(self.backbone_cls, "registry_name", str(self.backbone_cls)),
                                         gin_bindings(self.backbone_cls)]})

    @staticmethod
    def base_path(key: str) -> Path:
        from ur4rec.paths import cache_dir

        return cache_dir("checkpoints") / f"base-{key}.pt"

    def _base_lock(self, key: str, console):
        return exclusive(self.base_path(key).with_suffix(".lock"), f"the Base checkpoint base-{key}", wait=True,
                         log=console.log)

    def _publish_base(self, key: str, summary: dict, run_dir: Path | None, console) -> None:
        """The checkpoint, then beside it its training summary and the checkpoint's digest (``base-<key>.json``):
        a Base row that finds both reuses them instead of training the same weights again."""
        path = self.base_path(key)
        _replace(path, lambda tmp: torch.save({"backbone": self.model.backbone.state_dict()}, tmp))
        record = {"checkpoint_sha256": _sha256(path), "trained_in": None if run_dir is None else str(run_dir),
                  "training": summary}
        _replace(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
        console.log(f"{self.name}: Base checkpoint published for reuse as {path}")

    def _reuse_base(self, key: str, run_dir: Path | None, console) -> bool:
        """Load the published Base of this key (trained by a UR4Rec or control run, or another Base row) and write
        its training summary as this run's; False when there is none, or its record does not match its bytes."""
        path = self.base_path(key)
        record_path = path.with_suffix(".json")
        if not (path.is_file() and record_path.is_file()):
            return False
        try:
            record = json.loads(record_path.read_text())
            training = {**record["training"], "reused_from": str(path), "trained_in": record.get("trained_in")}
            best = f"best validation {training['best_score']:.4f} at epoch {training['best_epoch'] + 1}"
        except (ValueError, KeyError, TypeError):
            console.log(f"[yellow]{record_path} is not a Base training record; training the Base again[/yellow]")
            return False
        if record.get("checkpoint_sha256") != _sha256(path):
            console.log(f"[yellow]{record_path.name} does not describe {path.name} (republished since?); "
                        f"training the Base again[/yellow]")
            return False
        self.model.backbone.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["backbone"])
        self.model.eval()
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "training.json").write_text(json.dumps(training, indent=2))
        console.log(f"{self.name}: reusing the published Base checkpoint {path.name} (trained in "
                    f"{record.get('trained_in') or 'memory'}; {best}); delete it and {record_path.name} to train again")
        return True

    def _start_from_base(self, data: PreparedDataset, run_dir: Path | None, seed: int, console) -> str:
        key = self.base_key(data, seed)
        path = self.base_path(key)
        if not path.is_file():
            with self._base_lock(key, console):  # another process may be training it: wait, then reuse
                if not path.is_file():
                    console.log(f"{self.name}: no Base checkpoint {path.name} yet; training the Base backbone first")
                    base = Neural(self.backbone_cls, None, self.loss, self.base_trainer, self.history_len,
                                  self.eval_batch_size, name=self.name + "/base")
                    base.fit(data, None if run_dir is None else run_dir / "base", seed, console)
        state = torch.load(path, map_location="cpu", weights_only=True)["backbone"]
        missing, unexpected = self.model.backbone.load_state_dict(state, strict=False)
        extra = [k for k in missing if ".cand_in.proj." not in f".{k}"]
        if extra or unexpected:
            raise ConfigError(f"{path} does not fit this backbone (missing {extra}, unexpected {unexpected})")
        console.log(f"{self.name}: backbone starts from the Base checkpoint {path.name}")
        # The key names the Base configuration; retraining it (another thread count, another machine) can
        # republish other weights under it, so what depends on the weights is keyed on their bytes too.
        return f"{key}-{_sha256(path)[:16]}"

    @torch.no_grad()
    def score(self, data: PreparedDataset, batch: Samples) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.name}.score called before fit")
        was_training = self.model.training
        self.model.eval()
        autocast = getattr(self.trainer, "autocast", lambda module: contextlib.nullcontext())
        parts = []
        with autocast(self.model):
            for lo in range(0, len(batch.user), self.eval_batch_size):
                sl = slice(lo, lo + self.eval_batch_size)
                parts.append(self.model(self.make_batch(batch.user[sl], batch.pos[sl], batch.candidates[sl])).float())
        self.model.train(was_training)
        return torch.cat(parts).cpu().double().numpy()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file and rename: a kill mid-write never leaves a broken file."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
