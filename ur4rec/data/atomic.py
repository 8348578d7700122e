"""RecBole atomic files (``.inter``/``.item``/``.user`` with ``name:type`` headers), e.g. MovieLens-100K.

With no folder given, ML-100K is read from the ``recbole==1.2.1`` wheel (installed with --no-deps),
located with importlib without importing recbole.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ur4rec.data.base import DATASETS, Dataset
from ur4rec.data.readers import as_float, check_encoding, read_lines, regular_file
from ur4rec.data.schema import Item, LoadReport
from ur4rec.errors import DataError, quote

TITLE_FIELDS = ("movie_title", "title", "name", "app_name")
CATEGORY_FIELDS = ("class", "genre", "genres", "categories", "category", "tags")
BRAND_FIELDS = ("brand", "developer", "publisher", "director")
YEAR_FIELDS = ("release_year", "year")


def bundled_ml100k_dir() -> Path:
    """ML-100K inside the recbole wheel; a clear error if the wheel is not installed."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("recbole", "ML-100K default needs `pip install --no-deps recbole==1.2.1`, "
                        "or set DATA_DIR to a folder with ml-100k.inter/.item/.user")
    return Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k"


class AtomicTable:
    """One atomic file: header of ``name:type`` columns, tab-separated rows."""

    def __init__(self, path: Path, encoding: str):
        self.path = path
        lines = read_lines(path, encoding)
        _, header = next(lines)
        self.columns = [h.split(":")[0] for h in header.split("\t")]
        self.types = [h.split(":")[1] if ":" in h else "token" for h in header.split("\t")]
        self.rows = lines
        self.n_rows = 0

    def index(self, *names: str, required: bool = True) -> int | None:
        for name in names:
            if name in self.columns:
                return self.columns.index(name)
        if required:
            raise DataError(self.path, f"header has none of the columns {', '.join(names)} "
                            f"(found {quote(', '.join(self.columns))})", line=1)
        return None

    def records(self):
        width = len(self.columns)
        self.n_rows = 0
        for ln, text in self.rows:
            self.n_rows += 1
            parts = text.split("\t")
            if len(parts) != width:
                raise DataError(self.path, f"expected {width} tab-separated fields ({quote(', '.join(self.columns))}), "
                                f"found {len(parts)}", line=ln)
            yield ln, parts


def _token(path: Path, lineno: int, value: str, field: str) -> str:
    if not value.strip():
        raise DataError(path, "empty id", line=lineno, field=field)
    return value


def _pick(parts: list[str], idx: int | None) -> str:
    return parts[idx].strip() if idx is not None else ""


@DATASETS.register("Atomic")
class AtomicDataset(Dataset):
    """RecBole atomic files <name>.inter (+ optional .item, .user); default: ML-100K from the recbole wheel."""

    domain = "movies"

    def __init__(self, data_dir: str | None = None, name: str = "ml-100k", domain: str = "movies",
                 encoding: str = "utf-8"):
        super().__init__(data_dir if data_dir is not None else bundled_ml100k_dir(), name)
        self.domain = domain
        self.encoding = check_encoding(encoding, "datasets.Atomic")

    def params(self) -> dict:
        return {**super().params(), "domain": self.domain, "encoding": self.encoding}

    def _file(self, ext: str) -> Path:
        return self.data_dir / f"{self.name}.{ext}"

    def input_files(self) -> list[Path]:
        if not regular_file(self._file("inter")):
            raise DataError(self._file("inter"), "interaction file not found; point DATA_DIR at the folder "
                            "holding <name>.inter or set the dataset name")
        return [p for p in (self._file("inter"), self._file("item"), self._file("user")) if regular_file(p)]

    def _parse(self, report: LoadReport):
        inter_path = self.input_files()[0]
        items = self._items(report)
        users = self._users(report)
        table = AtomicTable(inter_path, self.encoding)
        iu, ii = table.index("user_id"), table.index("item_id")
        ir, it = table.index("rating", required=False), table.index("timestamp", required=False)
        if it is None:
            report.add("no timestamp column: file order used as time")
        u, i, t, r = [], [], [], []
        for ln, parts in table.records():
            u.append(_token(inter_path, ln, parts[iu], "user_id"))
            i.append(_token(inter_path, ln, parts[ii], "item_id"))
            r.append(as_float(inter_path, ln, parts[ir], "rating") if ir is not None else float("nan"))
            t.append(as_float(inter_path, ln, parts[it], "timestamp") if it is not None else float(ln))
        if table.n_rows == 0:
            raise DataError(inter_path, "has a header line but no interactions")
        return users, items, u, i, t, r

    def _items(self, report: LoadReport) -> dict[str, Item]:
        path = self._file("item")
        if not regular_file(path):
            report.add("no .item file (items have no text)")
            return {}
        table = AtomicTable(path, self.encoding)
        ii = table.index("item_id")
        cols = [table.index(*f, required=False) for f in (TITLE_FIELDS, CATEGORY_FIELDS, BRAND_FIELDS, YEAR_FIELDS)]
        items = {}
        for _, parts in table.records():
            title, cats, brand, year = (_pick(parts, c) for c in cols)
            sep = "\t" if "\t" in cats else " "
            items[parts[ii]] = Item(title, [c for c in cats.split(sep) if c], brand, year)
        return items

    def _users(self, report: LoadReport) -> dict[str, dict[str, str]]:
        path = self._file("user")
        if not regular_file(path):
            report.add("no .user file (no user profiles)")
            return {}
        table = AtomicTable(path, self.encoding)
        iu = table.index("user_id")
        return {parts[iu]: {c: parts[k] for k, c in enumerate(table.columns) if k != iu}
                for _, parts in table.records()}
