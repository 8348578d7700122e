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
