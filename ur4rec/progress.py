"""Progress for log files: a rich bar is invisible when output goes to a file, so long stages also
write one plain line every ``every`` seconds (and one at the end) with done/total, rate and ETA.

``use_console`` names the console of the run in progress, so stages reached deep inside a component
(an augmenter's constructor generating and encoding its knowledge) report where the run reports."""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Callable

_CONSOLE = contextvars.ContextVar("ur4rec_console", default=None)


@contextlib.contextmanager
def use_console(console):
    """Within the block, ``current_console()`` is ``console``."""
    token = _CONSOLE.set(console)
    try:
        yield console
    finally:
        _CONSOLE.reset(token)


def current_console():
    """The console of the run in progress (``use_console``), or None outside one."""
    return _CONSOLE.get()


class LogLines:
    """``update(n)`` after each batch; logs through ``log`` at most every ``every`` seconds."""

    def __init__(self, log: Callable[[str], None] | None, what: str, total: int, unit: str, every: float = 30.0):
        self.log, self.what, self.total, self.unit, self.every = log, what, total, unit, every
        self.done, self.start = 0, time.perf_counter()
        self.last = self.start

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.log is None or (now - self.last < self.every and self.done < self.total):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        self.log(f"{self.what}: {self.done:,}/{self.total:,} {self.unit}, {rate:,.1f} {self.unit}/s, "
                 f"{elapsed:.0f}s elapsed, ETA {eta:.0f}s")


def file_log(console) -> Callable[[str], None] | None:
    """``console.log`` when the console writes to a file (no bar visible there); None on a terminal."""
    return console.log if console is not None and not console.is_terminal else None
