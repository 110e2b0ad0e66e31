"""One lock per state directory: every command that changes the stack (``up``, ``down``,
``restore-all``, an offline import, ...) holds it, so two of them never start, stop or rewrite
the same daemons at once (two concurrent ``up`` used to leave a daemon running that no pid file
named).

An advisory ``flock`` on ``<state_dir>/alumail.lock``: the kernel releases it when the holder
exits, even on ``kill -9``, so a crash never leaves a stale lock behind. The holder writes its pid
and what it is doing into the file, so a refused command can say who holds it. The lock is
re-entrant within one process: a use case holding it may call ``up`` without deadlocking itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from identity.errors import ConflictError

LOCK_NAME = "alumail.lock"
# How long a command waits for another one to finish before giving up (an `up` takes seconds).
DEFAULT_WAIT = 120.0

_held: dict[Path, int] = {}  # lock file -> depth, for re-entry within this process
_guard = threading.Lock()


class StateLockedError(ConflictError):
    """Another alumail command is changing the same state directory."""

    def __init__(self, path: Path, holder: str, waited: float) -> None:
        super().__init__(
            f"state directory {path.parent} is locked by another alumail command "
            f"({holder or 'holder unknown'}); waited {waited:.0f} s. Try again when it has "
            f"finished (the lock is {path}; it is released when that process exits)."
        )
        self.holder = holder


def lock_path(state_dir: Path) -> Path:
    return state_dir / LOCK_NAME


def holder(state_dir: Path) -> str:
    """Who holds (or last held) the lock: ``pid N: what``; empty if nobody ever did."""
    try:
        return lock_path(state_dir).read_text().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def state_lock(state_dir: Path, purpose: str, *, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the state directory's lock for the block; wait up to ``wait`` seconds for it, then
    raise :class:`StateLockedError` naming the holder."""
    path = lock_path(state_dir).resolve()
    with _guard:
        depth = _held.get(path, 0)
        if depth:
            _held[path] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {purpose}\n".encode(), 0)
        with _guard:
            _held[path] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait: float) -> None:
    started = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - started
            if waited >= wait:
                raise StateLockedError(path, holder(path.parent), waited) from None
            time.sleep(min(0.1, max(wait - waited, 0.0)))
