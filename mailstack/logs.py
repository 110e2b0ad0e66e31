"""The daemons' logs under ``state/log``: readable by root and its group only (they name
accounts, addresses and client IPs), and bounded in size.

Rotation is by size, at every ``up`` (idempotent, so a daily ``alumail up`` from cron keeps them
bounded): a log larger than ``MAX_BYTES`` is copied to ``NAME.1`` (older copies shift up, at most
``KEEP`` kept) and truncated in place. Copy-and-truncate, as logrotate's ``copytruncate``: every
daemon here writes its log through a descriptor opened for appending (slapd, OpenDKIM, the sink
and the web service through ours; Dovecot and postlogd their own), so it carries on at the start
of the emptied file without a restart or a signal. Lines written between the copy and the
truncation (a few milliseconds) are lost; that is the price of not restarting slapd.

Reading them (``alumail logs``): each line's time is the one its daemon wrote at its start, in
the daemon's own format (see line_time); lines of several services are merged by it.
"""

from __future__ import annotations

import datetime
import heapq
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from identity.errors import ValidationError

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


# -- reading them (``alumail logs``) -------------------------------------------------------------

# The time each daemon writes at the start of a line: syslog's (Dovecot, Postfix: local time, no
# year), PHP-FPM's, slapd's (seconds since the epoch, in hex), Python logging's (our services).
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) ")
_PHP = re.compile(r"\[(\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d)\] ")
_SLAPD = re.compile(r"([0-9a-f]{8})\.[0-9a-f]{8} ")
_ISO = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
SINCE_RULE = (
    "must be a duration such as 30s, 10m, 2h, 1d or 1h30m, or a time such as 2026-11-29T22:00"
)
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LogLine:
    service: str
    when: float | None  # seconds since the epoch; None: the daemon wrote no time on the line
    text: str


def parse_since(value: str, *, now: float | None = None) -> float:
    """``--since``: a duration back from now, or a local time (ISO 8601): seconds since the
    epoch."""
    now = time.time() if now is None else now
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    if text and duration and any(duration.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        return now - (((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError("since", SINCE_RULE) from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time as the host's clock shows it
    return moment.timestamp()


def line_time(text: str, *, now: float | None = None) -> float | None:
    """When a log line was written, from the time its daemon put at its start; None if it has
    none (a continuation line, or a daemon that writes no time)."""
    if found := _SLAPD.match(text):
        return float(int(found[1], 16))
    if found := _SYSLOG.match(text):
        now = time.time() if now is None else now
        year = time.localtime(now).tm_year
        for candidate in (year, year - 1):  # syslog's lines carry no year: December in January
            try:
                moment = datetime.datetime.strptime(
                    f"{candidate} {found[1]} {found[2]} {found[3]}", "%Y %b %d %H:%M:%S"
                )
            except ValueError:
                return None
            stamp = moment.timestamp()
            if stamp <= now + 86400:
                return stamp
        return None
    for pattern, form in ((_PHP, "%d-%b-%Y %H:%M:%S"), (_ISO, None)):
        if found := pattern.match(text):
            try:
                moment = (
                    datetime.datetime.strptime(found[1], form)
                    if form
                    else datetime.datetime.fromisoformat(found[1])
                )
            except ValueError:
                return None
            return moment.timestamp()
    return None


def log_files(directory: Path, service: str, *, rotated: bool) -> list[Path]:
    """``service``'s log, oldest first: its rotated copies too when ``rotated``."""
    current = directory / f"{service}.log"
    if not rotated:
        return [current]
    copies = sorted(
        directory.glob(f"{service}.log.[0-9]*"),
        key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
        reverse=True,
    )
    return [*copies, current]


def read_service(
    directory: Path, service: str, since: float | None, *, now: float | None = None
) -> Iterator[LogLine]:
    """``service``'s lines written at or after ``since`` (all of the current log without it). A
    line with no time of its own goes with the line before it; a log with no times at all is
    shown whole when it was written to since then."""
    for path in log_files(directory, service, rotated=since is not None):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                modified = os.fstat(handle.fileno()).st_mtime
                yield from _since(service, handle, modified, since, now)
        except FileNotFoundError:
            continue


def _since(
    service: str, handle: Iterable[str], modified: float, since: float | None, now: float | None
) -> Iterator[LogLine]:
    last: float | None = None
    for raw in handle:
        text = raw.rstrip("\n")
        when = line_time(text, now=now)
        last = when if when is not None else last
        effective = last if last is not None else modified
        if since is None or effective >= since:
            yield LogLine(service, last, text)


def read(directory: Path, services: list[str], since: float | None) -> Iterator[LogLine]:
    """The lines of several services, merged in time order (each service's own order kept)."""
    streams = [read_service(directory, s, since) for s in services]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda line: line.when or 0.0)


def follow(
    directory: Path,
    services: list[str],
    *,
    stop: Callable[[], bool] = lambda: False,
    poll: float = POLL_SECONDS,
) -> Iterator[LogLine]:
    """Lines added to the services' current logs from now on, as they come (``tail -F``: a log
    emptied by rotation is read again from its start, one made later is picked up)."""
    offsets: dict[str, int] = {}
    for service in services:
        path = directory / f"{service}.log"
        offsets[service] = path.stat().st_size if path.exists() else 0
    pending = {service: b"" for service in services}
    while not stop():
        quiet = True
        for service in services:
            path = directory / f"{service}.log"
            try:
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    if size < offsets[service]:  # copy-and-truncate rotation
                        offsets[service], pending[service] = 0, b""
                    handle.seek(offsets[service])
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            if not chunk:
                continue
            quiet = False
            offsets[service] += len(chunk)
            *lines, pending[service] = (pending[service] + chunk).split(b"\n")
            for raw in lines:
                text = raw.decode("utf-8", errors="replace")
                yield LogLine(service, line_time(text), text)
        if quiet:
            time.sleep(poll)
