"""Line readers shared by loaders: gzip-aware, strict decoding, errors with file, line and field."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterator

from ur4rec.errors import DataError


def find_file(folder: Path, *names: str) -> Path:
    """The first of ``names`` present in ``folder`` (plain or .gz); a DataError listing all if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "data folder does not exist; point DATA_DIR at it, e.g. -b \"DATA_DIR='/path/to/data'\"")
    for name in names:
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.is_file():
                return cand
    raise DataError(folder, f"none of {', '.join(names)} (plain or .gz) found in this folder")


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without newline); skips blank lines; fails on an empty file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    seen = False
    with _open_bytes(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise DataError(path, f"cannot decode byte {raw[err.start]:#04x} at column {err.start + 1} as {encoding}; "
                                "set the loader's encoding parameter", line=lineno) from None
            text = text.rstrip("\r\n")
            if text.strip():
                seen = True
                yield lineno, text
    if not seen:
        raise DataError(path, "file is empty")


def split_fields(path: Path, lineno: int, text: str, sep: str, names: tuple[str, ...]) -> list[str]:
    parts = text.split(sep)
    if len(parts) != len(names):
        raise DataError(path, f"expected {len(names)} fields ({', '.join(names)}) separated by {sep!r}, "
                        f"found {len(parts)}", line=lineno)
    return parts


def as_int_token(path: Path, lineno: int, value: str, field: str) -> str:
    """An id that must be an integer; returned as its canonical string token."""
    try:
        return str(int(value))
    except ValueError:
        raise DataError(path, f"expected an integer id, found {value!r}", line=lineno, field=field) from None


def as_float(path: Path, lineno: int, value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(path, f"expected a number, found {value!r}", line=lineno, field=field) from None
