"""Supervised training of a reranker (backbone + optional augmenter) with Rec-Loss (paper eq. 9).

AdamW; each epoch re-draws the training negatives (and, with ``samples_per_epoch``, a fresh random
subset of training targets), then scores the validation split; the epoch with the best validation
NDCG@10 is kept (``best.pt``) and training stops after ``patience`` epochs without improvement.
Test is never looked at here: the experiment evaluates it once, after ``fit`` restored the best
weights.

Resume: after every epoch ``last.pt`` holds the model, optimizer, early-stopping state and history.
Every epoch is seeded by (seed, epoch) — negatives, shuffling and dropout — so a run killed
mid-training and started again with the same command continues from the last finished epoch and
ends with the same weights as an uninterrupted run. A checkpoint whose fingerprint (model, data,
trainer, loss, seed) differs from the current run's is ignored and training starts afresh.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ur4rec.losses.base import Loss
from ur4rec.registry import registry
from ur4rec.train.batches import BatchMaker, TrainingRows


class Trainer:
    """Fits ``model`` on ``data``; ``validate()`` returns validation metric means (higher is better)."""

    def fit(self, model: torch.nn.Module, loss: Loss, data, make_batch: BatchMaker, validate: Callable[[], dict],
            run_dir: Path | None, seed: int, console: Console) -> dict:
        raise NotImplementedError


TRAINERS = registry("trainers", Trainer)


@dataclass
class State:
    """Early-stopping state, saved with every checkpoint."""

    epoch: int = 0  # finished epochs
    best_score: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    done: bool = False
    history: list = field(default_factory=list)


@TRAINERS.register("Supervised")
class Supervised(Trainer):
    """AdamW, early stopping on validation ``monitor``, best checkpoint kept, resumable per epoch."""

    def __init__(self, epochs: int = 20, batch_size: int = 32, lr: float = 1e-4, weight_decay: float = 0.01,
                 patience: int = 3, samples_per_epoch: int | None = None, n_candidates: int | None = None,
                 monitor: str = "NDCG@10", grad_clip: float | None = 5.0):
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.samples_per_epoch, self.n_candidates = patience, samples_per_epoch, n_candidates
        self.monitor, self.grad_clip = monitor, grad_clip

    def params(self) -> dict:
        return dict(vars(self))

    # ---- the loop ------------------------------------------------------------------------
    def fit(self, model, loss, data, make_batch, validate, run_dir, seed, console) -> dict:
        rows = TrainingRows(data)
        n_cand = self.n_candidates or data.n_candidates
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        fingerprint = self._fingerprint(model, loss, data, seed)
        state = self._resume(model, optimizer, run_dir, fingerprint, console)
        best_weights = None
        while not state.done and state.epoch < self.epochs:
            epoch = state.epoch
            train = self._train_epoch(model, loss, optimizer, rows.epoch(seed, epoch, n_cand, self.samples_per_epoch),
                                      make_batch, seed, epoch, console)
            metrics = validate()
            score = metrics[self.monitor]
            improved = score > state.best_score
            if improved:
                state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                self._save(run_dir, "best.pt", {"fingerprint": fingerprint, "model": best_weights})
            else:
                state.bad_epochs += 1
            state.epoch = epoch + 1
            state.done = state.bad_epochs >= self.patience or state.epoch >= self.epochs
            state.history.append({"epoch": epoch, **train, **{f"valid {k}": v for k, v in metrics.items()
                                                              if k in ("NDCG@10", "MAP@10")}})
            self._save(run_dir, "last.pt", {"fingerprint": fingerprint, "model": model.state_dict(),
                                            "optimizer": optimizer.state_dict(), "state": vars(state)})
            console.log(f"epoch {epoch + 1}/{self.epochs}: loss {train['loss']:.4f}, {train['samples/s']:.0f} samples/s "
                        f"({train['seconds']:.1f}s), valid NDCG@10 {metrics['NDCG@10']:.4f} MAP@10 {metrics['MAP@10']:.4f}"
                        + ("  [best]" if improved else f"  (best {state.best_score:.4f} @ epoch {state.best_epoch + 1})"))
        self._restore_best(model, run_dir, best_weights, fingerprint)
        if run_dir is not None:
            (run_dir / "training.json").write_text(json.dumps({"trainer": self.params(), **vars(state)}, indent=2))
        console.log(f"best validation {self.monitor} {state.best_score:.4f} at epoch {state.best_epoch + 1} "
                    f"of {state.epoch}; test will use that checkpoint")
        return vars(state)

    def _train_epoch(self, model, loss, optimizer, rows, make_batch, seed, epoch, console) -> dict:
        torch.manual_seed(int(np.random.default_rng([seed, epoch, 1]).integers(2**31)))  # dropout per epoch
        model.train()
        total, steps, start = 0.0, 0, time.perf_counter()
        n_batches = (len(rows) + self.batch_size - 1) // self.batch_size
        with Progress(TextColumn(f"epoch {epoch + 1}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                      TimeRemainingColumn(), console=console, transient=True,
                      disable=not console.is_terminal) as progress:  # no blank lines in logs
            task = progress.add_task("train", total=n_batches, loss="-")
            for b in range(n_batches):
                sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
                batch = make_batch(rows.users[sl], rows.pos[sl], rows.candidates[sl], rows.label[sl])
                scores = model(batch)
                value = loss(scores, batch.label, batch.cand_mask)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                optimizer.step()
                total += float(value.detach())
                steps += 1
                if b % 20 == 0 or b == n_batches - 1:
                    progress.update(task, completed=b + 1, loss=f"{total / steps:.4f}")
        seconds = time.perf_counter() - start
        return {"loss": total / max(steps, 1), "samples": len(rows), "seconds": seconds,
                "samples/s": len(rows) / max(seconds, 1e-9)}

    # ---- checkpoints ---------------------------------------------------------------------
    def _fingerprint(self, model, loss, data, seed) -> str:
        parts = {"model": str(model), "loss": [type(loss).__name__, vars(loss)], "data": data.key,
                 "trainer": self.params(), "seed": seed}
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @staticmethod
    def _save(run_dir: Path | None, name: str, payload: dict) -> None:
        if run_dir is None:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / f"{name}.tmp{os.getpid()}"
        torch.save(payload, tmp)
        os.replace(tmp, run_dir / name)  # a kill mid-write never leaves a broken checkpoint

    @staticmethod
    def _load(run_dir: Path | None, name: str) -> dict | None:
        path = None if run_dir is None else run_dir / name
        if path is None or not path.is_file():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def _resume(self, model, optimizer, run_dir, fingerprint, console) -> State:
        saved = self._load(run_dir, "last.pt")
        if saved is None:
            return State()
        if saved["fingerprint"] != fingerprint:
            console.log(f"[yellow]{run_dir / 'last.pt'} belongs to another configuration; training from scratch[/yellow]")
            return State()
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = State(**saved["state"])
        console.log(f"resuming from {run_dir / 'last.pt'}: {state.epoch} epoch(s) done"
                    + (", training finished" if state.done else ""))
        return state

    def _restore_best(self, model, run_dir, best_weights, fingerprint) -> None:
        if best_weights is None:
            saved = self._load(run_dir, "best.pt")
            best_weights = saved["model"] if saved and saved["fingerprint"] == fingerprint else None
        if best_weights is not None:
            model.load_state_dict(best_weights)
