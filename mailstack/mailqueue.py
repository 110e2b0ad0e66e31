"""How much mail Postfix holds (active, deferred, on hold, ...) and since when, read from
Postfix's own ``showq`` service: what ``alumail status`` and the admin console's status page
show.

Why this way, with the least privilege that works for an unprivileged reader (the web service
runs as ``alumail``):

- The queue directories (``state/postfix/queue/{active,deferred,hold,...}``) are Postfix's,
  0700: only root and ``postfix`` may count their files.
- ``postqueue -j`` is what Postfix offers users, but for anyone but root it reads only the
  default ``/etc/postfix/main.cf``: it refuses ``-c DIR`` and ``MAIL_CONFIG`` naming our private
  instance unless that main.cf lists the directory in ``alternate_config_directories``, and
  alumail changes nothing outside its state directory.
- ``postqueue`` itself only connects to the ``showq`` service's socket in the queue's
  ``public/`` directory (mode 0710, group ``postdrop``) and prints what showq streams back;
  showq takes no input and only reports (its manual: "accessible to local untrusted users").
  ``authorized_mailq_users`` is enforced by postqueue, not by showq.

So the reader connects to ``public/showq`` itself. The web service already is in ``postdrop``
(mailstack/privileges.py: it submits its mail through ``public/submit``), so this needs no new
privilege at all: no root helper, no setgid program, no change to Postfix's configuration.

showq's stream (Postfix 3.x) is Postfix's "attr0" encoding: ``name NUL value NUL`` pairs, an
empty name (a lone NUL) ending each list. The first list announces
``protocol=mail_queue_list_protocol``; then one list per message (``queue_name``, ``queue_id``,
``time``, ``size``, ``forced_expire``, ``sender``, then ``recipient`` and ``reason`` for each
recipient); an empty list ends the listing. Only the queue names and arrival times are kept.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailstack.errors import DaemonError
from mailstack.layout import Layout

PROTOCOL = b"mail_queue_list_protocol"  # what showq announces itself as
# The queues a message can be listed in, in the order shown.
QUEUES = ("active", "deferred", "hold", "incoming", "maildrop")
CHUNK = 65536


@dataclass(frozen=True)
class QueueSummary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUEUES, 0))
    oldest: float | None = None  # arrival time (seconds since the epoch) of the oldest message

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def oldest_age(self, now: float) -> float | None:
        return None if self.oldest is None else max(0.0, now - self.oldest)

    def as_dict(self, now: float) -> dict[str, object]:
        age = self.oldest_age(now)
        return {
            **self.counts,
            "total": self.total,
            "oldest_age_seconds": None if age is None else round(age),
        }


def showq_socket(layout: Layout) -> Path:
    return layout.postfix_queue / "public" / "showq"


def read_queue(path: Path, timeout: float = 10) -> QueueSummary:
    """The queue as our Postfix's showq service at ``path`` lists it. DaemonError when it does
    not answer (Postfix down, or a reader outside the ``postdrop`` group)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            return summarise(_chunks(conn))
    except PermissionError as exc:
        raise DaemonError(
            f"may not read Postfix's queue at {path}: the reader must be root or in the "
            "postdrop group"
        ) from exc
    except OSError as exc:
        raise DaemonError(f"Postfix's queue service does not answer at {path}: {exc}") from exc


def _chunks(conn: socket.socket) -> Iterator[bytes]:
    while chunk := conn.recv(CHUNK):
        yield chunk


def _lists(chunks: Iterable[bytes]) -> Iterator[dict[bytes, bytes]]:
    """Each attribute list of an attr0 stream, as it completes (nothing is kept but the list
    being read, so a queue of any length takes little memory)."""
    pending = b""
    current: dict[bytes, bytes] = {}
    name: bytes | None = None
    for chunk in chunks:
        *tokens, pending = (pending + chunk).split(b"\0")
        for token in tokens:
            if name is not None:
                current[name], name = token, None
            elif token:
                name = token
            else:
                yield current
                current = {}
    if name is not None or pending or current:
        raise DaemonError("Postfix's queue service ended its answer in the middle of a record")


def summarise(chunks: Iterable[bytes]) -> QueueSummary:
    counts = dict.fromkeys(QUEUES, 0)
    oldest: float | None = None
    lists = _lists(chunks)
    if next(lists, {}).get(b"protocol") != PROTOCOL:
        raise DaemonError("the socket is not Postfix's showq service")
    for attrs in lists:
        if not attrs:
            break  # the end of the listing
        queue = attrs.get(b"queue_name")
        if queue is None:
            raise DaemonError("Postfix's queue service listed a message without its queue")
        name = queue.decode("ascii", "replace")
        counts[name] = counts.get(name, 0) + 1
        arrived = attrs.get(b"time", b"")
        if arrived.isdigit() and (oldest is None or int(arrived) < oldest):
            oldest = float(arrived)
    return QueueSummary(counts, oldest)


def queue_report(layout: Layout, now: float) -> dict[str, object]:
    """What ``alumail status`` and the admin console show: the counts and the oldest message's
    age, or ``{"error": why}`` when the queue cannot be read (Postfix stopped)."""
    try:
        return read_queue(showq_socket(layout)).as_dict(now)
    except DaemonError as error:
        return {"error": error.message}
