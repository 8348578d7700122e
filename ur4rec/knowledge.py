"""The contract between text knowledge (LLM texts, encoders) and the models that consume it.

A knowledge source turns a prepared dataset into one vector per user (the encoded preference text
e_u of equation 5) and one per item (the encoded knowledge text e_i). Augmenters (+BERT, +LLM, KAR)
and the UR4Rec retriever read only this, so any LLM/encoder/prompt combination plugs in unchanged.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import gin
import numpy as np

from ur4rec.generation.prompts import DEFAULT_LAYOUT
from ur4rec.registry import registry


@dataclass
class KnowledgeVectors:
    user: np.ndarray  # [n_users, D] float32, row = user index of the prepared dataset
    item: np.ndarray  # [n_items + 1, D] float32, row = item index; row 0 (padding) is zeros
    description: str  # which texts, prompts, LLM and encoder made these (reported beside results)
    # user_cutoff[u] = how many of u's earliest interactions the user vector may reflect (its text was
    # written from positions < cutoff); None = the user vector reflects no interaction at all
    user_cutoff: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.item.shape[1])

    @property
    def key(self) -> str:
        """sha256 of the vectors' bytes and description: names exactly these vectors in run fingerprints."""
        h = hashlib.sha256(self.description.encode())
        for part in (self.user, self.item):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def check(self, n_users: int, n_items: int) -> None:
        if self.user.shape[0] != n_users or self.item.shape[0] != n_items + 1:
            raise ValueError(f"knowledge vectors cover {self.user.shape[0]} users / {self.item.shape[0] - 1} items, "
                             f"dataset has {n_users} / {n_items}")
        if self.user.shape[1] != self.item.shape[1]:
            raise ValueError(f"user and item vectors differ in width: {self.user.shape[1]} vs {self.item.shape[1]}")


class KnowledgeSource:
    """Produces KnowledgeVectors for a prepared dataset (cached by the implementation)."""

    def vectors(self, data, console=None, progress: bool = True) -> KnowledgeVectors:
        raise NotImplementedError


KNOWLEDGE = registry("knowledge", KnowledgeSource)


@KNOWLEDGE.register("Random")
class RandomKnowledge(KnowledgeSource):
    """Seeded Gaussian vectors of width ``dim``: a control that carries no information (and a test double)."""

    def __init__(self, dim: int = 32, seed: int = 0):
        self.dim, self.seed = dim, seed

    def vectors(self, data, console=None, progress: bool = True) -> KnowledgeVectors:
        rng = np.random.default_rng(self.seed)
        item = rng.standard_normal((data.n_items + 1, self.dim)).astype(np.float32)
        item[0] = 0.0
        user = rng.standard_normal((data.n_users, self.dim)).astype(np.float32)
        return KnowledgeVectors(user, item, f"random Gaussian vectors, dim {self.dim}, seed {self.seed}")


@KNOWLEDGE.register("Oracle")
class OracleKnowledge(KnowledgeSource):
    """A diagnostic that leaks on purpose, never a result: seeded random unit vectors per item, and per user
    the normalised mean of the vectors of every item in the user's whole sequence (training, validation and
    test targets included), so e_u singles out each target among its unseen candidates. A model that gains
    nothing from it cannot use knowledge of this form; what it gains bounds what better knowledge could give."""

    def __init__(self, dim: int = 384, seed: int = 0):
        self.dim, self.seed = dim, seed

    def vectors(self, data, console=None, progress: bool = True) -> KnowledgeVectors:
        from ur4rec.index.faiss_index import unit_rows

        rng = np.random.default_rng(self.seed)
        item = unit_rows(rng.standard_normal((data.n_items + 1, self.dim)).astype(np.float32))
        item[0] = 0.0
        user = unit_rows(np.stack([item[data.user_items(u)].mean(0) for u in range(data.n_users)]))
        return KnowledgeVectors(user, item, f"ORACLE: user vector = mean of all its items' random vectors (leaks "
                                            f"every target), dim {self.dim}, seed {self.seed}")


# ---- text knowledge: metadata text (+BERT, "w/o LLM") and LLM-generated text (+LLM, UR4Rec) -----------
def text_store(readonly: bool = False):
    """The shared LMDB store of generated texts (keys are content hashes, so one store serves every run)."""
    from ur4rec.paths import cache_dir
    from ur4rec.store.lmdb_store import TextStore

    return TextStore(cache_dir("stores") / "texts", readonly=readonly)


def _default_encoder(encoder):
    if encoder is not None:
        return encoder
    from ur4rec.encoding.encoders import HFEncoder

    return HFEncoder()


class TextKnowledge(KnowledgeSource):
    """Shared by the text sources: encode one text per user and per item, then cache the vectors."""

    def __init__(self, encoder=None):
        self.encoder = encoder
        self._memo: dict = {}

    def texts(self, data, console=None, progress: bool = True) -> tuple[list[str], list[str]]:
        """(user texts [n_users], item texts [n_items] for items 1..n_items)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def vectors(self, data, console=None, progress: bool = True) -> KnowledgeVectors:
        memo_key = (data.key, data.name)
        if memo_key in self._memo:
            return self._memo[memo_key]
        from ur4rec.encoding.runner import encode_texts
        from ur4rec.progress import current_console

        console = console if console is not None else current_console()
        self.encoder = _default_encoder(self.encoder)
        users, items = self.texts(data, console=console, progress=progress)
        vecs, _ = encode_texts(users + items, self.encoder, console=console, progress=progress)
        item = np.zeros((data.n_items + 1, vecs.shape[1]), dtype=np.float32)
        item[1:] = vecs[len(users):]
        kv = KnowledgeVectors(vecs[:len(users)].copy(), item, f"{self.describe()}; encoder {self.encoder.describe()}",
                              user_cutoff=np.asarray(data.n_train, dtype=np.int64).copy())  # texts list training items
        kv.check(data.n_users, data.n_items)
        self._memo[memo_key] = kv
        return kv


@KNOWLEDGE.register("Metadata")
class MetadataKnowledge(TextKnowledge):
    """Raw metadata text through a frozen encoder: the paper's "+BERT" input and the "w/o LLM" ablation."""

    def __init__(self, encoder=None, n_history: int = 10):
        super().__init__(encoder)
        self.n_history = n_history

    def describe(self) -> str:
        return f"metadata text (no LLM; user = profile + last {self.n_history} training items)"

    def texts(self, data, console=None, progress: bool = True):
        from ur4rec.generation.prompts import for_domain

        user_t, _ = for_domain(data.domain, self.n_history)
        users = [user_t.render(data, u).metadata for u in range(data.n_users)]
        items = [data.items[i].text() for i in range(1, data.n_items + 1)]
        return users, items


@KNOWLEDGE.register("LLM")
class LLMKnowledge(TextKnowledge):
    """LLM-generated preference (eq. 1-2) and item knowledge (eq. 3) texts, encoded by a frozen encoder (eq. 5).

    ``encode_text='answer'`` encodes the LLM's answer alone (the paper); ``'prompt+answer'`` prepends the
    prompt's data (the title / the history listing), as KAR does, so the vector keeps the item's identity
    even when a small LLM's answer drops it. Missing texts are generated (resumably) on first use.
    """

    def __init__(self, llm=None, encoder=None, user_prompt=None, item_prompt=None, n_history: int = 10,
                 user_max_new_tokens: int = 128, item_max_new_tokens: int = 96, encode_text: str = "answer",
                 layout: str | None = None):
        super().__init__(encoder)
        if encode_text not in ("answer", "prompt+answer"):
            raise ValueError(f"encode_text must be 'answer' or 'prompt+answer', not {encode_text!r}")
        self.llm, self.user_prompt, self.item_prompt = llm, user_prompt, item_prompt
        self.n_history, self.encode_text = n_history, encode_text
        self.layout = layout or DEFAULT_LAYOUT  # of the domain templates (user_prompt/item_prompt keep their own)
        self.user_max_new_tokens, self.item_max_new_tokens = user_max_new_tokens, item_max_new_tokens

    def _llm(self):
        if self.llm is None:
            from ur4rec.generation.lean import LeanLlama  # the default engine (gin/llms/smollm2.gin)

            self.llm = LeanLlama()
        return self.llm

    def templates(self, data):
        from ur4rec.generation.prompts import for_domain

        user_t, item_t = for_domain(data.domain, self.n_history, self.layout)
        return self.user_prompt or user_t, self.item_prompt or item_t

    def jobs(self, data):
        """(user jobs [n_users], item jobs [n_items]) with their cache keys."""
        from ur4rec.generation.runner import make_jobs

        user_t, item_t = self.templates(data)
        llm = self._llm()
        return (make_jobs(user_t, data, range(data.n_users), llm, self.user_max_new_tokens, "user"),
                make_jobs(item_t, data, range(1, data.n_items + 1), llm, self.item_max_new_tokens, "item"))

    def generate(self, data, console=None, progress: bool = True, log=None):
        """Generate every missing text (items first: they are shorter, so partial runs are useful sooner)."""
        from ur4rec.generation.runner import run_generation

        user_jobs, item_jobs = self.jobs(data)
        store = text_store()
        items = run_generation(item_jobs, self._llm(), store, console=console, progress=progress,
                               description="item knowledge", log=log)
        users = run_generation(user_jobs, self._llm(), store, console=console, progress=progress,
                               description="user preferences", log=log)
        return {"items": items, "users": users}

    def describe(self) -> str:
        u = self.user_prompt.cache_id if self.user_prompt else f"domain default (n_history={self.n_history}, {self.layout})"
        i = self.item_prompt.cache_id if self.item_prompt else f"domain default ({self.layout})"
        return (f"LLM text ({self._llm().model_id}, {self._llm().params()}, user prompt {u}, item prompt {i}, "
                f"max_new_tokens {self.user_max_new_tokens}/{self.item_max_new_tokens}, encode {self.encode_text})")

    def records(self, data, console=None, progress: bool = True):
        from ur4rec.generation.runner import read_texts

        user_jobs, item_jobs = self.jobs(data)
        store = text_store()
        if not all(store.contains([j.key for j in user_jobs + item_jobs])):
            self.generate(data, console=console, progress=progress)
        return read_texts(user_jobs, store), read_texts(item_jobs, store)

    def texts(self, data, console=None, progress: bool = True):
        users, items = self.records(data, console=console, progress=progress)

        def pick(rec):
            return rec["text"] if self.encode_text == "answer" else f"{rec['metadata']}\n{rec['text']}"

        return [pick(r) for r in users], [pick(r) for r in items]


@gin.configurable
def knowledge_source(source: KnowledgeSource = gin.REQUIRED) -> KnowledgeSource:
    """The knowledge source that ``ur4rec generate`` / ``encode`` / ``inspect match`` work on."""
    return source
