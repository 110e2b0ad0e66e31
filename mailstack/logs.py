"""The daemons' logs under ``state/log``: readable by root and its group only (they name
accounts, addresses and client IPs), and bounded in size.

Rotation is by size, at every ``up`` (idempotent, so a daily ``alumail up`` from cron keeps them
bounded): a log larger than ``MAX_BYTES`` is copied to ``NAME.1`` (older copies shift up, at most
``KEEP`` kept) and truncated in place. Copy-and-truncate, as logrotate's ``copytruncate``: every
daemon here writes its log through a descriptor opened for appending (slapd, OpenDKIM, the sink
and the web service through ours; Dovecot and postlogd their own), so it carries on at the start
of the emptied file without a restart or a signal. Lines written between the copy and the
truncation (a few milliseconds) are lost; that is the price of not restarting slapd.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MODE = 0o640
MAX_BYTES = 32 * 1024**2
KEEP = 4


def open_log(path: Path) -> int:
    """A descriptor appending to ``path``, made 0640 if new (and put back to 0640 if not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
    os.fchmod(fd, MODE)
    return fd


def tidy(directory: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> list[str]:
    """Every log 0640; those above ``max_bytes`` rotated. The logs rotated, by name."""
    if not directory.is_dir():
        return []
    rotated = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_mode & 0o777 != MODE:
            os.chmod(path, MODE)
        if path.suffix == ".log" and path.stat().st_size > max_bytes:
            _rotate(path, keep)
            rotated.append(path.name)
    return rotated


def _rotate(path: Path, keep: int) -> None:
    oldest = path.with_name(f"{path.name}.{keep}")
    oldest.unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    copy = path.with_name(f"{path.name}.1")
    with open(path, "rb") as source:
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
        with os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target)
    os.truncate(path, 0)
