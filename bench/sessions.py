"""Concurrent IMAPS sessions: a throwaway stack with the default sizing holds ``BENCH_SESSIONS``
(1,000) logged-in TLS sessions at once, and the memory Dovecot's processes take for them is
measured (summed over the master and its children): before, while they are held, and once
they sit in IDLE (hibernated by Dovecot, as mail clients' sessions mostly are).

Run alone with ``python -m bench.sessions``; ``make bench`` runs it with the rest. Bounded: at
most ``CONNECTING`` handshakes in flight, and every step under one deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from pathlib import Path

from identity.accounts import Account
from identity.passwords import hash_password
from identity.roles import ROOT
from mailstack.context import control_context
from mailstack.daemons.dovecot import Dovecot
from mailstack.keys.tls import tls_files
from mailstack.settings import Settings
from provisioning.composition import Composition
from tests.support import running_stack

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
PER_ACCOUNT = 10  # below the default sessions.per_user_ip (20): the clients share 127.0.0.1
CONNECTING = 50
HIBERNATE_WAIT = 90.0  # imap_hibernate_timeout is 30 s
DEADLINE = float(os.environ.get("BENCH_SESSIONS_SECONDS", "360"))
PASSWORD = "Bench-Sessions-2026"  # noqa: S105 -- a throwaway stack's test accounts


def dovecot_memory(master: int) -> dict[str, float]:
    """RSS summed (counts shared pages once per process) and PSS summed (shares them out) of
    the master and its children, in MiB; and how many processes."""
    pids = [master] + [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _parent(int(p.name)) == master
    ]
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {"processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024}


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def idle(self) -> None:
        self.writer.write(b"i IDLE\r\n")
        await self.writer.drain()
        while not (await self.reader.readline()).startswith((b"+", b"i ")):
            pass

    async def command(self, tag: str, line: str) -> bytes:
        self.writer.write(f"{tag} {line}\r\n".encode())
        await self.writer.drain()
        while True:
            reply = await self.reader.readline()
            if not reply or reply.startswith(tag.encode() + b" "):
                return reply


async def open_session(
    settings: Settings, context: ssl.SSLContext, uid: str, gate: asyncio.Semaphore
) -> Session:
    async with gate:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", settings.ports.imaps, ssl=context
        )
        session = Session(reader, writer)
        await reader.readline()  # greeting
        reply = await session.command("a", f"LOGIN {uid} {PASSWORD}")
        if not reply.startswith(b"a OK"):
            writer.close()
            raise RuntimeError(f"login {uid}: {reply!r}")
        return session


async def hold(settings: Settings, uids: list[str], master: int) -> dict[str, float]:
    context = ssl.create_default_context(cafile=str(tls_files(settings).ca_cert))
    gate = asyncio.Semaphore(CONNECTING)
    figures: dict[str, float] = {}
    before = dovecot_memory(master)
    start = time.perf_counter()
    results = await asyncio.gather(
        *(open_session(settings, context, uids[i % len(uids)], gate) for i in range(SESSIONS)),
        return_exceptions=True,
    )
    sessions = [r for r in results if isinstance(r, Session)]
    figures["sessions_opened"] = len(sessions)
    figures["sessions_failed"] = len(results) - len(sessions)
    figures["open_seconds"] = time.perf_counter() - start
    # Every session still answers while all are held.
    replies = await asyncio.gather(*(s.command("b", "NOOP") for s in sessions))
    figures["sessions_answering"] = sum(r.startswith(b"b OK") for r in replies)
    during = dovecot_memory(master)
    for key in ("processes", "rss_mib", "pss_mib"):
        figures[f"dovecot_{key}_before"] = before[key]
        figures[f"dovecot_{key}_held"] = during[key]
    figures["dovecot_pss_kib_per_session"] = (
        (during["pss_mib"] - before["pss_mib"]) * 1024 / max(len(sessions), 1)
    )
    # Mail clients spend their time in IDLE: after imap_hibernate_timeout Dovecot hands such
    # sessions to imap-hibernate and their mail processes end.
    await asyncio.gather(*(s.idle() for s in sessions))
    idle_since = time.perf_counter()
    while time.perf_counter() - idle_since < HIBERNATE_WAIT:
        if dovecot_memory(master)["processes"] < before["processes"] + len(sessions) // 10:
            break
        await asyncio.sleep(1)
    idle = dovecot_memory(master)
    for key in ("processes", "rss_mib", "pss_mib"):
        figures[f"dovecot_{key}_idle"] = idle[key]
    figures["dovecot_pss_kib_per_idle_session"] = (
        (idle["pss_mib"] - before["pss_mib"]) * 1024 / max(len(sessions), 1)
    )
    for s in sessions:
        s.writer.close()
    await asyncio.gather(*(s.writer.wait_closed() for s in sessions), return_exceptions=True)
    return figures


def session_figures() -> dict[str, float]:
    accounts = (SESSIONS + PER_ACCOUNT - 1) // PER_ACCOUNT
    with running_stack("bench-sessions") as settings:
        with Composition(settings) as root:
            service = root.accounts(ROOT)
            stored = hash_password(PASSWORD)
            for i in range(accounts):
                uid = f"held{i:04d}"
                service.directory.add(
                    service.tree.person(uid),
                    Account(
                        uid=uid, display_name="H", mail=f"{uid}@{settings.domain}", quota=1024**3
                    ).to_entry(stored),
                )
        master = Dovecot(control_context(settings)).pid()
        assert master is not None
        uids = [f"held{i:04d}" for i in range(accounts)]
        figures = asyncio.run(asyncio.wait_for(hold(settings, uids, master), DEADLINE))
        figures["sessions_max_setting"] = settings.sessions.max
    return figures


def main() -> None:
    figures = session_figures()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
