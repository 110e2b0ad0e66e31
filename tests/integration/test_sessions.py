"""Dovecot is sized for many concurrent sessions (settings sessions.max, sessions.per_user_ip):
more than the 100 a login process limit used to allow are held at once, and a client past the
configured limit is refused with an IMAP error, not a reset."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import pytest

from identity.accounts import Account
from identity.passwords import hash_password
from mailstack.keys.tls import tls_files
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests.support import running_stack, use_case

pytestmark = pytest.mark.integration
PASSWORD = "Many-Sessions-42"
PER_USER_IP = 3
HELD = 120  # above the 100 imap-login processes Dovecot's default allowed
TIMEOUT = 60


@pytest.fixture(scope="module")
def sessions_stack() -> Iterator[Settings]:
    with running_stack("sessions", **{"sessions.per_user_ip": PER_USER_IP}) as settings:
        # Entries written directly with one hash: the mailboxes are made at first login.
        stored = hash_password(PASSWORD)
        with use_case(AccountService, settings) as service:
            for i in range(HELD // PER_USER_IP):
                uid = f"many{i:02d}"
                account = Account(uid, "Many Sessions", f"{uid}@{settings.domain}", 1024**3)
                service.directory.add(service.tree.person(uid), account.to_entry(stored))
        yield settings


async def _session(
    settings: Settings, uid: str
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    context = ssl.create_default_context(cafile=str(tls_files(settings).ca_cert))
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.ports.imaps, ssl=context)
    await reader.readline()
    writer.write(f"a LOGIN {uid} {PASSWORD}\r\n".encode())
    await writer.drain()
    while True:
        line = await reader.readline()
        if not line or line.startswith(b"a "):
            return line, reader, writer


async def _close(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    # Transports must be closed before the loop ends (warnings are errors).
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


async def _noop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"b NOOP\r\n")
    await writer.drain()
    while True:
        line = await reader.readline()
        if not line or line.startswith(b"b "):
            return line


def test_more_than_a_hundred_sessions_are_held_at_once(sessions_stack: Settings) -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        uids = [f"many{i % (HELD // PER_USER_IP):02d}" for i in range(HELD)]
        gate = asyncio.Semaphore(20)

        async def one(uid: str) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
            async with gate:
                return await _session(sessions_stack, uid)

        opened = await asyncio.gather(*(one(uid) for uid in uids))
        logins = [reply for reply, _, _ in opened]
        noops = await asyncio.gather(*(_noop(r, w) for _, r, w in opened))
        await _close([writer for _, _, writer in opened])
        return logins, noops

    logins, noops = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert sum(reply.startswith(b"a OK") for reply in logins) == HELD, set(logins)
    assert sum(reply.startswith(b"b OK") for reply in noops) == HELD


def test_a_client_past_the_limit_gets_an_imap_error_not_a_reset(sessions_stack: Settings) -> None:
    async def scenario() -> tuple[list[bytes], bytes, bytes]:
        held = [await _session(sessions_stack, "many00") for _ in range(PER_USER_IP)]
        refused, reader, writer = await _session(sessions_stack, "many00")
        # Then Dovecot closes the connection in order (a reset would raise here).
        end = await reader.read()
        await _close([*(w for _, _, w in held), writer])
        return [reply for reply, _, _ in held], refused, end

    held, refused, end = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert all(reply.startswith(b"a OK") for reply in held), held
    assert refused.startswith(b"a NO "), refused
    assert b"mail_max_userip_connections=3" in refused
    assert end == b""
