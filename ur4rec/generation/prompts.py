"""Prompt templates f_u (eq. 1) and f_i (eq. 3) of section 3.1, one pair per domain.

A template renders a ``Prompt``: the instruction text sent to the LLM and the raw metadata text (the
paper's T(i) list) that the ``metadata`` backend returns for the "w/o LLM" row. Every piece of data
(titles, categories, user fields) goes through ``quote``: a JSON string literal, so quotes, newlines
and text such as ``Ignore previous instructions`` stay inside one quoted token and can never change
the prompt's structure. ``id`` and ``version`` of a template enter the cache key of every text it
produces: bump ``version`` whenever the wording changes.

``layout`` orders a prompt's parts. ``'shared-prefix'`` (the default) puts the whole instruction first and the
data last, so every prompt of a kind starts with the same tokens and an engine that shares a batch's common
prefix (``llms.Lean``) computes them once: the whole ML-100K generation takes 830 s instead of 968 s on two
cores, with the same +LLM validation NDCG@10 and matching check (issue 10,
benchmarks/results/generation_ml-100k.md). ``'paper'`` says the same in the paper's order (the data mid-sentence,
the instruction after it; every text made before 2026-11-29, gin/prompts/movies-paper.gin). A layout other than
``'paper'`` is part of the cache id, so the paper layout's texts keep their keys.

The user template sees only the user's *training* interactions (positions < n_train[u]), the most
recent ``n_history`` of them, so no validation or test item leaks into a prompt.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ur4rec.registry import registry


@dataclass(frozen=True)
class Prompt:
    text: str  # the instruction sent to the LLM (a single user turn)
    metadata: str  # the raw metadata the prompt was built from (what "w/o LLM" encodes)


def quote(value: str) -> str:
    """``value`` as a JSON string literal: data, never instructions (escapes quotes, newlines, controls)."""
    return json.dumps(str(value), ensure_ascii=False)


LAYOUTS = ("paper", "shared-prefix")
DEFAULT_LAYOUT = "shared-prefix"


def _year(year: str) -> str:
    return year if re.fullmatch(r"\d{4}", year or "") else (quote(year) if year else "")


class PromptTemplate:
    """Renders one prompt for a user (``kind = 'user'``) or an item (``kind = 'item'``)."""

    id = "base"
    version = 1
    kind = "item"
    domain = "generic"
    noun = "item"  # movie / game / book
    factors = ""

    def __init__(self, layout: str = DEFAULT_LAYOUT):
        if layout not in LAYOUTS:
            raise ValueError(f"{type(self).__name__}.layout must be one of {LAYOUTS}, not {layout!r}")
        self.layout = layout

    @property
    def cache_id(self) -> str:
        return f"{self.id}@v{self.version}{self.layout_suffix}"

    @property
    def layout_suffix(self) -> str:
        """'' for the paper layout (the texts made before layouts existed keep their keys), else '/<layout>'."""
        return "" if self.layout == "paper" else f"/{self.layout}"

    def item_line(self, item, rating: float | None = None) -> str:
        """One entry: quoted title, year, quoted categories, rating (the paper's T(i) plus stars).

        Compact on purpose: prompt length dominates a small CPU LLM's prefill time."""
        parts = [quote(item.title or "(untitled)")]
        year = _year(item.year)
        if year and year not in (item.title or ""):
            parts[0] += f" ({year})"
        if item.categories:
            parts.append(quote(", ".join(item.categories)))
        if item.brand:
            parts.append(f"by {quote(item.brand)}")
        if rating is not None and not math.isnan(rating):
            parts.append(f"{rating:g} star" + ("" if rating == 1 else "s"))
        return ", ".join(parts)

    def render(self, data, index: int) -> Prompt:
        raise NotImplementedError


PROMPTS = registry("prompts", PromptTemplate)


class UserPreferenceTemplate(PromptTemplate):
    """f_u: summarise a user's preferences from the most recent ``n_history`` training interactions."""

    kind = "user"
    history_noun = "watching movies"

    def __init__(self, n_history: int = 10, layout: str = DEFAULT_LAYOUT):
        super().__init__(layout)
        if n_history < 1:
            raise ValueError("n_history must be at least 1")
        self.n_history = n_history

    @property
    def cache_id(self) -> str:
        return f"{self.id}@v{self.version}/n{self.n_history}{self.layout_suffix}"

    def history(self, data, user: int) -> list[str]:
        n_train = int(data.n_train[user])
        start = int(data.seq_offsets[user])
        lo = max(0, n_train - self.n_history)
        items = data.seq_items[start + lo:start + n_train]
        ratings = data.seq_ratings[start + lo:start + n_train]
        return [self.item_line(data.items[int(i)], float(r)) for i, r in zip(items, ratings)]

    def profile(self, data, user: int) -> str:
        fields = data.users[user] if user < len(data.users) else {}
        shown = [f"{k.replace('_', ' ')} {quote(v)}" for k, v in sorted(fields.items())
                 if v and k in ("age", "gender", "occupation")]
        return f" ({', '.join(shown)})" if shown else ""

    def render(self, data, index: int) -> Prompt:
        lines = self.history(data, index)
        listing = "[" + "; ".join(lines) + "]"
        who = self.profile(data, index)
        task = ("Your task is to use some keywords to summarize the user's preference based on historical "
                "interactions.")
        ask = (f"Please analyze the user's preferences on {self.noun}s about factors like {self.factors}. Please give "
               f"an analysis that incorporates specific elements from the user's history of {self.noun} interactions "
               f"and other relevant factors.")
        if self.layout == "shared-prefix":
            text = (f"{task} {ask} The user{who} has this history of {self.history_noun} over time "
                    f"(title, year, categories, rating): {listing}.")
        else:
            text = (f"{task} Given a user{who} whose history of {self.history_noun} over time is listed below "
                    f"(title, year, categories, rating): {listing}. {ask}")
        return Prompt(text, f"user{who}: " + "; ".join(lines))


class ItemKnowledgeTemplate(PromptTemplate):
    """f_i: a detailed overview of one item from its title and basic metadata."""

    kind = "item"

    def render(self, data, index: int) -> Prompt:
        item = data.items[index]
        line = self.item_line(item)
        if self.layout == "shared-prefix":
            text = (f"Your task is to craft a detailed overview of a {self.noun}, covering aspects such as "
                    f"{self.factors}. The {self.noun}: {line}.")
            return Prompt(text, line)
        text = (f"Your task is to craft a detailed overview of the {self.noun} {line}, covering aspects such as "
                f"{self.factors}.")
        return Prompt(text, line)


@PROMPTS.register("MovieUser")
class MovieUser(UserPreferenceTemplate):
    """Movie user preference (ML-1M/ML-100K): genre, director, actors, period, country, mood, plot."""

    id, version, domain, noun = "movies-user", 1, "movies", "movie"
    history_noun = "watching movies"
    factors = "genre, director, actors, time period, country, mood and tone, and storyline"


@PROMPTS.register("MovieItem")
class MovieItem(ItemKnowledgeTemplate):
    """Movie knowledge: genre, director, main actors, release period, country, plot, mood, audience."""

    id, version, domain, noun = "movies-item", 1, "movies", "movie"
    factors = "genre, director, main actors, release period, country, plot, mood and tone, and target audience"


@PROMPTS.register("GameUser")
class GameUser(UserPreferenceTemplate):
    """Game user preference (Steam; the paper's quoted prompt): genre, developer, graphics, plot, price."""

    id, version, domain, noun = "games-user", 1, "games", "game"
    history_noun = "playing games"
    factors = "genre, development company, graphics quality, game plot and storyline, gameplay, and price"


@PROMPTS.register("GameItem")
class GameItem(ItemKnowledgeTemplate):
    """Game knowledge (the paper's quoted prompt): genre, publisher, graphics, price, plot."""

    id, version, domain, noun = "games-item", 1, "games", "game"
    factors = "genre, publish company, graphics quality, price, game plot, and gameplay"


@PROMPTS.register("BookUser")
class BookUser(UserPreferenceTemplate):
    """Book/product user preference (Amazon): genre, author, era, themes, style, audience."""

    id, version, domain, noun = "books-user", 1, "books", "book"
    history_noun = "reading books"
    factors = "genre, author, publication era, themes, writing style, and target audience"


@PROMPTS.register("BookItem")
class BookItem(ItemKnowledgeTemplate):
    """Book/product knowledge: genre, author, publisher, era, themes, style, audience."""

    id, version, domain, noun = "books-item", 1, "books", "book"
    factors = "genre, author, publisher, publication era, plot and themes, writing style, and target audience"


_BY_DOMAIN = {"movies": (MovieUser, MovieItem), "games": (GameUser, GameItem), "books": (BookUser, BookItem)}


def for_domain(domain: str, n_history: int = 10,
               layout: str = DEFAULT_LAYOUT) -> tuple[UserPreferenceTemplate, ItemKnowledgeTemplate]:
    """The (user, item) templates for a dataset's domain; unknown domains use the book/product wording."""
    user_cls, item_cls = _BY_DOMAIN.get(domain, (BookUser, BookItem))
    return user_cls(n_history=n_history, layout=layout), item_cls(layout=layout)
