"""Amazon 2018 review data: a 5-core review file (JSON lines) plus its ``meta_*.json`` metadata."""
from __future__ import annotations

import html
import json
from pathlib import Path

from ur4rec.data.base import DATASETS, Dataset
from ur4rec.data.readers import as_number, find_file, read_lines
from ur4rec.data.schema import Item, LoadReport
from ur4rec.errors import DataError


def json_record(path: Path, lineno: int, text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(path, f"invalid JSON at column {err.colno}: {err.msg}", line=lineno) from None
    except RecursionError:
        raise DataError(path, "invalid JSON: nested too deeply", line=lineno) from None
    if not isinstance(value, dict):
        raise DataError(path, f"expected a JSON object, found {type(value).__name__}", line=lineno)
    return value


def _field(path: Path, lineno: int, rec: dict, key: str):
    if key not in rec:
        raise DataError(path, "missing key", line=lineno, field=key)
    return rec[key]


@DATASETS.register("Amazon")
class Amazon(Dataset):
    """Amazon 2018: <Category>_5.json(.gz) reviews + meta_<Category>.json(.gz) metadata."""

    domain = "books"

    def __init__(self, data_dir: str = "../shared/data/amazon-book", category: str = "Books",
                 name: str = "amazon-book", domain: str = "books"):
        super().__init__(data_dir, name)
        self.category, self.domain = category, domain

    def params(self) -> dict:
        return {**super().params(), "category": self.category, "domain": self.domain}

    def input_files(self) -> list[Path]:
        return [find_file(self.data_dir, f"{self.category}_5.json", f"{self.category}.json"),
                find_file(self.data_dir, f"meta_{self.category}.json")]

    def _parse(self, report: LoadReport):
        reviews, meta = self.input_files()
        items = {}
        for ln, text in read_lines(meta):
            rec = json_record(meta, ln, text)
            cats = rec.get("category") or []
            items[str(_field(meta, ln, rec, "asin"))] = Item(
                title=html.unescape(str(rec.get("title") or "")),
                categories=[html.unescape(str(c)) for c in cats if str(c) != self.category] if isinstance(cats, list) else [],
                brand=html.unescape(str(rec.get("brand") or "")),
                year=str(rec.get("date") or "")[-4:] if str(rec.get("date") or "")[-4:].isdigit() else "",
            )
        u, i, t, r = [], [], [], []
        for ln, text in read_lines(reviews):
            rec = json_record(reviews, ln, text)
            u.append(str(_field(reviews, ln, rec, "reviewerID")))
            i.append(str(_field(reviews, ln, rec, "asin")))
            ts = _field(reviews, ln, rec, "unixReviewTime")
            if isinstance(ts, str):  # a time must be a JSON number, not text that looks like one
                raise DataError(reviews, "expected a number, found a string", line=ln, field="unixReviewTime")
            t.append(as_number(reviews, ln, ts, "unixReviewTime"))
            overall = rec.get("overall")
            r.append(as_number(reviews, ln, overall, "overall") if overall is not None else float("nan"))
        return {}, items, u, i, t, r
