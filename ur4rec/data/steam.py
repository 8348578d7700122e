"""Steam: UCSD ``steam_games.json.gz`` metadata joined with one of two interaction files.

Interactions are either the SASRec/UCSD ``steam_reviews.json.gz`` (one Python dict literal per
line with ``username``, ``product_id``, ``date``) or the Australian-reviews parquet
(``user_id``, ``item_id``, ``posted``, ``recommend``). Rows without a date are dropped and counted.
"""
from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from ur4rec.data.base import DATASETS, Dataset
from ur4rec.data.readers import as_number, find_file, read_lines
from ur4rec.data.schema import Item, LoadReport
from ur4rec.errors import DataError, quote

REVIEW_FILES = ("steam_reviews.json", "australian_user_reviews.parquet")


def literal_dict(path: Path, lineno: int, text: str) -> dict:
    try:
        value = ast.literal_eval(text)
    # TypeError: an unhashable key such as {[1]: 2}; RecursionError/MemoryError: absurdly nested input
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError) as err:
        raise DataError(path, f"not a Python dict literal ({err.__class__.__name__}: {quote(str(err))})",
                        line=lineno) from None
    if not isinstance(value, dict):
        raise DataError(path, f"expected a dict literal, found {type(value).__name__}", line=lineno)
    return value


def parse_date(path: Path, lineno: int, value: str, field: str) -> float:
    try:
        return dt.datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise DataError(path, f"expected a date YYYY-MM-DD, found {quote(value)}", line=lineno, field=field) from None


def _names(value) -> list[str]:
    """A genre/tag list as strings; a value that is neither list nor string (a damaged line) counts as none."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _year(release_date: str) -> str:
    head = str(release_date or "")[:4]
    return head if head.isdigit() else ""


@DATASETS.register("Steam")
class Steam(Dataset):
    """Steam games metadata + reviews (steam_reviews.json.gz or australian_user_reviews.parquet)."""

    domain = "games"

    def __init__(self, data_dir: str = "../shared/data/steam", name: str = "steam", reviews: str | None = None):
        super().__init__(data_dir, name)
        self.reviews = reviews

    def params(self) -> dict:
        return {**super().params(), "reviews": self.reviews}

    def _reviews_file(self) -> Path:
        return find_file(self.data_dir, *( (self.reviews,) if self.reviews else REVIEW_FILES))

    def input_files(self) -> list[Path]:
        return [self._reviews_file(), find_file(self.data_dir, "steam_games.json")]

    def _parse(self, report: LoadReport):
        reviews = self._reviews_file()
        items = self._items(find_file(self.data_dir, "steam_games.json"), report)
        if reviews.suffix == ".parquet":
            cols = self._parquet(reviews, report)
        else:
            cols = self._json_reviews(reviews, report)
        return {}, items, *cols

    def _items(self, path: Path, report: LoadReport) -> dict[str, Item]:
        items = {}
        for ln, text in read_lines(path):
            rec = literal_dict(path, ln, text)
            if "id" not in rec:
                report.add("game metadata lines without an id (skipped)")
                continue
            items[str(rec["id"])] = Item(
                title=str(rec.get("app_name") or rec.get("title") or ""),
                categories=_names(rec.get("genres") or rec.get("tags")),
                brand=str(rec.get("developer") or rec.get("publisher") or ""),
                year=_year(rec.get("release_date", "")),
                extra={k: str(rec[k]) for k in ("publisher", "price") if rec.get(k) is not None},
            )
        return items

    def _json_reviews(self, path: Path, report: LoadReport):
        u, i, t, r = [], [], [], []
        for ln, text in read_lines(path):
            rec = literal_dict(path, ln, text)
            for key in ("username", "product_id", "date"):
                if key not in rec:
                    raise DataError(path, "missing key", line=ln, field=key)
            u.append(str(rec["username"]))
            i.append(str(rec["product_id"]))
            t.append(parse_date(path, ln, str(rec["date"]), "date"))
            r.append(as_number(path, ln, rec["hours"], "hours") if rec.get("hours") is not None else float("nan"))
        return u, i, t, r

    def _parquet(self, path: Path, report: LoadReport):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for key in ("user_id", "item_id", "posted"):
            if key not in table.column_names:
                raise DataError(path, f"parquet has no column {key!r} (found {', '.join(table.column_names)})", field=key)
        users = [str(x) for x in table.column("user_id").to_pylist()]
        items = [str(x) for x in table.column("item_id").to_pylist()]
        posted = table.column("posted").to_pylist()
        recommend = table.column("recommend").to_pylist() if "recommend" in table.column_names else [None] * len(users)
        u, i, t, r = [], [], [], []
        for uid, iid, when, rec in zip(users, items, posted, recommend):
            if when is None:
                report.add("reviews without a date (dropped)")
                continue
            u.append(uid)
            i.append(iid)
            t.append(when.replace(tzinfo=dt.timezone.utc).timestamp())
            r.append(float(rec) if rec is not None else float("nan"))
        return u, i, t, r
