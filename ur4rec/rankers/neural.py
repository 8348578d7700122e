"""``rankers.Neural``: a trained reranker = backbone (+ augmenter) + loss + trainer, driven by experiment().

gin wiring (classes without parentheses are built by ``fit`` once the dataset's sizes are known)::

    rankers.Neural.backbone = @backbones.PRM
    rankers.Neural.augmenter = @augmenters.Text     # None: the Base row
    rankers.Neural.loss = @losses.Listwise()
    rankers.Neural.trainer = @trainers.Supervised()
    rankers.Neural.history_len = %HISTORY_LEN
    rankers.Neural.tag = 'BERT'                     # names the ranker PRM+BERT in result tables
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.console import Console
from torch import nn

from ur4rec.backbones.base import Backbone, Batch
from ur4rec.data.prepared import PreparedDataset, Samples
from ur4rec.errors import ConfigError
from ur4rec.losses.base import Loss
from ur4rec.losses.rec import Listwise
from ur4rec.rankers.base import RANKERS, Ranker
from ur4rec.train.batches import BatchMaker, sizes_of
from ur4rec.train.trainer import Supervised, Trainer


class Reranker(nn.Module):
    """r = backbone(batch with e_aug = augmenter(batch)) — paper eq. 9 with the augmenter in front."""

    def __init__(self, backbone: Backbone, augmenter: nn.Module | None):
        super().__init__()
        self.backbone, self.augmenter = backbone, augmenter

    def forward(self, batch: Batch) -> torch.Tensor:
        if self.augmenter is not None:
            batch = batch.with_augment(self.augmenter(batch))  # [B, N, D_aug]
        return self.backbone(batch)  # [B, N]


def _check_factory(value, slot: str):
    if isinstance(value, nn.Module):
        raise ConfigError(f"rankers.Neural.{slot} got a built module; pass the class without parentheses, "
                          f"e.g. rankers.Neural.{slot} = @{slot}s.{type(value).__name__} (fit() builds it for the dataset)")
    return value


@RANKERS.register("Neural")
class Neural(Ranker):
    """A backbone (+ augmenter) trained with ``loss`` by ``trainer``; scores with the best validation checkpoint."""

    def __init__(self, backbone: Callable[..., Backbone], augmenter: Callable[..., nn.Module] | None = None,
                 loss: Loss | None = None, trainer: Trainer | None = None, history_len: int = 10,
                 eval_batch_size: int = 256, name: str | None = None, tag: str | None = None):
        self.backbone_cls = _check_factory(backbone, "backbone")
        self.augmenter_cls = _check_factory(augmenter, "augmenter")
        base = getattr(backbone, "registry_name", getattr(backbone, "__name__", "Neural"))
        if augmenter is not None:  # e.g. PRM+BERT with tag='BERT', else PRM+Text
            base += "+" + (tag or getattr(augmenter, "registry_name", getattr(augmenter, "__name__", "aug")))
        super().__init__(name or base)
        self.loss = loss or Listwise()
        self.trainer = trainer or Supervised()
        self.history_len, self.eval_batch_size = history_len, eval_batch_size
        self.model: Reranker | None = None
        self.make_batch: BatchMaker | None = None

    def build(self, data: PreparedDataset) -> Reranker:
        augmenter = self.augmenter_cls(data) if self.augmenter_cls is not None else None
        aug_dim = augmenter.dim if augmenter is not None else 0
        return Reranker(self.backbone_cls(sizes_of(data), aug_dim), augmenter)

    def fit(self, data: PreparedDataset, run_dir: Path | None = None, seed: int = 0, console=None) -> None:
        from ur4rec.evaluation import harness  # looked up at call time so tests can interrupt it

        console = console or Console(stderr=True)
        torch.manual_seed(seed)  # the same initial weights on every (re)start
        self.model = self.build(data)
        self.make_batch = BatchMaker(data, self.history_len)
        n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        aug = self.model.augmenter
        console.log(f"{self.name}: {n_params:,} trainable parameters, history window {self.history_len}"
                    + (f", augment: {aug.description}" if aug is not None and getattr(aug, "description", "") else ""))
        self.trainer.fit(self.model, self.loss, data, self.make_batch,
                         lambda: harness.evaluate(self, data, "valid", batch_size=self.eval_batch_size).means(),
                         run_dir, seed, console)
        self.model.eval()

    @torch.no_grad()
    def score(self, data: PreparedDataset, batch: Samples) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.name}.score called before fit")
        was_training = self.model.training
        self.model.eval()
        scores = self.model(self.make_batch(batch.user, batch.pos, batch.candidates))
        self.model.train(was_training)
        return scores.double().numpy()
