"""Line readers shared by loaders: gzip-aware, strict decoding, errors with file, line and field."""
from __future__ import annotations

import codecs
import gzip
import math
import os
import re
import stat
import zlib
from pathlib import Path
from typing import Iterator

from ur4rec.errors import ConfigError, DataError, quote

_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors write at the start of a file
# Plain decimal only: int() and float() also accept '1_000', 'NaN', 'inf' and '1e400', which are
# never meant as ids, ratings or times and would be read as a different (or non-finite) value.
_INT = re.compile(r"[+-]?[0-9]{1,30}")  # longer would be no id (and int() refuses over 4300 digits)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_GZIP_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def check_encoding(encoding: str, owner: str) -> str:
    """``encoding`` if Python knows it; a ConfigError naming the parameter otherwise."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ConfigError(f"{owner}.encoding = {encoding!r} is not a known text encoding "
                          "(e.g. 'utf-8', 'latin-1', 'cp1252')") from None
    return encoding


def regular_file(path: Path) -> bool:
    """True for a regular file (or a link to one), False when nothing is there, a DataError otherwise.

    A directory or FIFO under a data file's name is a mistake to report, not an absent file
    (and opening a FIFO would block forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise DataError(path, "is a broken symbolic link") from None
        return False
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror})") from None
    if stat.S_ISREG(mode):
        return True
    kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
    raise DataError(path, f"is {kind}, not a data file")


def find_file(folder: Path, *names: str) -> Path:
    """The first of ``names`` present in ``folder`` (plain or .gz); a DataError listing all if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "data folder does not exist; point DATA_DIR at it, e.g. -b \"DATA_DIR='/path/to/data'\"")
    for name in names:
        for cand in (folder / name, folder / f"{name}.gz"):
            if regular_file(cand):
                return cand
    raise DataError(folder, f"none of {', '.join(names)} (plain or .gz) found in this folder")


def check_gzip(path: Path) -> None:
    """Read a .gz file to its end once, so a damaged one is reported before any line is parsed.

    gzip checks its CRC only at the end of the stream: parsing first would report a flipped byte
    as a malformed line, and a truncated file as an EOFError."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
    except _GZIP_ERRORS as err:
        raise DataError(path, f"the gzip file is damaged or not gzip at all ({err}); "
                        "download or compress it again") from None


def _open_bytes(path: Path):
    try:
        if path.suffix == ".gz":
            check_gzip(path)
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})") from None


def _decode(path: Path, lineno: int, raw: bytes, encoding: str) -> str:
    if lineno == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(path, f"cannot decode byte {raw[err.start]:#04x} at column {err.start + 1} as {encoding}; "
                        "set the loader's encoding parameter", line=lineno) from None


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without newline); skips blank lines; fails on an empty file."""
    path = Path(path)
    if not regular_file(path):
        raise DataError(path, "file not found")
    seen = False
    with _open_bytes(path) as fh:
        try:
            for lineno, raw in enumerate(fh, start=1):
                text = _decode(path, lineno, raw, encoding).rstrip("\r\n")
                if text.strip():
                    seen = True
                    yield lineno, text
        except _GZIP_ERRORS as err:  # the file changed after check_gzip, or the disk failed
            raise DataError(path, f"read failed ({err})") from None
    if not seen:
        raise DataError(path, "file is empty")


def split_fields(path: Path, lineno: int, text: str, sep: str, names: tuple[str, ...]) -> list[str]:
    parts = text.split(sep)
    if len(parts) != len(names):
        raise DataError(path, f"expected {len(names)} fields ({', '.join(names)}) separated by {sep!r}, "
                        f"found {len(parts)}", line=lineno)
    return parts


def as_int_token(path: Path, lineno: int, value: str, field: str) -> str:
    """An id that must be a plain decimal integer; returned as its canonical string token."""
    if not _INT.fullmatch(value.strip()):
        raise DataError(path, f"expected an integer id, found {quote(value)}", line=lineno, field=field)
    return str(int(value))


def as_float(path: Path, lineno: int, value: str, field: str) -> float:
    """A finite number written in plain decimal form (no exponent, underscore, NaN or inf)."""
    if not _DECIMAL.fullmatch(value.strip()):
        raise DataError(path, f"expected a number in plain decimal form, found {quote(value)}", line=lineno, field=field)
    number = float(value)
    if not math.isfinite(number):
        raise DataError(path, f"number {quote(value)} is too large", line=lineno, field=field)
    return number


def as_number(path: Path, lineno: int, value: object, field: str) -> float:
    """A finite number from a parsed JSON / dict-literal value (a number, or a string holding one)."""
    if isinstance(value, str):
        return as_float(path, lineno, value, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(path, f"expected a number, found {quote(value)}", line=lineno, field=field)
    if not math.isfinite(value):
        raise DataError(path, f"expected a finite number, found {quote(value)}", line=lineno, field=field)
    return float(value)
