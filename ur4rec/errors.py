"""User-facing errors: the CLI prints them as one paragraph and exits with code 2."""
from __future__ import annotations

import re
from pathlib import Path

# gin appends this line to any exception raised inside a configurable; it names a function address,
# which tells a user nothing, and breaks the one-paragraph promise.
_GIN_CALL_NOTE = re.compile(r"\n\s*In call to configurable '[^'\n]*' \([^\n]*\)")
QUOTE_LIMIT = 80  # characters of input data quoted in a message (a damaged line can be megabytes)
MESSAGE_LIMIT = 2000


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


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value), cut to ``limit`` characters with the full length noted, for quoting input in messages."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(str(value)):,} characters)"


def user_message(err: BaseException) -> str:
    """The message of a user error as one paragraph: gin's 'In call to configurable' notes removed, capped."""
    text = _GIN_CALL_NOTE.sub("", str(err)).strip()
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + f"… (message cut at {MESSAGE_LIMIT} characters)"
    return text
