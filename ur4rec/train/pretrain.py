"""Retriever pre-training (paper section 3.2, Algorithm 1 lines 9-18): L = L_CL + alpha * L_PIM.

Each training target gives one positive and ``n_negatives`` (M, paper: 10) items the user never
interacted with; h_i comes from the trained Base backbone, frozen here (only the retriever, its
item projection and the PIM head learn). ``contrastive = None`` is the "w/o CL" row, ``matching =
None`` the "w/o PIM" row; ``reset`` lists parameters re-initialised after pre-training
(``['proxies']``: the "proxy random" row).

``negatives = 'nearest'`` replaces the uniform negatives by hard ones: the items whose knowledge
vectors are nearest the target's in a FAISS index, skipping anything the user interacted with
(uniform draws fill a row when too few are left). Off by default.

Validation: the first validation target of every user (at most ``valid_samples``) with the first M
non-target items of its fixed candidate list; the monitored metric is minus the validation loss.
Also reported: the accuracy of each objective at putting the positive first.

The result is a cached artifact under ``<cache>/retrievers/<key>/`` where the key covers the data,
the knowledge vectors, the Base checkpoint, the augmenter's structure and this pre-training's
settings and seed; another run with the same key reuses it, a killed one resumes per epoch.
``fit`` returns that key with a digest of the pre-trained weights appended, which the joint phase's
resume fingerprint includes.
"""
from __future__ import annotations

import numpy as np
import torch
from rich.console import Console

from ur4rec.locks import LOCK_NAME, exclusive
from ur4rec.losses.base import Loss
from ur4rec.registry import registry
from ur4rec.train.batches import BatchMaker, TrainingRows, TrainRows
from ur4rec.train.trainer import EpochTrainer, Phase, fingerprint, gin_bindings, weights_digest


class Pretrainer:
    """Pre-trains an augmenter's retriever against a frozen backbone; returns the artifact key."""

    def fit(self, augmenter, backbone, data, make_batch: BatchMaker, seed: int, console: Console,
            base_key: str) -> str:
        raise NotImplementedError


PRETRAINERS = registry("pretrainers", Pretrainer)


def fixed_validation_rows(data, n_negatives: int, cap: int | None) -> TrainRows:
    """First validation target per user, target + the first M other candidates of its fixed list."""
    samples = data.samples("valid")
    _, first = np.unique(samples.user, return_index=True)
    first = np.sort(first)[:cap] if cap else np.sort(first)
    s = samples.subset(first)
    others = np.array([np.delete(row, lab)[:n_negatives] for row, lab in zip(s.candidates, s.label)])
    cand = np.concatenate([s.candidates[np.arange(len(s)), s.label][:, None], others], axis=1)
    return TrainRows(s.user, s.pos, cand, np.zeros(len(s), dtype=np.int64))


@PRETRAINERS.register("Retriever")
class RetrieverPretraining(EpochTrainer, Pretrainer):
    """InfoNCE (max-over-proxies cosine) + alpha * preference-item matching BCE, M sampled negatives."""

    def __init__(self, contrastive: Loss | None = None, matching: Loss | None = None, alpha: float = 1.0,
                 n_negatives: int = 10, epochs: int = 10, batch_size: int = 32, lr: float = 1e-4,
                 weight_decay: float = 0.01, patience: int = 2, samples_per_epoch: int | None = None,
                 valid_samples: int | None = 2000, reset: tuple = (), grad_clip: float | None = 5.0,
                 precision: str = "float32", negatives: str = "random"):
        super().__init__(epochs, batch_size, lr, weight_decay, patience, samples_per_epoch, grad_clip, precision)
        if contrastive is None and matching is None:
            raise ValueError("pretrainers.Retriever needs at least one objective (contrastive or matching); "
                             "for the 'w/o pretrain' row set rankers.Neural.pretrain = None instead")
        if n_negatives < 1:
            raise ValueError(f"pretrainers.Retriever.n_negatives must be >= 1, not {n_negatives}")
        if negatives not in ("random", "nearest"):
            raise ValueError(f"pretrainers.Retriever.negatives must be 'random' or 'nearest', not {negatives!r}")
        self.contrastive, self.matching, self.alpha, self.negatives = contrastive, matching, alpha, negatives
        self.n_negatives, self.valid_samples, self.reset = n_negatives, valid_samples, tuple(reset)

    def artifact_key(self, augmenter, data, base_key: str, seed: int) -> str:
        return fingerprint({"augmenter": str(augmenter), "description": augmenter.description,
                            "vectors": augmenter.cache_key(), "data": data.key,
                            "base": base_key, "seed": seed,
                            "pretrain": {k: v for k, v in self.params().items() if k != "reset"},  # applied after
                            "augmenter_config": gin_bindings(type(augmenter)),
                            "retriever_config": gin_bindings(type(augmenter.retriever))})

    def _scores(self, augmenter, backbone, batch) -> dict:
        with torch.no_grad():
            h = backbone.embed_items(batch.cand, batch.cand_attrs)  # [B, 1+M, item_dim], frozen Base
        out = {}
        if self.contrastive is not None:
            out["CL"] = (self.contrastive, 1.0, augmenter.contrastive_scores(batch, h))
        if self.matching is not None:
            out["PIM"] = (self.matching, self.alpha, augmenter.matching_scores(batch, h))
        return out

    def _loss(self, augmenter, backbone, batch) -> torch.Tensor:
        return sum(w * fn(s, batch.label, batch.cand_mask) for fn, w, s in self._scores(augmenter, backbone, batch).values())

    @torch.no_grad()
    def _validate(self, augmenter, backbone, make_batch, rows: TrainRows) -> dict:
        augmenter.eval()
        total, hits, n = 0.0, {}, 0
        for s in range(0, len(rows), 256):
            sl = slice(s, s + 256)
            batch = make_batch(rows.users[sl], rows.pos[sl], rows.candidates[sl], rows.label[sl])
            scores = self._scores(augmenter, backbone, batch)
            total += float(sum(w * fn(sc, batch.label, batch.cand_mask) for fn, w, sc in scores.values())) * len(batch.user)
            for name, (_, _, sc) in scores.items():
                hits[name] = hits.get(name, 0) + int((sc.argmax(1) == batch.label).sum())
            n += len(batch.user)
        augmenter.train()
        return {"neg_loss": -total / max(n, 1), "loss": total / max(n, 1), **{f"{k} acc@1": v / max(n, 1) for k, v in hits.items()}}

    def fit(self, augmenter, backbone, data, make_batch, seed, console, base_key) -> str:
        from ur4rec.paths import cache_dir

        if augmenter.retriever is None:
            raise ValueError("pre-training needs a retriever: this augmenter has none (w/o Retr); "
                             "set rankers.Neural.pretrain = None")
        key = self.artifact_key(augmenter, data, base_key, seed)
        folder = cache_dir("retrievers") / key
        backbone.eval()
        for p in backbone.parameters():
            p.requires_grad_(False)
        training = TrainingRows(data)
        valid_rows = fixed_validation_rows(data, self.n_negatives, self.valid_samples)

        def batch_loss(rows, sl):
            batch = make_batch(rows.users[sl], rows.pos[sl], rows.candidates[sl], rows.label[sl])
            return self._loss(augmenter, backbone, batch)

        report = ("loss",) + tuple(f"{k} acc@1" for k, o in (("CL", self.contrastive), ("PIM", self.matching)) if o)
        nearest = NearestNegatives(training, augmenter.item_vectors.cpu().numpy()) if self.negatives == "nearest" else None

        def epoch_rows(epoch):
            rows = training.epoch(seed, epoch, 1 + self.n_negatives, self.samples_per_epoch)
            return rows if nearest is None else nearest.replace(rows, np.random.default_rng([seed, epoch, 2]))

        phase = Phase("pretrain", augmenter, [p for p in augmenter.parameters() if p.requires_grad], epoch_rows,
                      batch_loss, lambda: self._validate(augmenter, backbone, make_batch, valid_rows),
                      "neg_loss", key, report=report)
        console.log(f"pre-training the retriever ({folder}): M={self.n_negatives} {self.negatives} negatives, "
                    f"objectives {'+'.join(n for n, o in (('CL', self.contrastive), ('PIM', self.matching)) if o)}, alpha {self.alpha}")
        # two runs sharing this key (e.g. the same seed with another joint lr) would race on its last.pt: the second
        # waits, then resumes the first one's finished pre-training
        with exclusive(folder / LOCK_NAME, f"the pre-trained retriever {folder}", wait=True, log=console.log):
            self.run(phase, folder, seed, console)
        for p in backbone.parameters():
            p.requires_grad_(True)
        self._reset(augmenter, seed)
        # keyed on the weights too (as the Base checkpoint is on its bytes): a cache entry pre-trained again on
        # another machine or thread count has other weights under the same key, and a joint phase started from
        # the old ones must not resume on them
        return f"{key}-{weights_digest(augmenter)}"

    def _reset(self, augmenter, seed: int) -> None:
        for name in self.reset:
            if name != "proxies":
                raise ValueError(f"pretrainers.Retriever.reset knows only 'proxies', not {name!r}")
            augmenter.retriever.reset_proxies(torch.Generator().manual_seed(seed + 7919))


class NearestNegatives:
    """Hard negatives: the items nearest each target by knowledge vector (FAISS), never the user's own items."""

    def __init__(self, training: TrainingRows, item_vectors: np.ndarray, depth: int = 64):
        from ur4rec.index.faiss_index import ItemIndex

        self.sampler = training.sampler
        _, self.neighbours = ItemIndex(item_vectors).search(item_vectors[1:], depth + 1)  # [I, depth+1], row = item-1

    def replace(self, rows: TrainRows, rng: np.random.Generator) -> TrainRows:
        m = rows.candidates.shape[1] - 1
        targets = rows.candidates[np.arange(len(rows)), rows.label].astype(np.int64)
        near = self.neighbours[targets - 1]  # [S, depth+1], nearest first (the target itself among them)
        users = rows.users.astype(np.int64)
        usable = ~self.sampler.seen(users, near) & (near != targets[:, None])
        fallback = self.sampler.negatives(rng, users, m)  # uniform, for rows with too few usable neighbours
        negs = np.empty((len(rows), m), dtype=np.int64)
        for j in range(len(rows)):
            hard = near[j][usable[j]][:m].tolist()
            taken = set(hard)
            negs[j] = hard + [int(x) for x in fallback[j] if x not in taken][:m - len(hard)]
        cand = np.concatenate([targets[:, None], negs], axis=1)
        return TrainRows(rows.users, rows.pos, cand.astype(np.int32), np.zeros(len(rows), dtype=np.int64))
