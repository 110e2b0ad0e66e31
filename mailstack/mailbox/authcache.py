"""Dovecot's auth cache, flushed over its auth-master socket: the protocol ``doveadm auth cache
flush`` speaks (``VERSION 1 0``, then ``CACHE-FLUSH <id> [<key> ...]``, answered
``OK <id> <count>``), spoken here so that a key that is a secret (a bearer token) never goes into
a program's argv, and no process is started per flush.

Dovecot 2.3 flushes an entry whose key, after its ``P<passdb id>`` prefix and a tab, is a given
name followed by a tab or nothing. Its oauth2 passdb keys an accepted bearer token on the login
name and the token joined with nothing between (``%u%w``, src/auth/passdb-oauth2.c), so the
name ``<login><token>`` flushes exactly that token's entry and nothing else; no name flushes
every entry."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from mailstack.errors import DaemonError

TIMEOUT = 5.0
PROTOCOL = b"VERSION\t1\t0\n"


def flush(auth_master: Path, keys: Sequence[str] = ()) -> int:
    """Flush the entries named by ``keys`` (every entry when there are none) from the cache of
    the Dovecot listening at ``auth_master``; how many went. DaemonError when it cannot be
    asked. A key holding a tab, a line break or another control character is refused: the
    protocol would read it as something else."""
    for key in keys:
        if not key or not key.isprintable():
            raise ValueError("an auth cache key must be printable and not empty")
    request = "".join(f"\t{key}" for key in keys)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(TIMEOUT)
            conn.connect(str(auth_master))
            conn.sendall(PROTOCOL + f"CACHE-FLUSH\t1{request}\n".encode())
            answer = _answer(conn)
    except OSError as exc:
        raise DaemonError(f"Dovecot's auth cache could not be flushed: {exc}") from exc
    if len(answer) != 3 or answer[:2] != ["OK", "1"] or not answer[2].isdigit():
        raise DaemonError(f"Dovecot's auth cache flush was answered {answer[:2]!r}")
    return int(answer[2])


def _answer(conn: socket.socket) -> list[str]:
    """The answer to request 1 (after the server's VERSION and SPID lines)."""
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            raise DaemonError("Dovecot closed its auth-master socket without an answer")
        data += chunk
        for line in data.decode(errors="replace").split("\n")[:-1]:
            fields = line.split("\t")
            if fields[0] in ("OK", "FAIL") and fields[1:2] == ["1"]:
                return fields
