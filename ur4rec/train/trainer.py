"""One resumable epoch loop for every training phase, and supervised training with Rec-Loss (eq. 9).

A ``Phase`` says what is trained and how: the module saved in checkpoints, the parameters the
optimizer updates, each epoch's rows, the loss of one batch, the validation metrics and the one it
monitors, and a fingerprint of everything that determines the result. ``EpochTrainer.run`` does the
rest, the same way for retriever pre-training (``ur4rec.train.pretrain``) and joint training:

AdamW; each epoch draws its rows (negatives re-drawn, and with ``samples_per_epoch`` a fresh random
subset of training targets), then validates; the best epoch is kept (``best.pt``) and training
stops after ``patience`` epochs without improvement. Test is never looked at here.

Resume: after every epoch ``last.pt`` holds the module, optimizer, early-stopping state and history.
Every epoch is seeded by (seed, epoch) — rows, shuffling and dropout — so a run killed mid-phase and
started again with the same command continues from the last finished epoch and ends with the same
weights as an uninterrupted run. A checkpoint whose fingerprint differs from the current phase's is
ignored and the phase starts afresh: a changed config, knowledge vector or pre-trained retriever
never resumes from (or reports) another configuration's weights.

The stopping rule (``epochs``, ``patience``) decides how long a supervised phase runs, not what any
epoch does, so it is left out of that phase's resume fingerprint: raising the patience or the epoch
cap continues a finished run from its last epoch (the same weights as a run that had the new rule
from the start) instead of training it again. The saved history is replayed under the new rule
first; if that rule would have stopped the run sooner, the phase starts afresh. (The Base
checkpoint's key keeps the rule: a Base stopped elsewhere is another set of weights.)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ur4rec.device import native_bf16
from ur4rec.losses.base import Loss
from ur4rec.registry import registry
from ur4rec.train.batches import BatchMaker, TrainingRows


LOG_EVERY_S = 30.0  # in a log file (no live bar), one progress line per this many seconds of an epoch


STOPPING_RULE = ("epochs", "patience")  # how long a phase runs; not part of its resume fingerprint
# the operative-config lines that bind a supervised trainer's stopping rule, e.g. "joint/Supervised.patience = %PATIENCE"
STOPPING_LINE = re.compile(r"^(?:[\w.]+/)?(?:[\w.]+\.)?Supervised\.(?:epochs|patience) = (?:%(\w+))?")


def fingerprint(parts: dict) -> str:
    return hashlib.sha256(json.dumps(stable(parts), sort_keys=True).encode()).hexdigest()[:16]


def weights_digest(module: torch.nn.Module) -> str:
    """16 hex digits of sha256 over a module's state (names, shapes, dtypes, bytes): same digest = same weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{tuple(tensor.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def stable(obj, depth: int = 0):
    """A JSON-able description of ``obj`` that is the same in every process (no memory addresses)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [stable(x, depth) for x in obj]
    if isinstance(obj, dict):
        return {str(k): stable(v, depth) for k, v in obj.items()}
    if isinstance(obj, type) or not hasattr(obj, "__dict__"):
        return getattr(obj, "registry_name", getattr(obj, "__qualname__", type(obj).__name__))
    if hasattr(obj, "describe") and callable(obj.describe):  # encoders: id + params
        return f"{type(obj).__name__}: {obj.describe()}"
    if hasattr(obj, "model_id") and hasattr(obj, "params"):  # LLM backends
        return f"{type(obj).__name__}: {obj.model_id} {obj.params()}"
    if depth >= 3 or isinstance(obj, torch.nn.Module):
        return str(obj) if isinstance(obj, torch.nn.Module) else type(obj).__name__
    return {type(obj).__name__: {k: stable(v, depth + 1) for k, v in vars(obj).items() if not k.startswith("_")}}


def gin_bindings(configurable) -> dict:
    """The gin parameters bound to ``configurable``, as stable values ({} when none or unknown)."""
    import gin

    try:
        return stable(dict(gin.get_bindings(configurable)))
    except (ValueError, TypeError, KeyError):
        return {}


@dataclass
class Phase:
    """One resumable training stage (see the module docstring)."""

    name: str  # shown in logs: 'train', 'pretrain'
    module: torch.nn.Module  # what checkpoints hold and what is restored to the best epoch
    parameters: list  # what the optimizer updates
    rows: Callable[[int], Any]  # epoch -> rows (len() and batch slicing through ``loss``)
    loss: Callable[[Any, slice], torch.Tensor]  # (rows, batch slice) -> scalar loss
    validate: Callable[[], dict]  # -> metric means, higher is better for ``monitor``
    monitor: str
    fingerprint: str
    report: tuple = ()  # validation metrics written to the log and history
    also_resumes: tuple = ()  # older fingerprints of the same phase whose checkpoints are reused as well
    replay: bool = False  # on resume, re-derive the early-stopping state from the history under this rule

    @property
    def accepted(self) -> tuple:
        """Fingerprints whose checkpoints this phase resumes from."""
        return (self.fingerprint, *self.also_resumes)


@dataclass
class State:
    """Early-stopping state, saved with every checkpoint."""

    epoch: int = 0  # finished epochs
    best_score: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    done: bool = False
    history: list = field(default_factory=list)


class Trainer:
    """Fits ``model`` on ``data``; ``validate()`` returns validation metric means (higher is better).

    ``inputs`` names every cached input and config the weights depend on (knowledge vectors, a
    pre-trained retriever, the operative gin config); it enters the resume fingerprint."""

    def fit(self, model: torch.nn.Module, loss: Loss, data, make_batch: BatchMaker, validate: Callable[[], dict],
            run_dir: Path | None, seed: int, console: Console, inputs: dict | None = None) -> dict:
        raise NotImplementedError


TRAINERS = registry("trainers", Trainer)


def _weights_device(module: torch.nn.Module | None) -> str:
    """'cpu' or 'cuda': where ``module``'s weights live ('cpu' for none)."""
    param = None if module is None else next(module.parameters(), None)
    return "cpu" if param is None else param.device.type


class EpochTrainer(Trainer):
    """The loop's settings; subclasses turn their task into a ``Phase`` and call ``run``."""

    def __init__(self, epochs: int = 20, batch_size: int = 32, lr: float = 1e-4, weight_decay: float = 0.01,
                 patience: int = 3, samples_per_epoch: int | None = None, grad_clip: float | None = 5.0,
                 precision: str = "float32", lr_by_prefix: dict | None = None, lr_decay: float | None = None,
                 lr_decay_patience: int = 2):
        if epochs < 1 or batch_size < 1 or patience < 1:
            raise ValueError(f"{type(self).__name__}: epochs, batch_size and patience must be >= 1 "
                             f"(got {epochs}, {batch_size}, {patience})")
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"{type(self).__name__}.precision must be 'float32' or 'bfloat16', not {precision!r}")
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.samples_per_epoch, self.grad_clip = patience, samples_per_epoch, grad_clip
        self.precision = precision
        # e.g. {'augmenter.': 1e-3, 'cand_in.': 1e-3}: parts new to a phase that starts from a trained
        # model (UR4Rec's joint phase) can learn faster than the weights it starts from
        self.lr_by_prefix = dict(lr_by_prefix or {})
        if lr_decay is not None and not (0 < lr_decay < 1 and lr_decay_patience >= 1):
            raise ValueError(f"{type(self).__name__}: lr_decay must be in (0, 1) and lr_decay_patience >= 1 "
                             f"(got {lr_decay}, {lr_decay_patience})")
        # a one-phase Base at a constant lr leaves what a lower lr would still gain to any method that
        # continues from it at a lower lr; the plateau decay gives Base that gain itself
        self.lr_decay, self.lr_decay_patience = lr_decay, lr_decay_patience

    def decays_after(self, bad_epochs: int) -> bool:
        """Plateau decay: every ``lr_decay_patience``-th epoch in a row without a better validation score.

        A function of the early-stopping counter alone, so a resumed or replayed run decays where a straight
        run did (the decayed lr itself travels in the optimizer's state)."""
        return self.lr_decay is not None and bad_epochs > 0 and bad_epochs % self.lr_decay_patience == 0

    def autocast(self, module: torch.nn.Module | None = None):
        """bf16 autocast of forward passes ('bfloat16'; weights and optimizer stay fp32), else a no-op.

        It autocasts the device ``module``'s weights live on: a machine with a GPU can still train on the
        CPU, and an autocast of the other device would silently leave every op in fp32."""
        return torch.autocast(_weights_device(module), dtype=torch.bfloat16, enabled=self.precision == "bfloat16")

    def _warn_if_bf16_is_emulated(self, phase: "Phase", console: Console) -> None:
        if self.precision == "bfloat16" and _weights_device(phase.module) == "cpu" and not native_bf16():
            console.log(f"[yellow]{phase.name}: precision 'bfloat16' on a CPU without bf16 hardware (no AVX-512 BF16 "
                        "or AMX): torch emulates it, so this runs slower than 'float32' would[/yellow]")

    def params(self) -> dict:
        p = dict(vars(self))
        if not p["lr_by_prefix"]:  # unset: the same fingerprints (and Base keys) as before the option existed
            del p["lr_by_prefix"]
        if p["lr_decay"] is None:  # likewise
            del p["lr_decay"], p["lr_decay_patience"]
        return p

    def trajectory_params(self) -> dict:
        """``params()`` without the stopping rule: what each epoch does."""
        return {k: v for k, v in self.params().items() if k not in STOPPING_RULE}

    def param_groups(self, phase: "Phase") -> list:
        """AdamW parameter groups: ``lr_by_prefix`` maps the start of a parameter name, or of any module path
        inside it ('cand_in.' matches 'backbone.encoder.cand_in.proj.weight'), to a learning rate (the first
        match wins); every other parameter gets ``lr``."""
        if not self.lr_by_prefix:
            return phase.parameters
        wanted = {id(p) for p in phase.parameters}
        groups: dict[float, list] = {}
        used = set()
        for name, param in phase.module.named_parameters():
            if id(param) not in wanted:
                continue
            prefix = next((k for k in self.lr_by_prefix if f'.{k}' in f'.{name}'), None)  # a path component
            used.add(prefix)
            groups.setdefault(self.lr if prefix is None else float(self.lr_by_prefix[prefix]), []).append(param)
        unused = [k for k in self.lr_by_prefix if k not in used]
        if unused:
            names = sorted({n.split(".")[0] for n, _ in phase.module.named_parameters()})
            raise ValueError(f"{type(self).__name__}.lr_by_prefix: no trainable parameter of the {phase.name} phase "
                             f"has a path component starting with {unused} (top-level names: {names})")
        return [{"params": ps, "lr": lr} for lr, ps in groups.items()]

    def run(self, phase: Phase, run_dir: Path | None, seed: int, console: Console) -> dict:
        optimizer = torch.optim.AdamW(self.param_groups(phase), lr=self.lr, weight_decay=self.weight_decay)
        state = self._resume(phase, optimizer, run_dir, console)
        self._warn_if_bf16_is_emulated(phase, console)
        best_weights = None
        while not state.done and state.epoch < self.epochs:
            epoch = state.epoch
            train = self._train_epoch(phase, optimizer, seed, epoch, console)
            with self.autocast(phase.module):
                metrics = phase.validate()
            score = metrics[phase.monitor]
            improved = score > state.best_score
            if improved:
                state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
                best_weights = {k: v.detach().clone() for k, v in phase.module.state_dict().items()}
                self._save(run_dir, "best.pt", {"fingerprint": phase.fingerprint, "model": best_weights})
            else:
                state.bad_epochs += 1
            lr = optimizer.param_groups[0]["lr"]
            state.epoch = epoch + 1
            state.done = state.bad_epochs >= self.patience or state.epoch >= self.epochs
            if self.decays_after(state.bad_epochs):  # a finished run too: a longer patience continues from here
                for group in optimizer.param_groups:
                    group["lr"] *= self.lr_decay
                if not state.done:
                    console.log(f"{phase.name}: {state.bad_epochs} epochs without a better {phase.monitor}; "
                                f"lr x {self.lr_decay} -> {optimizer.param_groups[0]['lr']:.3g}")
            shown = {k: v for k, v in metrics.items() if k in (phase.report or (phase.monitor,))}
            state.history.append({"epoch": epoch, **train, **({"lr": lr} if self.lr_decay else {}),
                                  **{f"valid {k}": v for k, v in shown.items()}})
            self._save(run_dir, "last.pt", {"fingerprint": phase.fingerprint, "model": phase.module.state_dict(),
                                            "optimizer": optimizer.state_dict(), "state": vars(state)})
            valid = " ".join(f"{k} {v:.4f}" for k, v in shown.items())
            console.log(f"{phase.name} epoch {epoch + 1}/{self.epochs}: loss {train['loss']:.4f}, "
                        f"{train['samples/s']:.0f} samples/s ({train['seconds']:.1f}s), valid {valid}"
                        + ("  [best]" if improved else f"  (best {state.best_score:.4f} @ epoch {state.best_epoch + 1})"))
        self._restore_best(phase, run_dir, best_weights)
        stopped = "early stopping" if state.bad_epochs >= self.patience else "epoch cap"
        summary = {"trainer": stable(self.params()), "fingerprint": phase.fingerprint, "stopped_by": stopped, **vars(state)}
        if run_dir is not None:
            (run_dir / "training.json").write_text(json.dumps(summary, indent=2))
        console.log(f"{phase.name}: best validation {phase.monitor} {state.best_score:.4f} at epoch "
                    f"{state.best_epoch + 1} of {state.epoch} (stopped by {stopped})")
        return summary

    def _train_epoch(self, phase: Phase, optimizer, seed: int, epoch: int, console: Console) -> dict:
        torch.manual_seed(int(np.random.default_rng([seed, epoch, 1]).integers(2**31)))  # dropout per epoch
        rows = phase.rows(epoch)
        phase.module.train()
        total, steps, start = 0.0, 0, time.perf_counter()
        n_batches = (len(rows) + self.batch_size - 1) // self.batch_size
        last_log = start
        with Progress(TextColumn(f"{phase.name} epoch {epoch + 1}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), console=console, transient=True,
                      disable=not console.is_terminal) as progress:  # no blank lines in logs
            task = progress.add_task("train", total=n_batches, loss="-")
            for b in range(n_batches):
                with self.autocast(phase.module):
                    value = phase.loss(rows, slice(b * self.batch_size, (b + 1) * self.batch_size))
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(phase.parameters, self.grad_clip)
                optimizer.step()
                total += float(value.detach())
                steps += 1
                if b % 20 == 0 or b == n_batches - 1:
                    progress.update(task, completed=b + 1, loss=f"{total / steps:.4f}")
                now = time.perf_counter()
                if not console.is_terminal and now - last_log > LOG_EVERY_S and b + 1 < n_batches:
                    last_log, elapsed = now, now - start
                    console.log(f"{phase.name} epoch {epoch + 1}: batch {b + 1}/{n_batches}, loss {total / steps:.4f}, "
                                f"ETA {elapsed / (b + 1) * (n_batches - b - 1):.0f}s")
        seconds = time.perf_counter() - start
        return {"loss": total / max(steps, 1), "samples": len(rows), "seconds": seconds,
                "samples/s": len(rows) / max(seconds, 1e-9)}

    # ---- checkpoints ---------------------------------------------------------------------
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

    def _resume(self, phase: Phase, optimizer, run_dir, console) -> State:
        saved = self._load(run_dir, "last.pt")
        if saved is None:
            return State()
        if saved["fingerprint"] not in phase.accepted:
            console.log(f"[yellow]{run_dir / 'last.pt'} belongs to another configuration; {phase.name} starts from scratch[/yellow]")
            return State()
        state = State(**saved["state"])
        if phase.replay:
            state = replay(state.history, f"valid {phase.monitor}", self.patience, self.epochs)
            if state is None:
                console.log(f"[yellow]{run_dir / 'last.pt'}: epochs={self.epochs}, patience={self.patience} would have "
                            f"stopped this run sooner; {phase.name} starts from scratch[/yellow]")
                return State()
        phase.module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        console.log(f"resuming {phase.name} from {run_dir / 'last.pt'}: {state.epoch} epoch(s) done"
                    + (", finished" if state.done else ""))
        return state

    def _restore_best(self, phase: Phase, run_dir, best_weights) -> None:
        if best_weights is None:
            saved = self._load(run_dir, "best.pt")
            best_weights = saved["model"] if saved and saved["fingerprint"] in phase.accepted else None
        if best_weights is not None:
            phase.module.load_state_dict(best_weights)


def replay(history: list, key: str, patience: int, epochs: int) -> State | None:
    """The early-stopping state these epochs give under (patience, epochs), the same rule as ``run``; None when
    the rule would have stopped before the last of them, or an epoch lacks the monitored ``key``."""
    state = State()
    for entry in history:
        if state.done or key not in entry:
            return None
        score = entry[key]
        if score > state.best_score:
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
        else:
            state.bad_epochs += 1
        state.epoch += 1
        state.done = state.bad_epochs >= patience or state.epoch >= epochs
    state.history = list(history)
    return state


def without_stopping_rule(config: str) -> str:
    """The operative gin config without the lines that bind a supervised trainer's epochs or patience, and without
    the macros only those lines use."""
    lines = config.splitlines()
    dropped = [m for m in (STOPPING_LINE.match(line) for line in lines) if m]
    kept = [line for line in lines if not STOPPING_LINE.match(line)]
    rest = "\n".join(kept)
    only_theirs = {m.group(1) for m in dropped if m.group(1) and f"%{m.group(1)}" not in rest}
    return "\n".join(line for line in kept if line.split(" = ", 1)[0] not in only_theirs)


@TRAINERS.register("Supervised")
class Supervised(EpochTrainer):
    """AdamW on Rec-Loss, early stopping on validation ``monitor``, best checkpoint kept, resumable per epoch."""

    def __init__(self, epochs: int = 20, batch_size: int = 32, lr: float = 1e-4, weight_decay: float = 0.01,
                 patience: int = 3, samples_per_epoch: int | None = None, n_candidates: int | None = None,
                 monitor: str = "NDCG@10", grad_clip: float | None = 5.0, precision: str = "float32",
                 lr_by_prefix: dict | None = None, lr_decay: float | None = None, lr_decay_patience: int = 2):
        super().__init__(epochs, batch_size, lr, weight_decay, patience, samples_per_epoch, grad_clip, precision,
                         lr_by_prefix, lr_decay, lr_decay_patience)
        self.n_candidates, self.monitor = n_candidates, monitor

    def model_fingerprint(self, model, loss, data, seed, extra: dict | None = None, trainer: dict | None = None) -> str:
        """Everything the trained weights depend on: model, loss, data, trainer, seed, plus ``extra`` inputs."""
        return fingerprint({"model": str(model), "loss": [type(loss).__name__, vars(loss)], "data": data.key,
                            "trainer": self.params() if trainer is None else trainer, "seed": seed, **(extra or {})})

    def trajectory_fingerprint(self, model, loss, data, seed, extra: dict | None = None) -> str:
        """``model_fingerprint`` without the stopping rule, in the trainer and in ``extra['config']``: the resume
        key of a run whose epochs are the same whatever its patience and epoch cap."""
        extra = dict(extra or {})
        if "config" in extra:
            extra["config"] = without_stopping_rule(extra["config"])
        return self.model_fingerprint(model, loss, data, seed, extra, trainer=self.trajectory_params())

    def fit(self, model, loss, data, make_batch, validate, run_dir, seed, console, inputs=None) -> dict:
        training = TrainingRows(data)
        n_cand = self.n_candidates or data.n_candidates

        def batch_loss(rows, sl):
            batch = make_batch(rows.users[sl], rows.pos[sl], rows.candidates[sl], rows.label[sl])
            return loss(model(batch), batch.label, batch.cand_mask)

        phase = Phase("train", model, list(model.parameters()),
                      lambda epoch: training.epoch(seed, epoch, n_cand, self.samples_per_epoch),
                      batch_loss, validate, self.monitor, self.trajectory_fingerprint(model, loss, data, seed, inputs),
                      report=("NDCG@10", "MAP@10"), replay=True,
                      # checkpoints written before the stopping rule left the resume key (same config, same rule)
                      also_resumes=(self.model_fingerprint(model, loss, data, seed, inputs),))
        return self.run(phase, run_dir, seed, console)
