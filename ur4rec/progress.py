"""Progress for log files: a rich bar is invisible when output goes to a file, so long stages also
write one plain line every ``every`` seconds (and one at the end) with done/total, rate and ETA."""
from __future__ import annotations

import time
from typing import Callable


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
