"""Rich views for ``ur4rec inspect match``: the matching-check table and one user's nearest items."""
from __future__ import annotations

import numpy as np

from ur4rec.errors import UserError
from ur4rec.index.faiss_index import ItemIndex, matching_check


def match_table(data, kv, split: str = "valid", cutoffs=(10, 50)):
    from rich.table import Table

    res = matching_check(data, kv.user, kv.item, split=split, cutoffs=cutoffs)
    table = Table(title=f"preference-item matching on {data.name} {split} ({res.n_samples} samples, "
                        f"{res.n_items} items ranked by cosine(e_u, e_i))", header_style="bold")
    for col in ("metric", "e_u -> items", "random floor", "x floor"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, value, floor, ratio in res.rows():
        table.add_row(name, f"{value:.4f}", f"{floor:.4f}", f"{ratio:.2f}")
    table.caption = kv.description
    return table


def _user_index(data, user: str) -> int:
    hits = np.flatnonzero(data.user_tokens.astype(str) == str(user))
    if not len(hits):
        raise UserError(f"no user {user!r} in {data.name} (user ids look like {', '.join(map(str, data.user_tokens[:5]))})")
    return int(hits[0])


def _clip(text: str, n: int = 600) -> str:
    return text if len(text) <= n else text[:n] + " …"


def match_panels(data, kv, source, user: str, top: int = 5) -> list:
    """Panels: the user's preference text, then the ``top`` items nearest to e_u with their knowledge text."""
    from rich.panel import Panel
    from rich.text import Text

    u = _user_index(data, user)
    user_texts, item_texts = source.texts(data, progress=False)
    seq = data.user_items(u)
    train = set(seq[:int(data.n_train[u])].tolist())
    valid_targets = set(seq[int(data.n_train[u]):int(data.n_train[u] + data.n_valid[u])].tolist())
    scores, ids = ItemIndex(kv.item).search(kv.user[u], top)
    panels = [Panel(Text(_clip(user_texts[u], 1500)), title=f"user {user}: preference text", border_style="cyan")]
    for rank, (item, score) in enumerate(zip(ids[0], scores[0]), start=1):
        tag = " [validation target]" if item in valid_targets else " [in training history]" if item in train else ""
        body = Text(_clip(item_texts[item - 1]))
        panels.append(Panel(body, title=f"#{rank}  {data.items[item].text()}  (cosine {score:.3f}){tag}",
                            border_style="green" if item in valid_targets else "white"))
    return panels


# ---- the retriever's own matching check (UR4Rec runs) -----------------------------------------------
def retriever_match(data, augmenter, backbone, make_batch, split: str = "valid", cutoffs=(10, 50),
                    batch_size: int = 256) -> dict:
    """Recall/NDCG@N of each ``split`` target among all items: FAISS over the retriever's item outputs
    (eq. 7) searched with each proxy output of Retriever(P, Z) (eq. 6); an item's score is its best
    proxy's cosine (the sim() of L_CL)."""
    import torch

    from ur4rec.index.faiss_index import ItemIndex

    augmenter.eval()
    ids = torch.arange(1, data.n_items + 1)
    attrs = torch.from_numpy(data.item_attrs[1:].astype(np.int64))
    with torch.no_grad():
        h = augmenter.query(ids, backbone.embed_items(ids, attrs)).unsqueeze(0)  # [1, I, d]
        items = augmenter.retriever.items(h)[0].numpy()
    index = ItemIndex(np.concatenate([np.zeros((1, items.shape[1]), np.float32), items]))
    samples = data.samples(split)
    targets = data.seq_items[data.seq_offsets[samples.user] + samples.pos]
    depth = max(cutoffs)
    ranks = np.zeros(len(samples), dtype=np.int64)
    for start in range(0, len(samples), batch_size):
        sl = slice(start, start + batch_size)
        batch = make_batch(samples.user[sl], samples.pos[sl], samples.candidates[sl])
        with torch.no_grad():
            pref = augmenter.retriever.preference(*augmenter.z(batch))  # [B, K, d]
        b, k, d = pref.shape
        scores, found = index.search(pref.reshape(b * k, d).numpy(), depth)
        for j in range(b):
            ranks[start + j] = _merged_rank(scores[j * k:(j + 1) * k], found[j * k:(j + 1) * k], targets[start + j], depth)
    out = {}
    for n in cutoffs:
        hit = (ranks > 0) & (ranks <= n)
        out[f"Recall@{n}"] = float(hit.mean())
        out[f"NDCG@{n}"] = float(np.where(hit, 1 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0).mean())
    return out


def _merged_rank(scores: np.ndarray, found: np.ndarray, target: int, depth: int) -> int:
    """Rank of ``target`` when each item keeps its best score over the K proxies' top lists (0: not in top ``depth``)."""
    order = np.argsort(-scores.ravel(), kind="stable")
    seen, rank = set(), 0
    for item in found.ravel()[order]:
        if item in seen:
            continue
        seen.add(item)
        rank += 1
        if item == target:
            return rank
        if rank >= depth:
            break
    return 0


def configured_ur4rec_ranker():
    """The first rankers.Neural of ``experiment.rankers`` that pre-trains a retriever (None if there is none)."""
    import gin

    try:
        refs = gin.query_parameter("experiment.rankers")
    except ValueError:  # a generate/encode config: no experiment
        return None
    for ref in refs:
        if ref.selector.endswith("rankers.Neural"):
            ranker = ref.scoped_configurable_fn()
            if getattr(ranker, "pretrain", None) is not None:
                return ranker
    return None


def retriever_match_table(data, ranker, seed: int, console, split: str = "valid", cutoffs=(10, 50)):
    """Pre-trained vs randomly initialised retriever (same Base backbone) vs the random floor."""
    import copy

    import torch
    from rich.table import Table

    from ur4rec.index.faiss_index import random_floor
    from ur4rec.train.batches import BatchMaker

    torch.manual_seed(seed)
    ranker.model = ranker.build(data)
    ranker.make_batch = BatchMaker(data, ranker.history_len)
    base_key = ranker._start_from_base(data, None, seed, console)
    untrained = copy.deepcopy(ranker.model.augmenter)
    ranker.pretrain.fit(ranker.model.augmenter, ranker.model.backbone, data, ranker.make_batch, seed, console, base_key)
    rows = {"pre-trained retriever": retriever_match(data, ranker.model.augmenter, ranker.model.backbone,
                                                     ranker.make_batch, split, cutoffs),
            "randomly initialised retriever": retriever_match(data, untrained, ranker.model.backbone,
                                                              ranker.make_batch, split, cutoffs),
            "random floor": random_floor(data.n_items, cutoffs)}
    table = Table(title=f"retriever matching check on {data.name} {split} ({len(data.samples(split)):,} samples, "
                        f"{data.n_items:,} items; max over {ranker.model.augmenter.retriever.n_proxies} proxies)",
                  header_style="bold")
    table.add_column("retriever")
    names = list(rows["random floor"])
    for name in names:
        table.add_column(name, justify="right")
    for label, values in rows.items():
        table.add_row(label, *(f"{values[n]:.4f}" for n in names))
    table.caption = ranker.model.augmenter.description
    return table, rows
