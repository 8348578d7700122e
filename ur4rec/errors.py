"""User-facing errors: the CLI prints them as one paragraph and exits with code 2."""
from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad config, bad input file); never shown with a traceback."""


class ConfigError(UserError):
    """A gin file or binding is wrong: unknown name, syntax, missing REQUIRED value, missing file."""


class DataError(UserError):
    """An input data file is missing, empty or malformed; the message names file, line and field."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = str(path), line, field
        where = self.path + (f", line {line}" if line is not None else "")
        what = f" (field {field!r})" if field else ""
        super().__init__(f"{where}{what}: {message}")
