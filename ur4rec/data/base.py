"""The ``datasets`` registry and the base class every dataset loader subclasses."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ur4rec.data.schema import Item, LoadReport, RawDataset
from ur4rec.registry import registry


class Dataset:
    """Base loader: subclasses set ``domain`` and implement ``input_files`` and ``_parse``."""

    domain = "generic"

    def __init__(self, data_dir: str | Path | None, name: str):
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self.name = name

    def input_files(self) -> list[Path]:
        raise NotImplementedError

    def params(self) -> dict:
        """Everything besides file contents that changes what ``load`` returns (goes in cache keys)."""
        return {"class": type(self).__name__, "name": self.name}

    def _parse(self, report: LoadReport) -> tuple[dict, dict[str, Item], list, list, list, list]:
        """Return users, items and the columns user, item, timestamp, rating in file order."""
        raise NotImplementedError

    def load(self) -> RawDataset:
        report = LoadReport()
        users, items, u, i, t, r = self._parse(report)
        raw = RawDataset(
            name=self.name, domain=self.domain, users=users, items=items,
            user=np.asarray(u, dtype=object), item=np.asarray(i, dtype=object),
            timestamp=np.asarray(t, dtype=np.float64), rating=np.asarray(r, dtype=np.float32),
            files=self.input_files(), report=report,
        )
        _add_missing_items(raw)
        return raw


def _add_missing_items(raw: RawDataset) -> None:
    """Interacted items absent from the metadata are kept with an empty text (and counted)."""
    missing = [tok for tok in np.unique(raw.item) if tok not in raw.items]
    for tok in missing:
        raw.items[tok] = Item()
    raw.report.add("items without metadata (kept, empty text)", len(missing))


DATASETS = registry("datasets", Dataset)
