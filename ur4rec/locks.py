"""Advisory file locks: one process per run folder, one trainer per shared cached artifact.

Two ``ur4rec run`` processes in one run folder (a second bench, a manual run beside a bench) would
overwrite each other's ``last.pt``; two processes training the same Base checkpoint or pre-trained
retriever would do the work twice and race on the cache. ``flock(2)`` locks belong to an open file
and go away when the process dies, so a crash or ``kill -9`` never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from ur4rec.errors import UserError

LOCK_NAME = ".lock"
_held: dict[str, int] = {}  # resolved lock path -> nesting depth: re-entrant per process (its threads share a lock)


class Busy(UserError):
    """Another live process holds the lock this one needs."""


@contextlib.contextmanager
def exclusive(path: Path, what: str, wait: bool = False, log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` for the block.

    ``wait=False``: raise Busy, naming ``what`` and the holder, when another process holds it.
    ``wait=True``: block until it is free, saying once through ``log`` whom it waits for."""
    key = str(Path(path).resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, what, wait, log)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the file releases the lock


def _acquire(fd: int, what: str, wait: bool, log) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process that has not said who it is"
    if not wait:
        raise Busy(f"{what} is in use by another process ({holder}); two processes there would overwrite each "
                   "other's checkpoints. Wait for it to end or stop it, then give the same command again "
                   "(it resumes).")
    if log is not None:
        log(f"waiting for {what}: another process holds it ({holder})")
    fcntl.flock(fd, fcntl.LOCK_EX)


def run_folder_lock(run_dir: Path):
    """The lock every ``ur4rec run`` holds on its run folder for the whole run."""
    return exclusive(Path(run_dir) / LOCK_NAME, f"the run folder {run_dir}")
